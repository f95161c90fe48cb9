extension Membership.Instance {
    /// The operator removed `name` from the cluster (`gt node remove`, like serf's `force-leave`): a member that
    /// is not ourselves is taken as left at its current incarnation, the departure is gossiped and also told to
    /// every live member directly, so every node stops counting it (a left member is not counted by the majority
    /// rule) and forgets it after `leftRetention`. A member already left, unknown, or ourselves changes nothing
    /// (returns no directives). A removed node that comes back with a higher incarnation is alive again, as after
    /// a graceful leave; `gt node remove` also revokes its certificate, so it cannot.
    public mutating func forceLeave(name: String, now: Membership.Instant) -> [Membership.Directive] {
        guard phase == .running, name != myself.name, let r = records[name], r.member.status != .left else {
            return []
        }
        let t = now.nanoseconds
        let inc = r.member.incarnation
        setRecord(name, status: .left, incarnation: inc, address: nil, now: t)
        enqueue(.left(name: name, incarnation: inc))
        let news = Membership.Message.gossip(from: myself, gossip: [.left(name: name, incarnation: inc)])
        for other in records.keys.sorted() where other != myself.name && other != name {
            guard let m = records[other]?.member, m.status.isLive else { continue }
            out.append(.send(news, to: m.node.address, name: other))
        }
        return flush()
    }
}
