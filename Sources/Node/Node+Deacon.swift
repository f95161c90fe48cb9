import Foundation
import Health
import Town

extension Node {
    /// The Deacon's settings: `settings.deacon` with the node's restart backoff (`settings.supervisor`).
    var deaconSettings: DeaconSettings {
        var deacon = settings.deacon
        deacon.initialBackoff = settings.supervisor.initialBackoff
        deacon.backoffMultiplier = settings.supervisor.multiplier
        deacon.maxBackoff = settings.supervisor.maxBackoff
        deacon.resetAfter = settings.supervisor.resetAfter
        return deacon
    }

    /// Makes and starts a Deacon (generation `generation`) as the supervisor's policy.
    func startDeacon(_ context: NodeContext, generation: Int) async {
        let ledger = options.components.compactMap { $0 as? LedgerActor }.first?.ledger
        if deaconServices == nil {
            let town = DeaconTown(layout: TownLayout(root: context.town.root), ledger: ledger)
            deaconServices = (town, DeaconEscalations(town: town, log: context.log, events: context.events))
        }
        guard let (town, escalations) = deaconServices else { return }
        let deacon = NodeDeacon(
            settings: deaconSettings, generation: generation, tickInterval: settings.deaconTickInterval,
            dogs: DeaconDogs.standard(
                context: context, components: options.components, supervisor: supervisor, town: town),
            escalations: escalations, log: context.log, events: context.events)
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
