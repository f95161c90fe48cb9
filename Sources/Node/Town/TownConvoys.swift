import Foundation
import LedgerStore
import Scheduling
import Town

/// The node's convoy patrol (DESIGN §6): every `poll_seconds` it lands each open convoy whose tracked beads are all
/// closed with their merge requests merged (through the landing claim, so when several nodes see it complete at
/// once exactly one lands it: `TownWorkflow.landConvoy`), and slings the next wave of every launched convoy as its
/// blockers close (`TownWorkflow.continueLaunchedConvoys`, through `slinger`). The landing claim goes through the
/// node's ledger sync loop's engine when the town's ledger has a remote.
///
/// A landing claim another node holds on a complete convoy that stays unchanged for `landing_grace_seconds` (that
/// node died between its claim and its landing write) is taken over at the next epoch.
///
/// Timing from `town.json` `convoy` {`poll_seconds`, `landing_grace_seconds`} (defaults 5, 180). `Sendable`: an
/// actor.
public actor TownConvoys: NodeComponent {
    public nonisolated let name = "convoys"
    let ledger: NodeLedgerHandle?
    var slinger: ConvoySlinger
    let slingerGiven: Bool
    var workflow: TownWorkflow?
    var log: NodeLogger?
    var poll: Duration = .seconds(5)
    /// How long another node's landing claim may stay unchanged on a complete convoy before this node takes it
    /// over (`Scheduling.Takeover`, on this node's monotonic clock). Default 180 s.
    var grace: Duration = .seconds(180)
    /// Landing claims of other nodes seen on complete convoys: (node, epoch) and when first seen so (monotonic ns).
    var stale: [String: (node: String, epoch: Int, since: Int64)] = [:]
    let origin = ContinuousClock.now
    /// Convoys this node landed (for status and tests).
    public private(set) var landed: [String] = []

    /// The patrol, using the store the node's `LedgerActor` holds; `slinger` hands out launched convoys' beads
    /// (default: `Mayor.convoySlinger`, through the node's Mayor when it runs in a cluster, else `gt sling` on this
    /// node).
    public init(ledger: NodeLedgerHandle? = nil, slinger: ConvoySlinger? = nil) {
        self.ledger = ledger
        self.slinger = slinger ?? TownWorkflow.slingHere
        slingerGiven = slinger != nil
    }

    public func start(in context: NodeContext) async throws {
        log = context.log
        if !slingerGiven { slinger = Mayor.convoySlinger(town: context.town.root) }
        workflow = try await TownWorkflow.forComponent(context, actor: "mayor/", ledger: ledger)
        if let seconds = context.townFile.convoy.poll { poll = seconds }
        if let seconds = context.townFile.convoy.landingGrace { grace = seconds }
    }

    public func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: poll)
            do { try await patrol() } catch { log?.warning("convoy patrol failed", ["error": "\(error)"]) }
        }
        throw CancellationError()
    }

    public func stop() async {}

    func now() -> Int64 {
        let c = (ContinuousClock.now - origin).components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }

    /// One round: land what is complete, then sling the next waves.
    public func patrol() async throws {
        guard let workflow else { return }
        let store = workflow.layout.beadsDirectory
        let layout = StoreLayout(beadsDirectory: store)
        var engine: LedgerSync?
        if !SyncConfig.remotes(layout).isEmpty {
            engine = await LedgerSyncComponent.running(store: store)?.engine()
            // The loop is not up yet: land at a later round rather than around the remote.
            if engine == nil { return }
        }
        let log = self.log
        let now = self.now()
        var settings = Takeover.Settings()
        settings.grace = grace
        let due = Set(
            stale.filter { _, seen in
                let lease = Lease(holder: "convoy-lander", node: seen.node, epoch: seen.epoch)
                return Takeover.decide(
                    lease: lease, liveness: .unknown, firstSeenUnknown: seen.since, now: now,
                    settings: settings) == .takeOver
            }.keys)
        let results = try await workflow.landCompleteConvoys(engine: engine, takeOver: { due.contains($0) }) {
            id, error in
            log?.warning("convoy landing failed", ["convoy": id, "error": error.description])
        }
        var seen: [String: (node: String, epoch: Int, since: Int64)] = [:]
        for result in results where result.outcome == .landedElsewhere {
            let previous = stale[result.convoy]
            let unchanged = previous.map { $0.node == result.node && $0.epoch == result.epoch } ?? false
            seen[result.convoy] = (result.node, result.epoch, unchanged ? previous!.since : now)
        }
        stale = seen
        for result in results where due.contains(result.convoy) && result.outcome == .landed {
            log?.info("convoy landing taken over", ["convoy": result.convoy, "epoch": "\(result.epoch)"])
        }
        for result in results where result.outcome == .landed {
            landed.append(result.convoy)
            log?.info(
                "convoy landed",
                [
                    "convoy": result.convoy, "name": result.name, "epoch": "\(result.epoch)",
                    "mailed": result.mailed.joined(separator: ","),
                ])
        }
        let waves = try await workflow.continueLaunchedConvoys(slinger: slinger) { id, error in
            log?.warning("convoy wave failed", ["convoy": id, "error": error.description])
        }
        for wave in waves {
            if !wave.slung.isEmpty || !wave.failed.isEmpty || !wave.setAside.isEmpty {
                log?.info(
                    "convoy wave",
                    [
                        "convoy": wave.convoy, "slung": wave.slung.map(\.bead).joined(separator: ","),
                        "failed": wave.failed.map(\.bead).joined(separator: ","),
                        "set_aside": wave.setAside.map(\.id).joined(separator: ","),
                    ])
            }
        }
    }
}
