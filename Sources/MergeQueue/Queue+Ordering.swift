extension MergeQueue.Queue {
    /// A waiting request with what ranks it.
    struct Ranked {
        var id: MergeQueue.RequestID
        var band: Double
        var overlaps: Int
        var score: Double
        var enqueuedAt: MergeQueue.Instant

        static func precedes(_ a: Ranked, _ b: Ranked) -> Bool {
            if a.band != b.band { return a.band > b.band }
            if a.overlaps != b.overlaps { return a.overlaps < b.overlaps }
            if a.score != b.score { return a.score > b.score }
            if a.enqueuedAt != b.enqueuedAt { return a.enqueuedAt < b.enqueuedAt }
            return a.id < b.id
        }
    }

    /// The queued requests (blocked ones included), best first.
    func ranked() -> [Ranked] {
        let ordering = settings.ordering
        let counts = ordering.conflictBand > 0 ? overlapCounts() : [:]
        var list: [Ranked] = []
        for (id, entry) in entries {
            guard case .queued = entry.state else { continue }
            let score = ordering.score(entry.request, now: now)
            list.append(
                Ranked(
                    id: id, band: ordering.band(score), overlaps: counts[.request(id)] ?? 0, score: score,
                    enqueuedAt: entry.request.enqueuedAt))
        }
        return list.sorted(by: Ranked.precedes)
    }

    /// Up to `limit` queued requests in rank order whose blockers have landed, are in the train ahead, or were
    /// chosen before them.
    func select(limit: Int) -> [MergeQueue.RequestID] {
        guard limit > 0 else { return [] }
        var satisfied = landedBeads
        for segment in train {
            for car in segment.cars {
                if let bead = entries[car.request]?.request.bead { satisfied.insert(bead) }
            }
        }
        var chosen: [MergeQueue.RequestID] = []
        var waiting = ranked().compactMap { entries[$0.id]?.request }
        // Each time, the best-ranked request whose blockers are satisfied: taking one may free a better one.
        while chosen.count < limit, let i = waiting.firstIndex(where: { $0.blockedBy.isSubset(of: satisfied) }) {
            chosen.append(waiting[i].id)
            satisfied.insert(waiting[i].bead)
            waiting.remove(at: i)
        }
        return chosen
    }

    /// Unfinished requests and working branches, with their files.
    func workItems() -> [(MergeQueue.WorkItem, Set<String>)] {
        var items: [(MergeQueue.WorkItem, Set<String>)] = []
        for (id, entry) in entries where !entry.isFinished && !entry.request.files.isEmpty {
            items.append((.request(id), entry.request.files))
        }
        for branch in workingBranches where !branch.files.isEmpty {
            items.append((.branch(branch.name), branch.files))
        }
        return items
    }

    /// Every pair of work items sharing files, sorted.
    func computeOverlaps() -> [MergeQueue.Overlap] {
        var byFile: [String: [MergeQueue.WorkItem]] = [:]
        for (item, files) in workItems() {
            for file in files { byFile[file, default: []].append(item) }
        }
        var pairs: [PairKey: Set<String>] = [:]
        for (file, items) in byFile where items.count > 1 {
            let sorted = items.sorted()
            for a in 0..<sorted.count {
                for b in (a + 1)..<sorted.count where sorted[a] != sorted[b] {
                    pairs[PairKey(first: sorted[a], second: sorted[b]), default: []].insert(file)
                }
            }
        }
        return pairs.map { MergeQueue.Overlap(first: $0.key.first, second: $0.key.second, files: $0.value.sorted()) }
            .sorted { ($0.first, $0.second) < ($1.first, $1.second) }
    }

    /// For each work item, how many others it overlaps.
    func overlapCounts() -> [MergeQueue.WorkItem: Int] {
        var counts: [MergeQueue.WorkItem: Int] = [:]
        for overlap in computeOverlaps() {
            counts[overlap.first, default: 0] += 1
            counts[overlap.second, default: 0] += 1
        }
        return counts
    }

    struct PairKey: Hashable {
        var first: MergeQueue.WorkItem
        var second: MergeQueue.WorkItem
    }
}
