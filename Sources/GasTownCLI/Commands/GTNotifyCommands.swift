import Foundation
import Health
import Node
import Town

/// `gt notify`: notification rules (docs/notify-costs.md), kept in `<town>/settings/notify.json` and carried out by the
/// town's running node.
public struct GTNotifyCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "notify", abstract: "Notifications: run a command, send mail or show on the dashboard on events",
            discussion: """
                Rules live in <town>/settings/notify.json; the running node follows the town's events and carries
                them out: when an agent needs input (needs-input), an escalation is raised (escalation), a polecat
                finished (done), a merge request merged (merged), or a convoy landed (convoy-landed). Each event key
                is notified once per rule per dedup window, and at most rate_limit per rate_window (held ones are
                sent later), as escalations are.
                """,
            subcommands: [
                GTNotifyListCommand.self, GTNotifyAddCommand.self, GTNotifyRemoveCommand.self, GTNotifyTestCommand.self,
            ])
    }

    public init() {}

    /// The town's rules; a file that cannot be used is a clear error (nothing is written).
    static func load(_ context: CommandContext) throws -> (TownLayout, NotifySettings) {
        let layout = TownLayout(root: try context.townRoot().path)
        do {
            return (layout, try NotifyRulesFile.load(layout))
        } catch {
            throw CLIError(
                "notification rules unusable: \(error.description)",
                hint: "fix the file (docs/notify-costs.md) or remove it; nothing was changed", code: "bad_settings")
        }
    }
}

/// One rule as `gt notify list --json` shows it. `Sendable`: plain values.
struct NotifyRuleOutput: Encodable {
    var name: String
    var on: [String]
    var rig: String?
    var agent: String?
    var run: [String]
    var mail: String?
    var dashboard: Bool

    init(_ rule: NotifyRule) {
        name = rule.name
        on = rule.on.map(\.rawValue)
        rig = rule.rig
        agent = rule.agent
        run = rule.run
        mail = rule.mail
        dashboard = rule.dashboard
    }

    var line: String {
        var parts = ["\(name): on \(on.joined(separator: ","))"]
        if let rig { parts.append("rig \(rig)") }
        if let agent { parts.append("agent \(agent)") }
        if !run.isEmpty { parts.append("run \(run.joined(separator: " "))") }
        if let mail { parts.append("mail \(mail)") }
        if dashboard { parts.append("dashboard") }
        return parts.joined(separator: " · ")
    }
}

/// `gt notify list`.
public struct GTNotifyListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "list", abstract: "The notification rules of settings/notify.json")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let (_, settings) = try GTNotifyCommand.load(context)
        let rules = settings.rules.map(NotifyRuleOutput.init)
        try context.report(rules) {
            if rules.isEmpty { context.console.out("No notification rules ('gt notify add' makes one)") }
            for rule in rules { context.console.out(rule.line) }
        }
    }
}

