/// A lease on a bead (DESIGN §3 "Claims and fencing"): who holds it (the assignee, an agent address or a person),
/// on which node, at which fencing epoch. No wall-clock expiry is stored; the epoch is what keeps late actions out:
/// every side effect carries the epoch it was granted under and is refused once the bead's epoch has moved past it.
///
/// `Sendable`: a plain value.
public struct Lease: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The holder's address (`<rig>/polecats/<name>`, a person's name); empty when the bead is not held.
    public var holder: String
    /// The node the holder works on (a replica ID for a bare `bd` store); empty when unknown or not held.
    public var node: String
    /// The fencing epoch: raised by one by every claim, never lowered.
    public var epoch: Int

    public init(holder: String, node: String, epoch: Int) {
        self.holder = holder
        self.node = node
        self.epoch = epoch
    }

    /// Nobody holds the bead (it may have been held before: the epoch remembers).
    public var isFree: Bool { holder.isEmpty }

    /// Whether `claimant` is the holder of this lease (same address and, when both name one, the same node).
    public func isHeld(by claimant: Claimant) -> Bool {
        !holder.isEmpty && holder == claimant.assignee && (node.isEmpty || node == claimant.node)
    }

    public var description: String {
        holder.isEmpty ? "free (epoch \(epoch))" : "\(holder)\(node.isEmpty ? "" : " on \(node)") (epoch \(epoch))"
    }
}

/// Who asks for a lease. `Sendable`: a plain value.
public struct Claimant: Sendable, Hashable, Codable {
    /// The address that will hold the bead.
    public var assignee: String
    /// The node (or store replica) it works on.
    public var node: String

    public init(assignee: String, node: String) {
        self.assignee = assignee
        self.node = node
    }
}

/// The fencing rule every side effect goes through: an action granted under `epoch` may touch a bead whose current
/// epoch is `current` only when they are equal. Older epochs are refused (the lease moved on); newer ones cannot
/// exist for a correct caller and are refused too.
///
/// A caseless namespace.
public enum Fence {
    /// Why an action was refused, or nil when it may go ahead.
    public static func check(action epoch: Int, current: Int) -> FenceRefusal? {
        if epoch == current { return nil }
        return epoch < current ? .stale(action: epoch, current: current) : .fromTheFuture(action: epoch, current: current)
    }
}

/// A refused fenced action. `Sendable`: a plain value.
public enum FenceRefusal: Sendable, Hashable, CustomStringConvertible {
    /// The action's epoch is older than the bead's: another claim has taken the bead since.
    case stale(action: Int, current: Int)
    /// The action names an epoch the bead never had (a forged or corrupted request).
    case fromTheFuture(action: Int, current: Int)

    public var description: String {
        switch self {
        case .stale(let action, let current):
            return "the lease moved on: this action holds epoch \(action), the bead is at epoch \(current)"
        case .fromTheFuture(let action, let current):
            return "epoch \(action) was never granted (the bead is at epoch \(current))"
        }
    }
}
