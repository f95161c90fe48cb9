import Beads

/// SplitMix64: a small seeded random number generator for reproducible fixtures and property tests.
/// `Sendable`: plain value.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generated ledgers shaped like beads' own (its v0.40.0 ledger: mostly closed and tombstoned beads, a few
/// open ones, epics with parent-child children, blocks chains between siblings).
/// `Sendable`: stateless namespace.
public enum BeadsFixtures {
    /// The fixed "now" of generated ledgers: 2026-01-01T00:00:00Z.
    public static let now = Timestamp(unixMillis: 1_767_225_600_000)

    /// A seeded ledger of `count` beads: about 2 % open, 3 % in progress, 1 % deferred, 60 % closed,
    /// 34 % tombstones; every 10th bead an epic whose next 9 beads are its parent-child children, each child
    /// blocked by its previous sibling; some cross-epic blocks edges; labels on 5 %; created over the year
    /// before `now`.
    public static func ledger(count: Int = 10_000, seed: UInt64 = 42, prefix: String = "bd") -> Ledger {
        var rng = SplitMix64(seed: seed)
        var beads: [Bead] = []
        beads.reserveCapacity(count)
        var taken = Set<String>()
        let yearMillis: Int64 = 365 * 24 * 3600 * 1000
        let start = now.unixMillis - yearMillis
        var epic = ""
        for i in 0..<count {
            let created = Timestamp(unixMillis: start + yearMillis * Int64(i) / Int64(max(count, 1)))
            let title = "Generated bead \(i)"
            let id =
                (try? BeadID.mint(
                    prefix: prefix, title: title, description: "", creator: "gen", createdAt: created,
                    existingCount: i, isTaken: { taken.contains($0) })) ?? "\(prefix)-gen\(i)"
            taken.insert(id)
            var b = Bead(id: id, title: title, createdAt: created, updatedAt: created)
            b.description = "Seeded fixture bead number \(i)."
            b.createdBy = "gen"
            b.priority = Int(rng.next() % 5)
            let roll = rng.next() % 100
            switch roll {
            case 0..<2: b.status = .open
            case 2..<5: b.status = .inProgress
            case 5..<6: b.status = .deferred
            case 6..<66:
                b.status = .closed
                b.closedAt = Timestamp(unixMillis: created.unixMillis + 3_600_000)
                b.closeReason = "Done"
            default:
                b.status = .tombstone
                b.deletedAt = Timestamp(unixMillis: created.unixMillis + 7_200_000)
                b.deletedBy = "batch delete"
                b.deleteReason = "cleanup"
                b.originalType = "task"
            }
            if i % 10 == 0 {
                b.issueType = .epic
                epic = id
            } else {
                b.issueType = rng.next() % 4 == 0 ? .bug : .task
                b.dependencies.append(
                    Dependency(
                        issueID: id, dependsOnID: epic, type: .parentChild, createdAt: created, createdBy: "gen",
                        metadata: "{}"))
                if i % 10 > 1 {
                    b.dependencies.append(
                        Dependency(
                            issueID: id, dependsOnID: beads[i - 1].id, type: .blocks, createdAt: created,
                            createdBy: "gen", metadata: "{}"))
                }
            }
            if i > 100 && rng.next() % 50 == 0 {
                let target = beads[Int(rng.next() % UInt64(i - 20))].id
                b.dependencies.append(
                    Dependency(issueID: id, dependsOnID: target, type: .blocks, createdAt: created, createdBy: "gen"))
            }
            if rng.next() % 20 == 0 { b.labels = ["area-\(rng.next() % 7)"] }
            if b.status == .tombstone { b.originalType = b.issueType.rawValue }
            beads.append(b)
        }
        let stamp = HLCStamp(wallMillis: now.unixMillis, counter: 0, node: "gen")
        do {
            return try Ledger(prefix: prefix, beads: beads, defaultStamp: stamp)
        } catch {
            preconditionFailure("generated fixture has duplicate IDs: \(error)")
        }
    }
}