/// `gt notify add NAME --on KIND[,KIND…] [--rig R] [--agent A] [--mail ADDR] [--dashboard] [--replace] [-- CMD ARG…]`.
public struct GTNotifyAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a notification rule (a command after --, mail, the dashboard)",
            discussion: """
                The command (the words after --) runs with the event as JSON on stdin and GT_NOTIFY_RULE,
                GT_NOTIFY_KIND, GT_NOTIFY_KEY, GT_NOTIFY_TEXT, GT_NOTIFY_AGENT, GT_NOTIFY_RIG and GT_TOWN set; it is
                killed after command_timeout (10 s). Example: gt notify add desk --on needs-input,escalation --
                notify-send GasTown
                """,
            options: [
                .option(
                    "on", value: "KINDS", kind: .commaList,
                    help: "events: " + NotifyKind.allCases.map(\.rawValue).joined(separator: ", ")),
                .option("rig", value: "RIG", help: "only events about this rig"),
                .option("agent", value: "AGENT", help: "only events about this agent (a trailing * matches a prefix)"),
                .option("mail", value: "ADDRESS", help: "mail the event to this address (e.g. overseer)"),
                .flag("dashboard", help: "show it on the dashboard's live stream"),
                .flag("replace", help: "replace a rule of the same name"),
            ],
            arguments: [
                ArgumentSpec("name", help: "the rule's name"),
                ArgumentSpec("command", help: "the command and its arguments (after --)", arity: .variadic(min: 0)),
            ])
    }

    var rule: NotifyRule
    var replace: Bool
    var unknownKinds: [String]

    public init(parsed: ParsedValues) throws(UsageError) {
        let words = parsed.strings("on").flatMap { $0.split(separator: ",").map(String.init) }
        unknownKinds = words.filter { NotifyKind(rawValue: $0) == nil }
        rule = NotifyRule(
            name: parsed.argument("name"), on: words.compactMap(NotifyKind.init(rawValue:)), rig: parsed.string("rig"),
            agent: parsed.string("agent"), run: parsed.argumentList("command"), mail: parsed.string("mail"),
            dashboard: parsed.flag("dashboard"))
        replace = parsed.flag("replace")
        if let word = unknownKinds.first {
            throw parsed.invalid(
                "--on: unknown event '\(word)' (events: \(NotifyKind.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
    }

    public func run(_ context: CommandContext) async throws {
        let (layout, settings) = try GTNotifyCommand.load(context)
        if let problem = rule.problem {
            throw CLIError(
                "cannot add the rule: \(problem)", hint: "nothing was changed", code: "invalid", exitCode: .usage)
        }
        var updated = settings
        if let index = updated.rules.firstIndex(where: { $0.name == rule.name }) {
            guard replace else {
                throw CLIError(
                    "a notification rule named '\(rule.name)' exists already",
                    hint: "pass --replace to replace it, or 'gt notify remove \(rule.name)' first; nothing was changed",
                    code: "exists")
            }
            updated.rules[index] = rule
        } else {
            updated.rules.append(rule)
        }
        // What is written must read back as the same rules (the one reader), or nothing is written.
        let check = try JSONSerialization.data(withJSONObject: updated.jsonObject)
        guard (try? NotifySettings.parse(check, file: NotifyRulesFile.path(layout)))?.rules == updated.rules else {
            throw CLIError(
                "the rule does not survive its own file format", hint: "nothing was changed", code: "invalid")
        }
        try NotifyRulesFile.save(updated, layout)
        let output = NotifyRuleOutput(rule)
        try context.report(output) {
            context.console.out("Added notification rule \(output.line) (the running node applies it within a second)")
        }
    }
}

/// `gt notify remove NAME`.
public struct GTNotifyRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a notification rule",
            arguments: [ArgumentSpec("name", help: "the rule's name")])
    }

    var name: String

    public init(parsed: ParsedValues) throws(UsageError) { name = parsed.argument("name") }

    public func run(_ context: CommandContext) async throws {
        let (layout, settings) = try GTNotifyCommand.load(context)
        guard settings.rules.contains(where: { $0.name == name }) else {
            throw CLIError(
                "no notification rule named '\(name)'", hint: "'gt notify list' shows the rules", code: "not_found")
        }
        var updated = settings
        updated.rules.removeAll { $0.name == name }
        try NotifyRulesFile.save(updated, layout)
        try context.report(["removed": name]) { context.console.out("Removed notification rule \(name)") }
    }
}

/// `gt notify test NAME [--kind KIND]`: records a `notify_test` event; the running node carries out that rule.
public struct GTNotifyTestCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "test", abstract: "Send a test event to one rule (the running node carries out its actions)",
            options: [
                .option(
                    "kind", value: "KIND", type: .choice(NotifyKind.allCases.map(\.rawValue)),
                    help: "the event kind the test claims (default: the rule's first)")
            ],
            arguments: [ArgumentSpec("name", help: "the rule's name")])
    }

    var name: String
    var kind: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.argument("name")
        kind = parsed.string("kind")
    }

    public func run(_ context: CommandContext) async throws {
        let (layout, settings) = try GTNotifyCommand.load(context)
        guard let rule = settings.rules.first(where: { $0.name == name }) else {
            throw CLIError(
                "no notification rule named '\(name)'", hint: "'gt notify list' shows the rules", code: "not_found")
        }
        let town = try NodeCLI.town(context)
        guard NodeCLI.lockHolder(town) != nil else {
            throw CLIError(
                "no node runs for \(layout.root): notifications are carried out by the node",
                hint: "start it with 'gt up', then run 'gt notify test \(name)' again", code: "not_running")
        }
        let kind = kind ?? rule.on.first?.rawValue ?? NotifyKind.done.rawValue
        TownEvents(layout: layout, node: layout.nodeName()).record(
            "notify_test", ["rule": name, "kind": kind, "agent": "overseer"])
        try context.report(["rule": name, "kind": kind]) {
            context.console.out(
                "Test event sent to rule \(name); the node carries it out within a second "
                    + "(command output: <town>/.gt/logs/notify.log; outcome: notify_run / notify_failed events)")
        }
    }
}
