import Foundation
import Health
import Town

extension Node {
    /// The Deacon's settings: `settings.deacon` and `settings.dogs` overridden by `<town>/settings/deacon.json`
    /// (an unusable file is a logged warning and a `gt status` warning; the node keeps the defaults), with the
    /// node's restart backoff (`settings.supervisor`).
    func deaconSettings(_ context: NodeContext) -> (DeaconSettings, DogSettings) {
        var (deacon, dogs) = (settings.deacon, settings.dogs)
        do throws(TownError) {
            (deacon, dogs) = try DeaconSettingsFile.load(
                TownLayout(root: context.town.root), deacon: deacon, dogs: dogs)
        } catch {
            context.log.warning("Deacon settings unusable; using the defaults", ["error": error.description])
            context.warnings.set("deacon-settings", "settings/deacon.json is unusable: \(error.description)")
        }
        deacon.initialBackoff = settings.supervisor.initialBackoff
        deacon.backoffMultiplier = settings.supervisor.multiplier
        deacon.maxBackoff = settings.supervisor.maxBackoff
        deacon.resetAfter = settings.supervisor.resetAfter
        return (deacon, dogs)
    }

    /// Makes and starts a Deacon (generation `generation`) as the supervisor's policy.
    func startDeacon(_ context: NodeContext, generation: Int) async {
        let ledger = options.components.compactMap { $0 as? LedgerActor }.first?.ledger
        if deaconServices == nil {
            let town = DeaconTown(layout: TownLayout(root: context.town.root), ledger: ledger)
            let (deacon, dogs) = deaconSettings(context)
            deaconServices = DeaconServices(
                town: town, escalations: DeaconEscalations(town: town, log: context.log, events: context.events),
                settings: deacon, dogs: dogs)
        }
        guard let services = deaconServices else { return }
        let deacon = NodeDeacon(
            settings: services.settings, generation: generation, tickInterval: settings.deaconTickInterval,
            dogs: DeaconDogs.standard(
                context: context, settings: services.dogs, components: options.components, supervisor: supervisor,
                town: services.town,
                renewCertificate: { [weak self] in try await self?.renewalDog() ?? "" }),
            escalations: services.escalations, log: context.log, events: context.events)
        self.deacon = deacon
        await supervisor.setPolicy(deacon)
        await deacon.start()
    }

    /// The Node's watch of the Deacon: every `deaconWatchInterval`, a Deacon the core calls stale (no beat for
    /// `stale_after`) is cancelled and replaced by a new one (its failure streaks start again), logged and
    /// recorded as `deacon_restarted`. The beat is read without awaiting the Deacon, so a wedged one cannot wedge
    /// this loop: the chain Node → Deacon → components has no unwatched link.
    func watchDeacon() async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(max(0.01, settings.deaconWatchInterval) * 1e9))
            guard !Task.isCancelled, phase == .serving, let context, let current = deacon, current.isStale() else {
                continue
            }
            let age = MonotonicClock().now() - current.lastBeat
            current.cancel()
            let generation = current.generation + 1
            context.log.error(
                "the Deacon stopped beating; restarting it",
                ["last_beat_seconds_ago": String(format: "%.1f", age), "generation": "\(generation)"])
            context.events.record(
                "deacon_restarted",
                ["last_beat_seconds_ago": String(format: "%.1f", age), "generation": "\(generation)"])
            await startDeacon(context, generation: generation)
        }
    }

    /// The node's current Deacon (nil before start).
    public var currentDeacon: NodeDeacon? { deacon }
}

/// What outlives a Deacon restarted by the Node: the town services, the escalations (their dedup book) and the
/// settings read at start. `Sendable`: actors and plain values.
struct DeaconServices: Sendable {
    let town: DeaconTown
    let escalations: DeaconEscalations
    let settings: DeaconSettings
    let dogs: DogSettings
}
