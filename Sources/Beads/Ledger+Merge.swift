/// A claim this replica held that the merge gave to someone else. `Sendable`: plain value.
public struct LostClaim: Sendable, Hashable {
    public var id: String
    public var localAssignee: String
    public var localNode: String
    public var localEpoch: Int
    public var winnerAssignee: String
    public var winnerNode: String
    public var winnerEpoch: Int
}

/// What a merge did besides combining values. `Sendable`: plain value.
public struct MergeReport: Sendable, Hashable {
    /// Local claims that lost (DESIGN §3: higher epoch wins; at equal epochs the remote side wins).
    public var lostClaims: [LostClaim] = []
    /// Beads re-IDed because both sides held one ID for two different beads: (old ID, new ID).
    public var reIDs: [(old: String, new: String)] = []

    public static func == (a: MergeReport, b: MergeReport) -> Bool {
        a.lostClaims == b.lostClaims && a.reIDs.map { [$0.old, $0.new] } == b.reIDs.map { [$0.old, $0.new] }
    }
    public func hash(into h: inout Hasher) {
        h.combine(lostClaims)
        for r in reIDs {
            h.combine(r.old)
            h.combine(r.new)
        }
    }
}

extension Ledger {
    /// State-based merge of `remote` into this ledger (DESIGN §3), needing no merge base: field groups are
    /// last-writer-wins registers by stamp; labels, dependencies, comments and metadata keys are
    /// last-writer-wins element sets; deletes are stamped. The claim group merges by lease epoch; at equal
    /// epochs the remote side wins when `remoteWinsClaimTies` (its claim landed first) and the local claim is
    /// reported lost; with `remoteWinsClaimTies == false` the merge is fully symmetric (commutative,
    /// associative, idempotent). Two beads sharing an ID but not their creation (created_at, created_by) are
    /// both kept: the one that landed first (the remote one; in symmetric mode the older create stamp) keeps
    /// the ID and the other is re-IDed, with an alias from the old ID recorded and its local edges rewritten.
    @discardableResult
    public mutating func merge(_ remoteInput: Ledger, remoteWinsClaimTies: Bool = true) -> MergeReport {
        var report = MergeReport()
        var local = self
        var remote = remoteInput
        // 1. ID collisions: different beads under one ID.
        for id in local.beads.keys.sorted() {
            guard let l = local.beads[id], let r = remote.beads[id], !Ledger.sameCreation(l, r) else { continue }
            let ls = local.stamps[id]?.created ?? .zero
            let rs = remote.stamps[id]?.created ?? .zero
            let localLoses = remoteWinsClaimTies || (rs, Ledger.fingerprint(r)) < (ls, Ledger.fingerprint(l))
            if localLoses {
                let newID = Ledger.reID(l, avoiding: { local.beads[$0] != nil || remote.beads[$0] != nil })
                local.rename(id, to: newID)
                report.reIDs.append((id, newID))
            } else {
                let newID = Ledger.reID(r, avoiding: { local.beads[$0] != nil || remote.beads[$0] != nil })
                remote.rename(id, to: newID)
                report.reIDs.append((id, newID))
            }
        }
        // 2. Per-bead merge.
        var beadsOut = local.beads
        var stampsOut = local.stamps
        for (id, r) in remote.beads {
            let rs = remote.stamps[id] ?? BeadStamps(id: id, created: .zero)
            guard let l = local.beads[id] else {
                beadsOut[id] = r
                stampsOut[id] = rs
                continue
            }
            let ls = local.stamps[id] ?? BeadStamps(id: id, created: .zero)
            if l == r && ls == rs { continue }
            let (bead, stamps, lost) = Ledger.mergeBead(l, ls, r, rs, remoteWinsClaimTies: remoteWinsClaimTies)
            beadsOut[id] = bead
            stampsOut[id] = stamps
            if let lost { report.lostClaims.append(lost) }
        }
        beads = beadsOut
        stamps = stampsOut
        rebuildIndexes()
        report.lostClaims.sort { $0.id < $1.id }
        return report
    }

    /// The merge of two ledgers as a new value (see `merge(_:remoteWinsClaimTies:)`).
    public func merging(_ remote: Ledger, remoteWinsClaimTies: Bool = true) -> (Ledger, MergeReport) {
        var copy = self
        let report = copy.merge(remote, remoteWinsClaimTies: remoteWinsClaimTies)
        return (copy, report)
    }

    static func sameCreation(_ a: Bead, _ b: Bead) -> Bool {
        a.createdAt.isSameInstant(as: b.createdAt) && a.createdBy == b.createdBy
    }

    static func fingerprint(_ b: Bead) -> String { BeadCodec.encodeLine(b) }

