@testable import Beads

/// An independent, straightforward implementation of DESIGN §3's blocked and ready rules, recomputed from
/// scratch over a plain array of beads (no indexes), used to check the ledger's incremental blocked set.
enum Reference {
    static let infrastructure: Set<String> = [
        "agent", "role", "rig", "convoy", "message", "merge-request", "gate",
        "molecule",
    ]

    static func blocked(_ beads: [Bead]) -> Set<String> {
        var byID: [String: Bead] = [:]
        for b in beads { byID[b.id] = b }
        func done(_ id: String) -> Bool {
            guard let b = byID[id] else { return true }
            return b.status == .closed || b.status == .tombstone
        }
        var result = Set<String>()
        for b in beads {
            for d in b.dependencies {
                switch d.type {
                case .blocks, .conditionalBlocks:
                    if byID[d.dependsOnID] != nil && !done(d.dependsOnID) { result.insert(b.id) }
                case .waitsFor:
                    var spawner = d.dependsOnID
                    var any = false
                    if let meta = try? JSONValue.parse(d.metadata) {
                        if let s = meta["spawner_id"]?.stringValue, !s.isEmpty { spawner = s }
                        any = meta["gate"]?.stringValue == "any-children"
                    }
                    let kids = beads.filter { k in
                        k.dependencies.contains { $0.type == .parentChild && $0.dependsOnID == spawner }
                    }
                    if any {
                        if !kids.contains(where: { done($0.id) }) { result.insert(b.id) }
                    } else if kids.contains(where: { !done($0.id) }) {
                        result.insert(b.id)
                    }
                default: break
                }
            }
        }
        var changed = true
        while changed {
            changed = false
            for b in beads where !result.contains(b.id) {
                if b.dependencies.contains(where: { $0.type == .parentChild && result.contains($0.dependsOnID) }) {
                    result.insert(b.id)
                    changed = true
                }
            }
        }
        return result
    }

    static func ready(_ beads: [Bead], now: Timestamp) -> Set<String> {
        let blockedSet = blocked(beads)
        var out = Set<String>()
        for b in beads {
            if b.status != .open || b.pinned || b.ephemeral { continue }
            if infrastructure.contains(b.issueType.rawValue) { continue }
            if let d = b.deferUntil, d.unixNanos > now.unixNanos { continue }
            if blockedSet.contains(b.id) { continue }
            out.insert(b.id)
        }
        return out
    }
}
