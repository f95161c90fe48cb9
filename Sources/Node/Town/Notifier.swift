import Foundation
import Health
import Sessions
import Town

/// The one reader and writer of `<town>/settings/notify.json` (docs/notify-costs.md). A caseless namespace.
public enum NotifyRulesFile {
    public static func path(_ layout: TownLayout) -> String { layout.root + "/settings/notify.json" }

    /// The settings; no rules when the file is missing. A file that cannot be used is an error naming it and what to
    /// fix.
    public static func load(_ layout: TownLayout) throws(NotifyFileError) -> NotifySettings {
        let file = path(layout)
        guard let data = FileManager.default.contents(atPath: file) else { return NotifySettings() }
        return try NotifySettings.parse(data, file: file)
    }

    /// Writes `settings` atomically (a reader sees the old file or the new one, never half of one).
    public static func save(_ settings: NotifySettings, _ layout: TownLayout) throws(TownError) {
        try TownJSON.writeObject(settings.jsonObject, to: path(layout))
    }
}

/// The node's notifications (docs/notify-costs.md): follows `<town>/.gt/events.jsonl` from where it stood at start
/// (every 0.5 s, on a dedicated thread), feeds each event to the pure `NotifyCore` (rules of settings/notify.json,
/// re-read when the file changes; deduplication and rate limit by the escalations' `EscalationBook`, kept in
/// `<town>/.gt/notify/book.json`) and carries out its directives: a rule's command runs as a child process (argv,
/// the event as JSON on stdin, `GT_NOTIFY_*` variables, output appended to `<town>/.gt/logs/notify.log`, its process
/// group killed after `command_timeout`), mail goes through the town's mail, and a `notification` event shows on the
/// dashboard's live stream. Outcomes are events: `notify_run`, `notify_failed`, `notify_suppressed`, `notify_held`.
///
/// `Sendable`: an actor.
public actor TownNotifier: NodeComponent {
    public nonisolated let name = "notify"
    let ledger: NodeLedgerHandle?
    let poll: Duration
    var workflow: TownWorkflow?
    var log: NodeLogger?
    var events: EventLog?
    var layout = TownLayout(root: "/")
    var core = NotifyCore()
    var offset: UInt64 = 0
    var settingsStamp: String?
    /// Commands started and not finished (for tests: `idle`).
    public private(set) var running = 0

    public init(ledger: NodeLedgerHandle? = nil, poll: Duration = .milliseconds(500)) {
        self.ledger = ledger
        self.poll = poll
    }

    var bookFile: String { layout.stateDirectory + "/notify/book.json" }

    public func start(in context: NodeContext) async throws {
        log = context.log
        events = context.events
        layout = TownLayout(root: context.town.root)
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // It sends mail and writes the ledger, never sessions: a process driver, so starting costs no tmux call.
        workflow = try await TownWorkflow(
            layout: layout, settings: TownSettings(), actor: "notify", gtExecutable: executable,
            sessions: ProcessDriver(townRoot: layout.root))
        if let ledger { workflow?.heldLedger = ledger }
        let (bookFile, eventsFile) = (self.bookFile, layout.eventsFile)
        let (book, size) = await NodeBlocking.run { () -> (EscalationBook?, UInt64) in
            let book = (try? TownJSON.read(EscalationBook.self, from: bookFile)) ?? nil
            var info = stat()
            return (book, stat(eventsFile, &info) == 0 ? UInt64(info.st_size) : 0)
        }
        core = NotifyCore(book: book)
        offset = size
        await reloadSettings()
    }

    public func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: poll)
            // One trip to a dedicated thread per poll: the rule file's stamp and the new event lines.
            let (path, from, rulesFile) = (layout.eventsFile, offset, NotifyRulesFile.path(layout))
            let (stamp, lines, next) = await NodeBlocking.run { () -> (String, [[UInt8]], UInt64) in
                let (lines, next) = TownNotifier.readLines(path, from: from)
                return (TownNotifier.stamp(rulesFile), lines, next)
            }
            offset = next
            if stamp != settingsStamp { await reloadSettings() }
            let now = Date().timeIntervalSince1970
            var directives: [NotifyDirective] = []
            for line in lines {
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                    continue
                }
                let fields = object.compactMapValues { $0 as? String }
                directives += core.onEvent(fields, at: now)
            }
            if lines.isEmpty { directives += core.onTick(at: now) }
            guard !directives.isEmpty else { continue }
            for directive in directives { carryOut(directive) }
            let (book, file) = (core.book, bookFile)
            await NodeBlocking.run { try? TownJSON.write(book, to: file) }
        }
        throw CancellationError()
    }

    /// Re-reads notify.json when its size or modification time changed. A file that cannot be used keeps the rules
    /// in force and logs (once per change) what is wrong.
    func reloadSettings() async {
        let layout = self.layout
        let file = NotifyRulesFile.path(layout)
        let stamp = await NodeBlocking.run { TownNotifier.stamp(file) }
        guard stamp != settingsStamp else { return }
        settingsStamp = stamp
        do {
            let settings = try await NodeBlocking.run { () throws(NotifyFileError) -> NotifySettings in
                try NotifyRulesFile.load(layout)
            }
            core.onSettings(settings)
            log?.info("notification rules loaded", ["rules": "\(settings.rules.count)"])
        } catch {
            log?.warning("notification rules unusable; keeping the previous ones", ["error": error.description])
            events?.record("notify_failed", ["error": error.description])
        }
    }

    /// What tells a changed rule file: its size and modification time ("missing" when there is none).
    static func stamp(_ file: String) -> String {
        var info = stat()
        guard stat(file, &info) == 0 else { return "missing" }
        return "\(info.st_size):\(info.st_mtim.tv_sec):\(info.st_mtim.tv_nsec)"
    }

    func carryOut(_ directive: NotifyDirective) {
        switch directive {
        case .run(let rule, let argv, let event):
            running += 1
            let timeout = core.settings.commandTimeout
            let logPath = layout.stateDirectory + "/logs/notify.log"
            let environment = [
                "GT_NOTIFY_RULE": rule, "GT_NOTIFY_KIND": event.kind.rawValue, "GT_NOTIFY_KEY": event.key,
                "GT_NOTIFY_TEXT": event.text, "GT_NOTIFY_AGENT": event.agent, "GT_NOTIFY_RIG": event.rig,
                "GT_TOWN": layout.root,
            ]
            let input = TownNotifier.json(event)
            Task {
                let fields = ["rule": rule, "kind": event.kind.rawValue, "key": event.key]
                do {
                    let outcome = try await ArgvCommand.run(
                        argv, stdin: input, environment: environment, logPath: logPath,
                        timeout: .milliseconds(Int(timeout * 1000)))
                    var result = fields
                    result["status"] = String(outcome.status)
                    if outcome.timedOut { result["timed_out"] = "true" }
                    events?.record(outcome.succeeded ? "notify_run" : "notify_failed", result)
                } catch {
                    var result = fields
                    result["error"] = "\(error)"
                    events?.record("notify_failed", result)
                }
                finished()
            }
        case .mail(let rule, let to, let event):
            guard let workflow else { return }
            Task {
                let body =
                    event.text + "\n\n"
                    + event.fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
                do {
                    let sent = try await workflow.sendMail(
                        from: AgentAddress.mayor, to: to,
                        subject: "[notify \(rule)] \(event.text)".prefix(200).description,
                        body: body, replyTo: nil)
                    events?.record(
                        "notify_mail", ["rule": rule, "kind": event.kind.rawValue, "to": to, "mail": sent.id])
                } catch {
                    events?.record("notify_failed", ["rule": rule, "to": to, "error": "\(error)"])
                }
            }
        case .dashboard(let rule, let event):
            events?.record(
                "notification",
                ["rule": rule, "kind": event.kind.rawValue, "key": event.key, "text": event.text, "agent": event.agent])
        case .suppressed(let rule, let event, let count):
            events?.record(
                "notify_suppressed",
                ["rule": rule, "kind": event.kind.rawValue, "key": event.key, "count": String(count)])
        case .held(let rule, let event):
            events?.record("notify_held", ["rule": rule, "kind": event.kind.rawValue, "key": event.key])
        }
    }

    func finished() { running -= 1 }

    /// The event as the command's stdin: `{"rule"…}` is not included; the kind, key, text, agent, rig and the
    /// events.jsonl fields (`event`).
    static func json(_ event: NotifyEvent) -> [UInt8] {
        let object: [String: Any] = [
            "kind": event.kind.rawValue, "key": event.key, "text": event.text, "agent": event.agent, "rig": event.rig,
            "event": event.fields,
        ]
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        return Array(data ?? Data()) + [0x0A]
    }

    /// The complete lines of `path` after `from` (at most 4 MiB a read) and the offset after them; a file that shrank
    /// (rotated) is read from its start.
    static func readLines(_ path: String, from: UInt64) -> ([[UInt8]], UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ([], 0) }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size < from ? 0 : from
        guard size > start else { return ([], start) }
        try? handle.seek(toOffset: start)
        let bytes = [UInt8]((try? handle.read(upToCount: 4 * 1024 * 1024)) ?? Data())
        let (lines, consumed) = UsageLogs.completeLines(bytes)
        return (lines.map(Array.init), start + UInt64(consumed))
    }
}