    /// A deterministic new ID for a bead that lost its ID in a collision.
    static func reID(_ bead: Bead, avoiding taken: (String) -> Bool) -> String {
        let prefix = BeadID.prefix(of: bead.id) ?? "x"
        for nonce in 0..<1_000 {
            let id = BeadID.hashID(
                prefix: prefix, title: bead.id + "|" + bead.title, description: bead.createdAt.text,
                creator: bead.createdBy, createdAtUnixNanos: bead.createdAt.unixNanos, length: 8, nonce: nonce)
            if !taken(id) { return id }
        }
        return bead.id + "-re"
    }

    /// Renames bead `old` to `new` inside this ledger, rewriting edges that point at it.
    mutating func rename(_ old: String, to new: String) {
        guard var bead = beads.removeValue(forKey: old) else { return }
        bead.id = new
        for i in bead.dependencies.indices { bead.dependencies[i].issueID = new }
        for i in bead.comments.indices { bead.comments[i].issueID = new }
        beads[new] = bead
        var moved = stamps.removeValue(forKey: old) ?? BeadStamps(id: old, created: .zero)
        moved.id = new
        if !moved.aliases.contains(old) { moved.aliases = (moved.aliases + [old]).sorted() }
        stamps[new] = moved
        for (id, var b) in beads where b.dependencies.contains(where: { $0.dependsOnID == old }) {
            var s = stamps[id] ?? BeadStamps(id: id, created: .zero)
            for i in b.dependencies.indices where b.dependencies[i].dependsOnID == old {
                let oldKey = b.dependencies[i].key.text
                b.dependencies[i].dependsOnID = new
                if let e = s.dependencies.removeValue(forKey: oldKey) { s.dependencies[b.dependencies[i].key.text] = e }
            }
            beads[id] = b
            stamps[id] = s
        }
    }

    static func mergeBead(
        _ l: Bead, _ ls: BeadStamps, _ r: Bead, _ rs: BeadStamps, remoteWinsClaimTies: Bool
    ) -> (Bead, BeadStamps, LostClaim?) {
        var out = l
        var s = BeadStamps(id: l.id, created: min(ls.created, rs.created))
        var lost: LostClaim?
        for group in FieldGroup.allCases {
            let lStamp = ls.stamp(of: group)
            let rStamp = rs.stamp(of: group)
            var takeRemote: Bool
            if group == .claim && l.leaseEpoch != r.leaseEpoch {
                takeRemote = r.leaseEpoch > l.leaseEpoch
            } else if group == .claim && remoteWinsClaimTies && Ledger.rivalClaims(l, r) {
                // Two claims of one epoch by different holders: the one already on the remote landed first.
                // (A release or re-assignment by the same holder at that epoch is ordered by its stamp below.)
                takeRemote = true
            } else if lStamp != rStamp {
                takeRemote = rStamp > lStamp
            } else {
                takeRemote = !l.sameValues(in: group, as: r) && groupFingerprint(r, group) > groupFingerprint(l, group)
            }
            if group == .claim, takeRemote, !l.assignee.isEmpty, !r.assignee.isEmpty,
                l.assignee != r.assignee || l.claimNode != r.claimNode
            {
                lost = LostClaim(
                    id: l.id, localAssignee: l.assignee, localNode: l.claimNode, localEpoch: l.leaseEpoch,
                    winnerAssignee: r.assignee, winnerNode: r.claimNode, winnerEpoch: r.leaseEpoch)
            }
            if takeRemote { out.copyValues(of: group, from: r) }
            let winner = takeRemote ? rStamp : lStamp
            if winner != s.created { s.fields[group] = winner }
        }
        // Element sets.
        s.labels = mergeElements(ls.labels, rs.labels)
        s.dependencies = mergeElements(ls.dependencies, rs.dependencies)
        s.comments = mergeElements(ls.comments, rs.comments)
        out.labels = Array(Set(l.labels + r.labels)).filter { s.labels[$0]?.isPresent ?? true }.sorted()
        var deps: [String: Dependency] = [:]
        for d in l.dependencies + r.dependencies {
            let key = d.key.text
            guard s.dependencies[key]?.isPresent ?? true else { continue }
            if let existing = deps[key], fingerprint(existing) >= fingerprint(d) { continue }
            deps[key] = d
        }
        out.dependencies = deps.keys.sorted().map { deps[$0]! }
        var comments: [String: Comment] = [:]
        for c in l.comments + r.comments where s.comments[c.key]?.isPresent ?? true {
            if let existing = comments[c.key], BeadCodec.encode(existing).compactText >= BeadCodec.encode(c).compactText
            {
                continue
            }
            comments[c.key] = c
        }
        out.comments = comments.values.sorted { ($0.createdAt, $0.key) < ($1.createdAt, $1.key) }
        out.labels = keptOrder(out.labels, l.labels, r.labels)
        out.dependencies = keptOrder(out.dependencies, l.dependencies, r.dependencies)
        out.comments = keptOrder(out.comments, l.comments, r.comments)
        // Metadata keys.
        var metadata: [JSONMember] = []
        for key in Set(l.metadata.map(\.key) + r.metadata.map(\.key) + ls.metadata.keys + rs.metadata.keys).sorted() {
            let lStamp = ls.metadata[key] ?? ls.created
            let rStamp = rs.metadata[key] ?? rs.created
            let value: JSONValue?
            if lStamp != rStamp {
                value = rStamp > lStamp ? r.metadataValue(key) : l.metadataValue(key)
            } else {
                let lv = l.metadataValue(key)
                let rv = r.metadataValue(key)
                value = (lv?.compactText ?? "") >= (rv?.compactText ?? "") ? lv : rv
            }
            let stamp = max(lStamp, rStamp)
            if ls.metadata[key] != nil || rs.metadata[key] != nil { s.metadata[key] = stamp }
            if let value { metadata.append(JSONMember(key, value)) }
        }
        out.metadata = metadata
        s.deleted = ElementStamps.max(ls.deleted, rs.deleted)
        s.aliases = Array(Set(ls.aliases + rs.aliases)).sorted()
        out.updatedAt =
            (l.updatedAt.unixSeconds, l.updatedAt.nanosecond, l.updatedAt.text)
                >= (r.updatedAt.unixSeconds, r.updatedAt.nanosecond, r.updatedAt.text) ? l.updatedAt : r.updatedAt
        if l == r { out = l }
        return (out, s, lost)
    }

