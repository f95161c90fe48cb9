import GasTownTestKit

@testable import Beads

/// A ledger with a clock and a wall time that advances 1 s per write, for compact tests.
struct Harness {
    var ledger = Ledger(prefix: "t")
    var clock = HybridLogicalClock(node: "n1")
    var wall: Int64 = 1_767_225_600_000
    var actor = "tester"

    var time: Timestamp { Timestamp(unixMillis: wall) }
    var readyIDs: [String] { ledger.ready(now: Timestamp(unixMillis: wall)).map(\.id) }

    mutating func nextStamp() -> HLCStamp {
        wall += 1_000
        return (try? clock.tick(wallMillis: wall)) ?? .zero
    }

    mutating func create(
        _ title: String, deps: [DependencyKey] = [], parent: String? = nil, type: IssueType = .task, priority: Int = 2
    ) throws(LedgerError) -> String {
        var spec = NewBead(title: title)
        spec.dependencies = deps
        spec.parent = parent
        spec.issueType = type
        spec.priority = priority
        let stamp = nextStamp()
        let op = try ledger.prepareCreate(spec, actor: actor, stamp: stamp, time: time)
        try ledger.apply(op)
        return op.beadID!
    }

    mutating func run(_ change: LedgerChange) throws(LedgerError) {
        let stamp = nextStamp()
        try ledger.apply(LedgerOp(actor: actor, stamp: stamp, time: time, change: change))
    }

    mutating func run(_ op: LedgerOp) throws(LedgerError) { try ledger.apply(op) }
}

/// Seeded random ledger ops covering every kind of change (some invalid on purpose).
enum RandomOps {
    static let depTypes: [DependencyType] = [
        .blocks, .blocks, .parentChild, .parentChild, .conditionalBlocks, .waitsFor,
        .related, .discoveredFrom,
    ]
    static let statuses: [BeadStatus] = [.open, .open, .inProgress, .blocked, .deferred, .pinned, .hooked]

    static func op(
        rng: inout SplitMix64, ledger: Ledger, ids: [String], stamp: HLCStamp, time: Timestamp, step: Int
    ) -> LedgerOp {
        func pick() -> String { ids.isEmpty ? "t-none" : ids[Int(rng.next() % UInt64(ids.count))] }
        func make(_ c: LedgerChange) -> LedgerOp {
            LedgerOp(actor: "a\(rng.next() % 3)", stamp: stamp, time: time, change: c)
        }
        let roll = ids.count < 8 ? 0 : rng.next() % 20
        switch roll {
        case 0..<5:
            var spec = NewBead(title: "bead \(step)")
            spec.priority = Int(rng.next() % 5)
            spec.issueType = rng.next() % 10 == 0 ? .agent : .task
            let n = ids.isEmpty ? 0 : Int(rng.next() % 3)
            var keys: [DependencyKey] = []
            for _ in 0..<n {
                let k = DependencyKey(dependsOnID: pick(), type: depTypes[Int(rng.next() % UInt64(depTypes.count))])
                if !keys.contains(k) { keys.append(k) }
            }
            spec.dependencies = keys
            if rng.next() % 6 == 0 && !ids.isEmpty { spec.parent = pick() }
            if let op = try? ledger.prepareCreate(
                spec, actor: "gen", stamp: stamp, time: time,
                allowCycles: rng.next() % 4 == 0)
            {
                return op
            }
            return make(.create(Bead(id: "t-bad\(step)", title: "", createdAt: time), allowCycles: false))
        case 5..<7: return make(.close(id: pick(), reason: rng.next() % 2 == 0 ? "done" : "failed"))
        case 7: return make(.reopen(id: pick()))
        case 8: return make(.delete(id: pick(), reason: "random"))
        case 9..<11:
            let status = statuses[Int(rng.next() % UInt64(statuses.count))]
            return make(.update(id: pick(), fields: [.status(status)]))
        case 11..<14:
            let type = depTypes[Int(rng.next() % UInt64(depTypes.count))]
            var dep = Dependency(issueID: "", dependsOnID: pick(), type: type, createdAt: time, createdBy: "gen")
            if type == .waitsFor && rng.next() % 2 == 0 {
                dep.metadata = rng.next() % 2 == 0 ? "{\"gate\":\"any-children\"}" : "{\"spawner_id\":\"\(pick())\"}"
            }
            return make(.addDependency(id: pick(), dep, allowCycles: rng.next() % 3 == 0))
        case 14..<16:
            let id = pick()
            if let d = ledger.beads[id]?.dependencies.randomElement(using: &rng) {
                return make(.removeDependency(id: id, d.key))
            }
            return make(.removeDependency(id: id, DependencyKey(dependsOnID: pick(), type: .blocks)))
        case 16: return make(.labels(id: pick(), add: ["l\(rng.next() % 4)"], remove: ["l\(rng.next() % 4)"]))
        case 17:
            return make(
                .claim(id: pick(), assignee: "a\(rng.next() % 3)", node: "n\(rng.next() % 2)", expectedEpoch: nil))
        case 18:
            return make(
                .setMetadata(
                    id: pick(), key: "k\(rng.next() % 3)", value: rng.next() % 3 == 0 ? nil : .string("v\(step)")))
        default:
            return make(.update(id: pick(), fields: [.title("retitled \(step)"), .priority(Int(rng.next() % 5))]))
        }
    }
}
