import Foundation
import Sessions
import Town

/// Where the collector is in one usage log: the bytes read, the call ids seen last (Claude Code repeats a call's
/// usage on every line of the call), and the Codex decoder's state. `Sendable`: plain values.
struct UsageCursor: Sendable, Equatable, Codable {
    var offset: UInt64 = 0
    var ids: [String] = []
    var codex = UsageLogs.CodexState()
    /// The file's working directory is not the polecat's (Codex logs of other sessions): never read again.
    var foreign = false
}

/// Reads the usage logs of this node's hooked polecats (docs/notify-costs.md) every `collect_interval` of
/// settings/costs.json: Claude Code's transcripts under `<claude_dir>/projects/<escaped worktree>/*.jsonl`, Codex's
/// session logs under `<codex_dir>/sessions/**/rollout-*.jsonl` whose `session_meta` cwd is the worktree, for
/// runtimes `runtime_logs` maps to a format. New complete lines are decoded (`UsageLogs`), priced, and added to
/// the hooked bead's `usage` metadata as the polecat's (one ledger write per bead and read); the cursors are kept in
/// `<town>/.gt/costs/cursors.json` (one writer: this component), so a restarted node reads on where it stopped.
/// File work runs on dedicated threads (`NodeBlocking`), never on the cooperative pool.
///
/// `Sendable`: an actor.
public actor TownCostsCollector: NodeComponent {
    public nonisolated let name = "costs"
    let ledger: NodeLedgerHandle?
    var workflow: TownWorkflow?
    var log: NodeLogger?
    var layout = TownLayout(root: "/")
    var node = ""
    var cursors: [String: UsageCursor] = [:]
    var lastProblem: String?
    /// Reads done (for tests and status).
    public private(set) var collections = 0

    public init(ledger: NodeLedgerHandle? = nil) { self.ledger = ledger }

    var cursorFile: String { layout.stateDirectory + "/costs/cursors.json" }

    public func start(in context: NodeContext) async throws {
        log = context.log
        layout = TownLayout(root: context.town.root)
        node = context.name.rawValue
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // It sends mail and writes the ledger, never sessions: a process driver, so starting costs no tmux call.
        workflow = try await TownWorkflow(
            layout: layout, settings: TownSettings(), actor: "costs", gtExecutable: executable,
            sessions: ProcessDriver(townRoot: layout.root))
        if let ledger { workflow?.heldLedger = ledger }
        let file = cursorFile
        cursors = await NodeBlocking.run { () -> [String: UsageCursor] in
            ((try? TownJSON.read([String: UsageCursor].self, from: file)) ?? nil) ?? [:]
        }
    }

    public func run() async throws {
        while !Task.isCancelled {
            let settings: CostSettings
            do {
                let layout = self.layout
                settings = try await NodeBlocking.run { () throws(TownError) -> CostSettings in
                    try CostSettingsFile.load(layout)
                }
                lastProblem = nil
            } catch {
                if lastProblem != error.description {
                    log?.warning("costs settings unusable; usage is not read until fixed", ["error": error.description])
                    lastProblem = error.description
                }
                try await Task.sleep(for: .seconds(15))
                continue
            }
            await collect(settings)
            try await Task.sleep(for: .milliseconds(Int(settings.collectInterval * 1000)))
        }
        throw CancellationError()
    }

    /// One read of every hooked polecat's usage logs.
    public func collect(_ settings: CostSettings) async {
        guard let workflow else { return }
        let layout = self.layout
        let node = self.node
        let known = cursors
        let environment = ProcessInfo.processInfo.environment
        let found = await NodeBlocking.run { () -> [Found] in
            TownCostsCollector.read(
                layout: layout, node: node, settings: settings, cursors: known, environment: environment)
        }
        collections += 1
        let org = found.contains { !$0.samples.isEmpty } ? workflow.organization() : ""
        var changed = false
        for item in found {
            if !item.samples.isEmpty {
                do {
                    try await workflow.recordUsage(
                        item.samples, bead: item.hook.bead, agent: item.agent, rig: item.hook.rig,
                        prices: settings.prices, own: org)
                    let tokens = item.samples.reduce(0) { $0 + $1.usage.total }
                    workflow.events.record(
                        "usage",
                        [
                            "bead": item.hook.bead, "agent": item.agent, "tokens": String(tokens),
                            "calls": String(item.samples.count),
                        ])
                } catch {
                    log?.warning("usage not recorded", ["bead": item.hook.bead, "error": error.description])
                    continue
                }
            }
            if cursors[item.path] != item.cursor {
                cursors[item.path] = item.cursor
                changed = true
            }
        }
        guard changed else { return }
        let file = cursorFile
        let snapshot = cursors
        await NodeBlocking.run { try? TownJSON.write(snapshot, to: file) }
    }

    /// What one usage log held since its cursor. `Sendable`: plain values.
    struct Found: Sendable {
        var path: String
        var hook: Hook
        var agent: String
        var samples: [UsageSample]
        var cursor: UsageCursor
    }

    /// The new usage of every hooked polecat of `node` (blocking file reads: run on a dedicated thread).
    static func read(
        layout: TownLayout, node: String, settings: CostSettings, cursors: [String: UsageCursor],
        environment: [String: String]
    ) -> [Found] {
        var out: [Found] = []
        let files = FileManager.default
        for rig in (try? files.contentsOfDirectory(atPath: layout.root)) ?? [] where !rig.hasPrefix(".") {
            let polecats = layout.polecatsDirectory(rig)
            for name in (try? files.contentsOfDirectory(atPath: polecats)) ?? [] {
                let worktree = layout.polecatWorktree(rig, name)
                guard let hook = (try? Hook.read(worktree: worktree)) ?? nil, hook.node == node else { continue }
                let preset = String(hook.runtime.split(separator: ":", maxSplits: 1).first ?? "")
                guard let format = settings.runtimeLogs[preset] else { continue }
                let agent = "\(hook.rig)/polecats/\(hook.polecat)"
                let real = (worktree as NSString).resolvingSymlinksInPath
                let directories = Set([worktree, real])
                for path in logFiles(format, directories: directories, settings: settings, environment: environment) {
                    // A Codex log is another session's for every polecat but one: its cursor is per worktree.
                    let key = format == .codex ? path + "|" + worktree : path
                    var cursor = cursors[key] ?? UsageCursor()
                    guard !cursor.foreign else { continue }
                    let samples = readNew(path, format: format, cursor: &cursor, directories: directories)
                    if samples.isEmpty && cursor == cursors[key] { continue }
                    out.append(Found(path: key, hook: hook, agent: agent, samples: samples, cursor: cursor))
                }
            }
        }
        return out
    }

    /// The log files `format` may hold for a polecat working in one of `directories`.
    static func logFiles(
        _ format: UsageLogFormat, directories: Set<String>, settings: CostSettings, environment: [String: String]
    ) -> [String] {
        let files = FileManager.default
        switch format {
        case .claude:
            let root = settings.claudeRoot(environment: environment) + "/projects/"
            return Set(directories.map { root + UsageLogs.claudeProjectName($0) }).sorted().flatMap { directory in
                ((try? files.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
                    .map { directory + "/" + $0 }
            }
        case .codex:
            let root = settings.codexRoot(environment: environment) + "/sessions"
            guard let walker = files.enumerator(atPath: root) else { return [] }
            var out: [String] = []
            let horizon = Date().addingTimeInterval(-3 * 86400)
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                guard name.hasPrefix("rollout-"), name.hasSuffix(".jsonl") else { continue }
                let path = root + "/" + relative
                let modified = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
                if modified > horizon { out.append(path) }
            }
            return out.sorted()
        }
    }

    /// The samples of `path` past `cursor` (complete lines only, at most 8 MiB a read), advancing it. A file that
    /// shrank is read again from its start.
    static func readNew(
        _ path: String, format: UsageLogFormat, cursor: inout UsageCursor, directories: Set<String>
    ) -> [UsageSample] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        if size < cursor.offset { cursor = UsageCursor() }
        guard size > cursor.offset else { return [] }
        try? handle.seek(toOffset: cursor.offset)
        let bytes = [UInt8]((try? handle.read(upToCount: 8 * 1024 * 1024)) ?? Data())
        let (lines, consumed) = UsageLogs.completeLines(bytes)
        guard consumed > 0 else { return [] }
        cursor.offset += UInt64(consumed)
        var samples: [UsageSample]
        switch format {
        case .claude:
            samples = UsageLogs.claude(lines: lines)
        case .codex:
            samples = UsageLogs.codex(lines: lines, state: &cursor.codex)
            if !cursor.codex.cwd.isEmpty, !directories.contains(cursor.codex.cwd) {
                cursor = UsageCursor(foreign: true)
                return []
            }
        }
        var seen = Set(cursor.ids)
        samples = samples.filter { sample in
            guard !sample.id.isEmpty else { return true }
            guard seen.insert(sample.id).inserted else { return false }
            cursor.ids.append(sample.id)
            return true
        }
        if cursor.ids.count > 500 { cursor.ids.removeFirst(cursor.ids.count - 500) }
        return samples
    }
}
