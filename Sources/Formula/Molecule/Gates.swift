import Beads

/// What checking a gate found. `Sendable`: plain value.
public struct GateCheck: Sendable, Equatable {
    public enum Outcome: String, Sendable, Equatable {
        /// Its condition holds: close it.
        case resolved
        /// Still waiting.
        case waiting
        /// It cannot be checked here (needs network access, or a person); it stays open.
        case cannotCheck = "cannot-check"
    }
    public var id: String
    public var awaitType: String
    public var outcome: Outcome
    /// Why, in one line.
    public var reason: String
}

/// Gates: beads of type `gate` that block a molecule step until their wait is over (docs/formulas.md "Gates").
/// Pure: the caller gives the time and the ledger.
///
/// - `timer`: resolved once `timeout` has passed since the gate was created (checked by `bd gate check`).
/// - `human`: resolved only by `bd gate resolve`.
/// - `mail`: resolved when a message bead created at or after the gate has the gate's `await_id` in its subject
///   (case-insensitive; any message when `await_id` is empty).
/// - `gh:run`, `gh:pr`: need network access to GitHub; never resolved by a check, they stay open
///   (`bd gate resolve` closes them by hand).
///
/// A namespace; `Sendable` trivially.
public enum Gates {
    /// Open gates of the ledger (of every molecule), in natural ID order.
    public static func open(in ledger: Ledger) -> [Bead] {
        ledger.beads.values.filter { $0.issueType == .gate && !Molecule.isDone($0.status) }
            .sorted { Molecule.naturalLess($0.id, $1.id) }
    }

    /// Checks one open gate at `now`.
    public static func check(_ gate: Bead, in ledger: Ledger, now: Timestamp) -> GateCheck {
        let type = gate.awaitType
        func result(_ o: GateCheck.Outcome, _ why: String) -> GateCheck {
            GateCheck(id: gate.id, awaitType: type, outcome: o, reason: why)
        }
        switch type {
        case "timer":
            guard gate.timeout > 0 else { return result(.resolved, "timer gate without a timeout") }
            let due = gate.createdAt.unixNanos &+ gate.timeout
            if now.unixNanos >= due { return result(.resolved, "timer elapsed at \(Timestamp(unixNanos: due))") }
            return result(.waiting, "timer until \(Timestamp(unixNanos: due))")
        case "human":
            return result(.cannotCheck, "waits for a person: run 'bd gate resolve \(gate.id)'")
        case "mail":
            let needle = gate.awaitID.lowercased()
            let match = ledger.beads.values.filter {
                $0.issueType == .message && $0.createdAt >= gate.createdAt
                    && (needle.isEmpty || $0.title.lowercased().contains(needle))
            }.min { $0.createdAt < $1.createdAt }
            if let match { return result(.resolved, "mail \(match.id) arrived: \(match.title)") }
            return result(
                .waiting, needle.isEmpty ? "waits for mail" : "waits for mail whose subject has '\(gate.awaitID)'")
        case "gh:run", "gh:pr":
            let what = type == "gh:run" ? "GitHub Actions run" : "GitHub pull request"
            return result(
                .cannotCheck,
                "needs network access to GitHub (\(what) \(gate.awaitID)), which this node does not check; it stays "
                    + "open: resolve it by hand with 'bd gate resolve \(gate.id)'")
        default:
            return result(
                .cannotCheck,
                "gate type '\(type)' is not checked here (timer, human, mail are); resolve it with "
                    + "'bd gate resolve \(gate.id)'")
        }
    }
}