    /// A merged set keeps the order one side wrote it in when it holds exactly that side's elements (so a bead
    /// imported with unsorted dependencies and edited elsewhere merges back to the same line); when it matches
    /// both sides in different orders, or neither, it stays sorted. Symmetric in `a` and `b`.
    static func keptOrder<T: Hashable>(_ merged: [T], _ a: [T], _ b: [T]) -> [T] {
        if a == b { return Set(merged) == Set(a) && merged.count == a.count ? a : merged }
        let set = Set(merged)
        let matchesA = set == Set(a) && merged.count == a.count
        let matchesB = set == Set(b) && merged.count == b.count
        if matchesA && !matchesB { return a }
        if matchesB && !matchesA { return b }
        return merged
    }

    /// Both sides hold the bead, at the same lease epoch, for different holders.
    static func rivalClaims(_ l: Bead, _ r: Bead) -> Bool {
        l.leaseEpoch == r.leaseEpoch && !l.assignee.isEmpty && !r.assignee.isEmpty
            && (l.assignee != r.assignee || l.claimNode != r.claimNode)
    }

    static func mergeElements(_ a: [String: ElementStamps], _ b: [String: ElementStamps]) -> [String: ElementStamps] {
        var out = a
        for (k, v) in b { out[k] = out[k].map { $0.merged(with: v) } ?? v }
        return out
    }

    static func fingerprint(_ d: Dependency) -> String { BeadCodec.encode(d).compactText }

    static func groupFingerprint(_ b: Bead, _ group: FieldGroup) -> String {
        var blank = Bead(id: b.id, title: "", createdAt: Timestamp(unixNanos: 0))
        blank.copyValues(of: group, from: b)
        return BeadCodec.encodeLine(blank)
    }
}

extension Ledger {
    /// The newest stamp anywhere in the ledger (seed a restarted node's `HybridLogicalClock` with it).
    public var newestStamp: HLCStamp { stamps.values.reduce(HLCStamp.zero) { max($0, $1.newest) } }

    /// Drops history older than `horizon` (the oldest stamp every live replica has merged, DESIGN §3):
    /// tombstones whose every stamp is older, and the stamps of set elements removed before it. Returns the
    /// IDs of the beads dropped. Never call it with a horizon some replica has not merged past: that replica
    /// would bring the dropped beads back.
    @discardableResult
    public mutating func prune(before horizon: HLCStamp) -> [String] {
        var dropped: [String] = []
        for (id, bead) in beads where bead.status == .tombstone {
            guard let s = stamps[id], s.newest < horizon else { continue }
            dropped.append(id)
        }
        for id in dropped {
            beads[id] = nil
            stamps[id] = nil
        }
        for (id, var s) in stamps {
            func trim(_ set: inout [String: ElementStamps]) {
                set = set.filter { $0.value.isPresent || ($0.value.removed.map { $0 >= horizon } ?? true) }
            }
            trim(&s.labels)
            trim(&s.dependencies)
            trim(&s.comments)
            stamps[id] = s
        }
        if !dropped.isEmpty { rebuildIndexes() }
        return dropped.sorted()
    }
}
