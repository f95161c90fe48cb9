import Foundation
import Health
import Town

/// Escalations as mail: an `EscalationBook` (one per cause, deduplicated, rate-limited, routed by category) whose
/// admitted escalations are mailed with their evidence from `<rig>/witness` to the category's address, and
/// recorded as `escalation` events. Kept on disk (`<town>/.gt/witness/escalations.json` for the Witness,
/// `<town>/.gt/deacon/escalations.json` for the Deacon: one writer per file) so a restarted node does not send a
/// cause again. `Sendable`: plain values; owned by the Witness actor (or the Deacon's `DeaconEscalations`).
public struct EscalationMailer: Sendable {
    public private(set) var book: EscalationBook
    let path: String

    /// The mailer of `layout`, reloading the book kept in `file` (default: the Witness's; a damaged file starts
    /// an empty book).
    public init(layout: TownLayout, settings: HealthSettings, file: String? = nil) {
        path = file ?? layout.stateDirectory + "/witness/escalations.json"
        var book = (try? TownJSON.read(EscalationBook.self, from: path)) ?? EscalationBook(settings: settings)
        book.settings = settings
        self.book = book
    }

    /// Raises `escalation` at `at`; mails it when the book admits it, and any held ones now due. Returns what the
    /// book decided.
    @discardableResult
    public mutating func raise(
        _ escalation: Escalation, at: Double, paneTail: String = "", workflow: TownWorkflow
    ) async -> EscalationBook.Decision {
        let decision = book.raise(escalation, at: at)
        switch decision {
        case .send(let recipient):
            await mail(escalation, to: recipient, count: 1, paneTail: paneTail, workflow: workflow)
        case .duplicate(let count):
            _ = count
        case .held:
            workflow.events.record(
                "escalation_held", ["cause": escalation.cause, "agent": escalation.polecat])
        }
        await sendDue(at: at, workflow: workflow)
        save()
        return decision
    }

    /// Mails the held escalations the rate limit now admits.
    public mutating func sendDue(at: Double, workflow: TownWorkflow) async {
        for record in book.due(at: at) {
            await mail(record.escalation, to: record.recipient, count: record.count, paneTail: "", workflow: workflow)
        }
    }

    private func mail(
        _ escalation: Escalation, to recipient: String, count: Int, paneTail: String, workflow: TownWorkflow
    ) async {
        let rig = escalation.polecat.split(separator: "/").first.map(String.init) ?? ""
        // An escalation about the node itself (agent `deacon`) is sent as that agent, not as a rig's witness.
        let sender = escalation.polecat == "deacon" ? "deacon" : nil
        var body = "Cause: \(escalation.cause)\nCategory: \(escalation.category.rawValue)\nAgent: \(escalation.polecat)\n"
        if count > 1 { body += "Raised \(count) times.\n" }
        body += "\nEvidence:\n" + escalation.evidence.map { "- \($0.name): \($0.value)" }.joined(separator: "\n")
        if !paneTail.isEmpty { body += "\n\nLast lines of the pane:\n" + paneTail }
        let subject = "[\(escalation.category.rawValue)] \(escalation.subject)"
        do {
            let sent = try await workflow.sendMail(
                from: sender ?? (rig.isEmpty ? "overseer" : "\(rig)/witness"), to: recipient, subject: subject,
                body: body, replyTo: nil)
            workflow.events.record(
                "escalation",
                [
                    "cause": escalation.cause, "category": escalation.category.rawValue, "agent": escalation.polecat,
                    "to": recipient, "mail": sent.id,
                ])
        } catch {
            workflow.events.record(
                "escalation_failed", ["cause": escalation.cause, "to": recipient, "error": error.description])
        }
    }

    private func save() { try? TownJSON.write(book, to: path) }
}
