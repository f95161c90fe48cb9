import Foundation
import Node
import Town

/// `gt mail`: messages between agents and people (beads of type message in the town scope).
public struct GTMailCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "mail", abstract: "Mail between agents: send, inbox, read, reply",
            discussion: "Addresses: overseer, mayor/, and of a registered rig <rig>/witness, <rig>/refinery, "
                + "<rig>/polecats/<name> (or <rig>/<name>) of one of its polecats, <rig>/crew/<name> of its crew; mail "
                + "to anything else is refused. Your identity is --from, else $GT_ROLE (an agent's address, or a bare "
                + "role completed from $GT_RIG and $GT_POLECAT), else the polecat of this worktree, else overseer.",
            subcommands: [
                GTMailSendCommand.self, GTMailInboxCommand.self, GTMailReadCommand.self, GTMailReplyCommand.self,
            ])
    }

    public init() {}

    static let fromOption = OptionSpec.option(
        "from", aliases: ["identity", "address"], value: "ADDRESS",
        help: "who is sending/reading (default: see gt mail --help)")

    /// `-m/--message` (Gas Town's spelling; `--body` is its alias there too).
    static let messageOption = OptionSpec.option(
        "message", short: "m", aliases: ["body"], value: "TEXT", help: "the body")

    static func print(_ mail: MailView, _ context: CommandContext, full: Bool) {
        let mark = mail.read ? " " : "●"
        context.console.out("\(mark) \(mail.id)  from \(mail.from)  \(mail.subject)")
        if full {
            context.console.out("  to: \(mail.to)   at: \(mail.createdAt)")
            if !mail.body.isEmpty { context.console.out("\n" + mail.body) }
        }
    }
}

/// `gt mail send <to> -s SUBJECT [-m BODY]`.
public struct GTMailSendCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "send", abstract: "Send a message",
            options: [
                .option("subject", short: "s", value: "TEXT", help: "the subject"), GTMailCommand.messageOption,
                GTMailCommand.fromOption,
            ],
            arguments: [ArgumentSpec("to", help: "the recipient's address")])
    }

    var to: String
    var subject: String
    var body: String
    var from: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        to = parsed.argument("to")
        subject = parsed.string("subject") ?? ""
        body = parsed.string("message") ?? ""
        from = parsed.string("from")
        if subject.isEmpty && body.isEmpty { throw parsed.invalid("give a subject (-s) or a body (-m)") }
    }

    public func run(_ context: CommandContext) async throws {
        let sender = context.agentIdentity(flag: from)
        let subject = self.subject.isEmpty ? String(body.prefix(60)) : self.subject
        let mail = try await context.agentRequest(
            TownAgentRequest(.mailSend, directory: context.cwd, identity: sender, to: to, subject: subject, body: body),
            as: MailView.self
        ) { try await $0.sendMail(from: sender, to: to, subject: subject, body: body, replyTo: nil) }
        if context.jsonMode { return try context.console.json(mail) }
        context.console.out("Sent \(mail.id) to \(mail.to)")
    }
}

/// `gt mail inbox [--all]`.
public struct GTMailInboxCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "inbox", abstract: "List your messages (unread unless --all)",
            options: [
                .flag("all", help: "include read messages"),
                .flag("unread", short: "u", help: "only unread messages (the default)"), GTMailCommand.fromOption,
            ])
    }

    var all: Bool
    var from: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        all = parsed.flag("all")
        from = parsed.string("from")
        if all && parsed.flag("unread") { throw parsed.invalid("give --all or --unread, not both") }
    }

    public func run(_ context: CommandContext) async throws {
        let me = context.agentIdentity(flag: from)
        let all = self.all
        let mails = try await context.agentRequest(
            TownAgentRequest(.mailInbox, directory: context.cwd, identity: me, all: all), as: [MailView].self
        ) { try await $0.inbox(for: me, all: all) }
        if context.jsonMode { return try context.console.json(mails) }
        if mails.isEmpty { return context.console.out("No \(all ? "" : "unread ")mail for \(me)") }
        for mail in mails { GTMailCommand.print(mail, context, full: false) }
    }
}

/// `gt mail read <id>`.
public struct GTMailReadCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "read", abstract: "Show a message and mark it read",
            arguments: [ArgumentSpec("id", help: "the message's ID")])
    }

    var id: String

    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("id") }

    public func run(_ context: CommandContext) async throws {
        let id = self.id
        let mail = try await context.agentRequest(
            TownAgentRequest(.mailRead, directory: context.cwd, id: id), as: MailView.self
        ) { try await $0.readMail(id) }
        if context.jsonMode { return try context.console.json(mail) }
        GTMailCommand.print(mail, context, full: true)
    }
}

/// `gt mail reply <id> -m BODY`.
public struct GTMailReplyCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "reply", abstract: "Reply to a message's sender",
            options: [
                .option("subject", short: "s", value: "TEXT", help: "the subject (default: Re: <original>)"),
                GTMailCommand.messageOption, GTMailCommand.fromOption,
            ],
            arguments: [ArgumentSpec("id", help: "the message replied to")])
    }

    var id: String
    var body: String
    var subject: String?
    var from: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        body = parsed.string("message") ?? ""
        subject = parsed.string("subject").flatMap { $0.isEmpty ? nil : $0 }
        from = parsed.string("from")
        if body.isEmpty { throw parsed.invalid("give the reply's text with -m") }
    }

    public func run(_ context: CommandContext) async throws {
        let sender = context.agentIdentity(flag: from)
        let (id, body, subject) = (self.id, self.body, self.subject)
        let mail = try await context.agentRequest(
            TownAgentRequest(
                .mailReply, directory: context.cwd, identity: sender, subject: subject, body: body, id: id),
            as: MailView.self
        ) { try await $0.replyMail(to: id, from: sender, body: body, subject: subject) }
        if context.jsonMode { return try context.console.json(mail) }
        context.console.out("Sent \(mail.id) to \(mail.to)")
    }
}
