import Beads
import Foundation

/// One message as `gt mail` shows it. `Sendable`: a plain value.
public struct MailView: Sendable, Codable, Equatable {
    public var id: String
    public var from: String
    public var to: String
    public var subject: String
    public var body: String
    public var read: Bool
    public var createdAt: String
    public var replyTo: String?

    enum CodingKeys: String, CodingKey {
        case id, from, to, subject, body, read
        case createdAt = "created_at"
        case replyTo = "reply_to"
    }

    /// The message a bead of type message holds (the dashboard lists them from the node's held ledger).
    public init(_ bead: Bead) {
        id = bead.id
        from = bead.metadataString("from") ?? bead.createdBy
        to = bead.assignee
        subject = bead.title
        body = bead.description
        read = bead.labels.contains(MailView.readLabel)
        createdAt = bead.createdAt.description
        replyTo = bead.dependencies.first { $0.type == .repliesTo }?.dependsOnID
    }

    /// The label a read message carries.
    public static let readLabel = "read"
}

extension TownWorkflow {
    /// `gt mail send`: a bead of type message in the town scope (`hq`), assigned to the recipient's address. An
    /// address nobody reads is refused (`checkRecipient`), naming the addresses there are.
    public func sendMail(from: String, to: String, subject: String, body: String, replyTo: String?)
        async throws(TownError) -> MailView
    {
        let recipient = AgentAddress.canonical(to)
        let sender = AgentAddress.canonical(from)
        let rigs = try rigConfigs()
        return try await withLedger { ledger throws(TownError) in
            try checkRecipient(recipient, as: to, rigs: rigs, ledger: ledger)
            if let replyTo, ledger.bead(replyTo)?.issueType != .message { throw .noSuchMessage(replyTo) }
            guard
                let bead = try await ledger.write(
                    scope: "hq",
                    { ledger, clock, actor throws(LedgerError) in
                        var spec = NewBead(title: subject.isEmpty ? "(no subject)" : String(subject.prefix(500)))
                        spec.issueType = .message
                        spec.assignee = recipient
                        spec.description = body
                        spec.metadata = [JSONMember("from", .string(sender)), JSONMember("to", .string(recipient))]
                        if let replyTo { spec.dependencies = [DependencyKey(dependsOnID: replyTo, type: .repliesTo)] }
                        return try ledger.prepareCreate(spec, actor: sender, stamp: clock.stamp, time: clock.time)
                    })
            else { throw .ledger("the message was not stored") }
            events.record("mail", ["id": bead.id, "from": sender, "to": recipient, "subject": bead.title])
            return MailView(bead)
        }
    }

    /// Refuses mail to an address nobody reads. Mailboxes: `overseer`, `mayor/`, and for each registered rig
    /// `<rig>/witness`, `<rig>/refinery`, `<rig>/polecats/<name>` (or `<rig>/<name>`) of a polecat it has, and
    /// `<rig>/crew/<name>` of a crew clone it has. `typed` is the address as the user wrote it.
    func checkRecipient(_ address: String, as typed: String, rigs: [String: RigConfig], ledger: TownLedger)
        throws(TownError)
    {
        if address == AgentAddress.overseer || address == AgentAddress.mayor { return }
        let parts = address.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func refuse(_ reason: String) -> TownError {
            .unknownAddress(address: typed, reason: reason, valid: mailboxes(rigs: rigs, ledger: ledger))
        }
        guard parts.count >= 2, let rig = rigs[parts[0]] else {
            throw refuse(
                parts.count >= 2
                    ? "there is no rig '\(parts[0])'" : "'\(typed)' is not an address (<rig>/polecats/<name>, …)")
        }
        switch (parts.count, parts[1]) {
        case (2, "witness"), (2, "refinery"):
            return
        case (3, "polecats"):
            guard polecats(rig: rig, in: ledger).contains(where: { $0.name == parts[2] }) else {
                throw refuse("rig \(rig.name) has no polecat '\(parts[2])'")
            }
        case (3, "crew"):
            guard crewNames(rig: rig.name).contains(parts[2]) else {
                throw refuse("rig \(rig.name) has no crew member '\(parts[2])'")
            }
        default:
            throw refuse("'\(typed)' is not an address of rig \(rig.name)")
        }
    }

    /// Every address mail can go to, sorted by rig.
    func mailboxes(rigs: [String: RigConfig], ledger: TownLedger) -> [String] {
        var all = [AgentAddress.overseer, AgentAddress.mayor]
        for rig in rigs.values.sorted(by: { $0.name < $1.name }) {
            all += ["\(rig.name)/witness", "\(rig.name)/refinery"]
            all += polecats(rig: rig, in: ledger).map(\.address)
            all += crewNames(rig: rig.name).map { "\(rig.name)/crew/\($0)" }
        }
        return all
    }

    /// The crew members of `rig` (the clones under `<town>/<rig>/crew/`).
    func crewNames(rig: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.crewDirectory(rig))) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Unread messages addressed to `address`.
    func unreadMail(for address: String, ledger: TownLedger) -> [MailView] {
        let recipient = AgentAddress.canonical(address)
        return ledger.beads(scope: "hq") {
            $0.issueType == .message && $0.assignee == recipient && $0.status != .closed
        }
        .map(MailView.init).filter { !$0.read }
    }

    /// `gt mail inbox`: messages addressed to `address`, newest first (`all`: read ones too).
    public func inbox(for address: String, all: Bool) async throws(TownError) -> [MailView] {
        let recipient = AgentAddress.canonical(address)
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            ledger.beads(scope: "hq") { $0.issueType == .message && $0.assignee == recipient && $0.status != .closed }
                .map(MailView.init).filter { all || !$0.read }
        }
    }

    /// `gt mail read <id>`: the message, marked read.
    public func readMail(_ id: String) async throws(TownError) -> MailView {
        try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(id), bead.issueType == .message else { throw .noSuchMessage(id) }
            if bead.labels.contains(MailView.readLabel) { return MailView(bead) }
            guard
                let updated = try await ledger.write(
                    routing: id,
                    { _, clock, actor in
                        LedgerOp(
                            actor: actor, stamp: clock.stamp, time: clock.time,
                            change: .labels(id: id, add: [MailView.readLabel], remove: []))
                    })
            else { throw .noSuchMessage(id) }
            return MailView(updated)
        }
    }

    /// `gt mail reply <id>`: a message back to the sender, "Re: subject" (or `subject`), linked by a replies-to
    /// edge.
    public func replyMail(to id: String, from: String, body: String, subject: String? = nil)
        async throws(TownError) -> MailView
    {
        let original = try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(id), bead.issueType == .message else { throw TownError.noSuchMessage(id) }
            return MailView(bead)
        }
        let subject = subject ?? (original.subject.hasPrefix("Re: ") ? original.subject : "Re: " + original.subject)
        return try await sendMail(from: from, to: original.from, subject: subject, body: body, replyTo: id)
    }
}
