import Foundation
import Town

extension Mayor {
    /// The `ConvoySlinger` of a node (`gt convoy launch` run inside it, and its convoy patrol's next waves): when the
    /// node's Mayor runs in a cluster of more than one member, each bead is placed through it (`place`: whichever
    /// node has the rig and room, refusals trying the next, queued when nobody has room), so a convoy's work
    /// spreads over the cluster; otherwise `gt sling` on this node. A bead this slinger handed to the Mayor in the
    /// last `memory` is not placed again (the placing node's ledger learns the other node's claim only at its next
    /// sync): it is reported as waiting with the Mayor (nil). A queued bead is nil too: the Mayor slings it when a
    /// node has room. A refusal is a failed sling (`TownError.refusedByNode`). One memory per town in a process (the
    /// patrol and `gt convoy launch` share it).
    public static func convoySlinger(town root: String) -> ConvoySlinger {
        let key = URL(fileURLWithPath: root).standardizedFileURL.path
        let recent = RecentPlacements.of(key)
        return { workflow, bead, rig, runtime throws(TownError) in
            guard let mayor = Mayor.running(town: root), await mayor.inCluster() else {
                return try await workflow.sling(bead: bead, rig: rig, runtime: runtime)
            }
            if recent.contains(bead) { return nil }
            let placement: MayorPlacement
            do throws(Mayor.Refusal) {
                placement = try await mayor.place(bead: bead, rig: rig, runtime: runtime, require: [:], node: nil)
            } catch {
                throw .refusedByNode(error.message)
            }
            recent.insert(bead)
            guard placement.admitted else { return nil }
            return SlingResult(
                bead: placement.bead, rig: placement.rig, polecat: placement.polecat, epoch: placement.epoch,
                branch: placement.branch, worktree: "", session: placement.session, runtime: placement.runtime,
                takenFrom: nil, node: placement.node)
        }
    }
}

/// Beads handed to the Mayor recently, on the monotonic clock. `@unchecked Sendable`: state guarded by `lock`.
final class RecentPlacements: @unchecked Sendable {
    let memory: Duration
    private let lock = NSLock()
    private var placed: [String: ContinuousClock.Instant] = [:]

    init(memory: Duration) { self.memory = memory }

    nonisolated(unsafe) private static var byTown: [String: RecentPlacements] = [:]
    private static let townsLock = NSLock()

    /// The one memory of the town at `key` in this process (60 s).
    static func of(_ key: String) -> RecentPlacements {
        townsLock.withLock {
            if let found = byTown[key] { return found }
            let made = RecentPlacements(memory: .seconds(60))
            byTown[key] = made
            return made
        }
    }

    func contains(_ bead: String) -> Bool {
        lock.withLock {
            let now = ContinuousClock.now
            placed = placed.filter { now - $0.value < memory }
            return placed[bead] != nil
        }
    }

    func insert(_ bead: String) { lock.withLock { placed[bead] = ContinuousClock.now } }
}
