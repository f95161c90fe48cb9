import Foundation
import Town

extension Mayor {
    /// The `ConvoySlinger` of a node (`gt convoy launch` run inside it, and its convoy patrol's next waves): when the
    /// node's Mayor runs in a cluster of more than one member, each bead is placed through it (`place`: whichever
    /// node has the rig and room, refusals trying the next, queued when nobody has room), so a convoy's work
    /// spreads over the cluster; otherwise `gt sling` on this node. A bead this slinger handed to the Mayor in the
    /// last `memory` is not placed again (the placing node's ledger learns the other node's claim only at its next
    /// sync): it is reported as waiting with the Mayor (nil). A queued bead is nil too: the Mayor slings it when a
    /// node has room; so is a refusal because someone holds the bead now (placed meanwhile by the Mayor's queue or
    /// failover, or a claim that reached the ledger after the wave was planned). A refusal is a failed sling (`TownError.refusedByNode`). One memory per town in a process (the
    /// patrol and `gt convoy launch` share it).
    public static func convoySlinger(town root: String) -> ConvoySlinger {
        let key = URL(fileURLWithPath: root).standardizedFileURL.path
        let recent = RecentPlacements.of(key)
        return { workflow, bead, rig, runtime throws(TownError) in
            guard let mayor = Mayor.running(town: root), await mayor.inCluster() else {
                return try await workflow.sling(bead: bead, rig: rig, runtime: runtime)
            }
            // Marked before placing: the launch and the patrol's wave may reach the same bead at once.
            guard recent.insertIfAbsent(bead) else { return nil }
            if await mayor.inFlight.contains(bead) { return nil }
            let placement: MayorPlacement
            do throws(Mayor.Refusal) {
                placement = try await mayor.place(bead: bead, rig: rig, runtime: runtime, require: [:], node: nil)
            } catch {
                // Another placement of it (the Mayor's queue) is under way: not a failure of this one.
                if error.message.hasSuffix("is being placed already") { return nil }
                // Someone holds it now (the Mayor's queue or failover placed it, or a node's claim reached this
                // ledger since the wave was planned): it is in flight, not a failed sling.
                if error.message.contains("is already hooked by") || error.message.contains(" is held by ") {
                    return nil
                }
                if let database = await mayor.database(), let now = Mayor.bead(bead, in: database),
                    !now.assignee.isEmpty
                {
                    return nil
                }
                recent.remove(bead)
                throw .refusedByNode(error.message)
            }
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

    /// Marks `bead` now; false when it was marked within `memory` already.
    func insertIfAbsent(_ bead: String) -> Bool {
        lock.withLock {
            let now = ContinuousClock.now
            placed = placed.filter { now - $0.value < memory }
            if placed[bead] != nil { return false }
            placed[bead] = now
            return true
        }
    }

    func remove(_ bead: String) { _ = lock.withLock { placed.removeValue(forKey: bead) } }
}
