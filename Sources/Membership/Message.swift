extension Membership {
    /// One piece of disseminated news about a member, piggybacked on other messages.
    ///
    /// Sendable: plain value.
    public enum Gossip: Hashable, Sendable {
        /// The node is alive at this incarnation (joins and refutations).
        case alive(Node, incarnation: Incarnation)
        /// `from` suspects the member at this incarnation.
        case suspect(name: String, incarnation: Incarnation, from: String)
        /// `from` declared the member dead at this incarnation.
        case dead(name: String, incarnation: Incarnation, from: String)
        /// The member left gracefully at this incarnation.
        case left(name: String, incarnation: Incarnation)
        /// The member's metadata (newer ``Metadata/version`` wins).
        case metadata(name: String, Metadata)

        /// The member this news is about.
        public var subject: String {
            switch self {
            case .alive(let node, _): node.name
            case .suspect(let name, _, _), .dead(let name, _, _), .left(let name, _), .metadata(let name, _): name
            }
        }
    }

    /// A membership protocol message. The shell puts its ``encode()`` bytes in a wire frame on the
    /// dedicated membership connection and hands decoded ones to ``Instance/onMessage(_:authenticatedPeer:now:)``.
    ///
    /// Every message names its sender (`from`); the shell should check it against the authenticated peer
    /// name of the connection and drop mismatches. Sendable: plain value.
    public enum Message: Hashable, Sendable {
        /// A probe. `target` is the name the prober means, so a reused address is not mistaken for it.
        case ping(seq: UInt32, from: Node, target: String, gossip: [Gossip])
        /// Please probe `target` for me and forward its ack; send a nack if it does not answer in time.
        case pingRequest(seq: UInt32, from: Node, target: Node, wantsNack: Bool, gossip: [Gossip])
        /// The answer to a ping (or a forwarded answer to a ping request), echoing its sequence number.
        case ack(seq: UInt32, from: Node, gossip: [Gossip])
        /// An intermediary could not reach the target in time (Lifeguard): the requester is not the slow one.
        case nack(seq: UInt32, from: Node)
        /// News only.
        case gossip(from: Node, gossip: [Gossip])
        /// Full state exchange (anti-entropy, join, reconnect). A request is answered with a response.
        case pushPull(from: Node, isResponse: Bool, isJoin: Bool, members: [Member])

        /// The sender.
        public var from: Node {
            switch self {
            case .ping(_, let from, _, _), .pingRequest(_, let from, _, _, _), .ack(_, let from, _),
                .nack(_, let from), .gossip(let from, _), .pushPull(let from, _, _, _):
                from
            }
        }

        /// A short name of the message kind, for logs and statistics.
        public var kind: String {
            switch self {
            case .ping: "ping"
            case .pingRequest: "ping-req"
            case .ack: "ack"
            case .nack: "nack"
            case .gossip: "gossip"
            case .pushPull: "push-pull"
            }
        }
    }

    /// Names a timer the instance asked the shell to arm (see ``Directive/armTimer(_:at:)``).
    ///
    /// Sendable: plain value.
    public enum TimerID: Hashable, Sendable {
        /// Start the next probe round.
        case probe
        /// The direct ack for probe `seq` is late: probe indirectly.
        case probeTimeout(seq: UInt32)
        /// Acting as intermediary for relay `seq`: send the nack if the target has not acked.
        case relayNack(seq: UInt32)
        /// A suspicion of the named member may have run out.
        case suspicion(name: String)
        /// Next gossip round.
        case gossip
        /// Next push-pull anti-entropy exchange.
        case pushPull
        /// Next reconnect attempt to a failed member (or to the seeds when alone).
        case reconnect
        /// Our own metadata change may be gossiped now (rate limit passed).
        case metadataBroadcast
        /// Forget failed and left members past their retention.
        case reap
    }

    /// What the shell must do after an event. The instance returns them in order; carry them out in order.
    ///
    /// Sendable: plain value.
    public enum Directive: Hashable, Sendable {
        /// Send `message` to the member at `address`. `name` is the member's name when known (nil for a
        /// seed address); the shell may verify it against the peer certificate. Sending is best effort:
        /// drop the message when the connection is down or its queue is full; never block the instance.
        case send(Message, to: String, name: String?)
        /// Arm (or re-arm: replace) the timer `id` to fire at `at`, then call
        /// ``Instance/onTimer(_:now:)``. Calling ``Instance/onTick(now:)`` periodically instead is also
        /// correct; stale or early firings are ignored.
        case armTimer(TimerID, at: Instant)
        /// A member's status, incarnation, address or metadata changed; `previous` is the status before
        /// (nil for a newly learned member). Publish it to the rest of the node.
        case memberChanged(Member, previous: Status?)
        /// A failed or left member was forgotten after its retention.
        case memberRemoved(name: String)
        /// Two live processes claim the name `name` (two holders of one identity, such as a copied
        /// `.gt/pki`), at `addresses`. About ourselves: another process answered our refutation with alive news
        /// from another address at an incarnation above ours (an earlier life of ours never does: its news
        /// stops at the incarnation it died with). About another member: its address went back to one it had
        /// just left, while it stayed alive (a node that moves does not move back and forth). Report it.
        case identityConflict(name: String, addresses: [String], incarnation: Incarnation)
    }
}
