/// Capability routing (docs/scheduling.md): the record of the polecats of a node with a runtime, for the labels of
/// a bead, moves the nodes with the better record for that kind of work ahead of those with more free slots —
/// only when the difference is meaningful; capacity orders the rest as before. Pure: no clock, no I/O.
extension Placement {
    /// What a node's polecats did with beads of one label on one runtime (summed over its polecats' CVs).
    /// `Sendable`: a plain value.
    public struct Record: Sendable, Hashable {
        /// Merge requests merged.
        public var merges: Int
        /// Assignments given up (the session kept dying).
        public var failures: Int
        /// Merge requests sent back (the gate failed, or a conflict).
        public var rework: Int

        public init(merges: Int = 0, failures: Int = 0, rework: Int = 0) {
            self.merges = merges
            self.failures = failures
            self.rework = rework
        }

        public static func + (a: Record, b: Record) -> Record {
            Record(merges: a.merges + b.merges, failures: a.failures + b.failures, rework: a.rework + b.rework)
        }

        /// Outcomes counted.
        public var total: Int { merges + failures + rework }

        /// The smoothed success rate (merges + 1) / (outcomes + 2): ½ with no record (a neutral prior), rising
        /// towards 1 with merges and falling towards 0 with failures and rework, one outcome moving it little.
        public var score: Double { Double(merges + 1) / Double(total + 2) }
    }

    /// A record's key: the bead label and the runtime's name. `Sendable`: a plain value.
    public struct RecordKey: Sendable, Hashable {
        public var label: String
        public var runtime: String
        public init(label: String, runtime: String) {
            self.label = label
            self.runtime = runtime
        }
    }

    /// How far apart two scores must be before the better record goes ahead of more free slots: 0.2, so one
    /// outcome alone (⅔ or ⅓ against the prior's ½) does not, two merges (¾) do, as does one merge against one
    /// failure (⅔ against ⅓).
    public static let meaningfulDifference = 0.2

    /// The labels of a bead that name a kind of work: every label except Gas Town's own (`gt:…`, and `*`, the CV's
    /// any-work label), sorted, once.
    public static func skillLabels(_ labels: [String]) -> [String] {
        Array(Set(labels.filter { !$0.isEmpty && $0 != "*" && !$0.hasPrefix("gt:") })).sorted()
    }

    /// The record of `candidate` for beads with `labels` on `runtime` (nil: every runtime), summed over the labels.
    public static func record(of candidate: Candidate, labels: [String], runtime: String?) -> Record {
        let wanted = Set(labels)
        var sum = Record()
        for (key, record) in candidate.records where wanted.contains(key.label) {
            if let runtime, key.runtime != runtime { continue }
            sum = sum + record
        }
        return sum
    }

    /// Orders `ranked` (already in capacity order) by record for `labels`: the candidates are cut into groups,
    /// best score first, each group holding the candidates whose score is within `meaningfulDifference` of the
    /// group's best; within a group capacity order is kept. Returns the order and the size of the first group
    /// (the placer's random pick stays inside it). No labels: the order unchanged, every candidate a leader.
    static func byRecord(
        _ ranked: [Candidate], labels: [String], runtime: String?
    ) -> (order: [Candidate], leaders: Int) {
        guard !labels.isEmpty, ranked.count > 1 else { return (ranked, ranked.count) }
        let scored = ranked.enumerated().map {
            (index: $0.offset, score: record(of: $0.element, labels: labels, runtime: runtime).score)
        }
        // Best score first, capacity order (the index) among equal scores: a total order, so deterministic.
        let byScore = scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        var groups: [[Int]] = []
        var top = 0.0
        for entry in byScore {
            if let last = groups.indices.last, top - entry.score < meaningfulDifference - 1e-9 {
                groups[last].append(entry.index)
            } else {
                groups.append([entry.index])
                top = entry.score
            }
        }
        let order = groups.flatMap { $0.sorted() }.map { ranked[$0] }
        return (order, groups.first?.count ?? 0)
    }
}
