import Beads
import Foundation
import LedgerStore
import Node
import Town

/// The ordered, Go-exact JSON value of the Beads core (the CLI's own `JSONValue` sorts keys).
typealias LedgerJSON = Beads.JSONValue

/// Shared plumbing of the `bd` verbs: opening the store (off the cooperative pool), turning store and ledger
/// errors into one-line `CLIError`s, parsing beads' value spellings, and printing beads' JSON and text shapes.
///
/// A namespace; `Sendable` trivially.
enum BDSupport {
    /// Finds the store (-C, BEADS_DIR, nearest `.beads/`), opens it on a dedicated thread, runs `body` there and
    /// closes the store. Every `bd` verb that touches the ledger goes through here, saying how: `.read` for verbs
    /// that only read (shared lock, no file of the store changed, a damaged log tail reported but not cut),
    /// `.write` for the rest. What the open found wrong is printed on stderr (`warning: …`), in `--json` mode too.
    /// `readyView`: embedded, load only what `ready` and `blocked` read (`LedgerDatabase.open(readyView:)`); `body`
    /// then must read nothing else.
    static func withLedger<T: Sendable>(
        _ context: CommandContext, mode: StoreOpenMode, readyView: Bool = false,
        _ body: @escaping @Sendable (any LedgerAccess) throws -> T
    ) async throws -> T {
        let location = try context.beadsStore()
        let console = context.console
        if let held = try await heldDatabase(for: location.path) {
            return try await BlockingWork.run { () throws -> T in
                do { return try body(held) } catch let error as LedgerDatabaseError { throw cliError(error) }
            }
        }
        return try await BlockingWork.run { () throws -> T in
            let db = try connect(beadsDirectory: location.path, mode: mode, readyView: readyView, console: console)
            defer { db.close() }
            do { return try body(db) } catch let error as LedgerDatabaseError { throw cliError(error) }
        }
    }

    /// The store the node holds when this command runs inside the node (`NodeLedgerHandle.current`) and
    /// `beadsDirectory` is that store; nil otherwise (embedded mode). Waits for the node's store to open, bounded.
    static func heldDatabase(for beadsDirectory: String) async throws(CLIError) -> LedgerDatabase? {
        guard let held = NodeLedgerHandle.current else { return nil }
        guard let db = await held.waitForDatabase(timeout: 30) else {
            throw CLIError(
                "the node's town ledger is not open (\(held.lastError ?? "the node is stopping"))",
                hint: "run the command again", code: "unavailable")
        }
        return samePath(db.storePath, beadsDirectory) ? db : nil
    }

    /// Whether two paths name one directory (symbolic links resolved).
    static func samePath(_ a: String, _ b: String) -> Bool {
        func resolved(_ path: String) -> String {
            URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        }
        return a == b || resolved(a) == resolved(b)
    }

    /// Embedded mode: takes the store's lock and loads it, then prints what recovery found on `console`'s stderr.
    /// (When the town's node runs, the command runs in the node instead: `NodeForwarding`.)
    /// A town's store is opened without waiting on its lock while the town's node holds `.gt/node.lock` (the node
    /// takes it before the store's): the lock is tried every 50 ms for up to 10 s, and a node that appears meanwhile
    /// ends the attempt with `NodeAppeared` (nothing opened, nothing written), so the command goes to the node.
    static func connect(
        beadsDirectory: String, mode: StoreOpenMode, readyView: Bool = false, console: Console
    ) throws -> LedgerDatabase {
        let layout = StoreLayout(beadsDirectory: beadsDirectory)
        let town =
            isTownStore(beadsDirectory) ? TownPaths(root: (beadsDirectory as NSString).deletingLastPathComponent) : nil
        var settings = LedgerDatabaseSettings()
        if town != nil { settings.store.lockWaitTimeout = .zero }
        let deadline = Date().addingTimeInterval(10)
        while true {
            if let town, NodeForwarding.nodeHoldsLock(town) { throw NodeAppeared() }
            do {
                let db = try LedgerDatabase.open(layout, settings: settings, mode: mode, readyView: readyView)
                warn(db.recovery, console)
                return db
            } catch .store(.locked) where town != nil && Date() < deadline {
                usleep(50_000)
            } catch {
                throw cliError(error)
            }
        }
    }

    /// Prints each of `report.warnings` on stderr as `warning: …` (damaged snapshots, a cut or skipped log tail).
    static func warn(_ report: LedgerStore.RecoveryReport, _ console: Console) {
        for line in report.warnings { console.err("warning: \(line)") }
    }

    /// A ledger or store error as a one-line CLI error with beads-like codes.
    static func cliError(_ error: LedgerDatabaseError) -> CLIError {
        switch error {
        case .notInitialized(let path):
            return CLIError(
                "no beads store found at \(path)", hint: "run 'bd init' to create one (or pass -C DIR / set BEADS_DIR)",
                code: "no_store")
        case .alreadyInitialized: return CLIError(error.description, code: "exists")
        case .logMissing: return CLIError(error.description, code: "no_log")
        case .store(.damagedTail): return CLIError(error.description, code: "damaged_log")
        case .ledger(let e):
            switch e {
            case .beadNotFound: return CLIError(e.description, code: "not_found")
            case .alreadyClaimed(let id, let holder, _, _):
                return CLIError(
                    e.description,
                    hint: "take it over with 'bd update \(id) --claim --force' (recorded in a comment; the lease epoch "
                        + "goes up, so \(holder)'s 'gt done' is refused), or ask \(holder) to release it",
                    code: "claimed")
            case .cycle: return CLIError(e.description, code: "cycle")
            case .decode: return CLIError(e.description, code: "invalid_input")
            default: return CLIError(e.description, code: "invalid")
            }
        case .store(.locked): return CLIError(error.description, code: "locked")
        default: return CLIError(error.description)
        }
    }

    // MARK: Values

    /// beads' priority spellings: `0`–`4` or `P0`–`P4`.
    static func priority(_ text: String, command: String) throws(UsageError) -> Int {
        let digits = text.hasPrefix("P") || text.hasPrefix("p") ? String(text.dropFirst()) : text
        guard let value = Int(digits), (0...4).contains(value) else {
            throw UsageError(
                command: command,
                reason: .invalid("invalid priority '\(text)': use 0 (critical) to 4 (backlog), or P0-P4"))
        }
        return value
    }

    static func status(_ text: String, command: String) throws(UsageError) -> BeadStatus {
        guard let status = BeadStatus(rawValue: text.replacingOccurrences(of: "-", with: "_")) else {
            let valid = BeadStatus.allCases.map(\.rawValue).joined(separator: ", ")
            throw UsageError(command: command, reason: .invalid("unknown status '\(text)': use one of \(valid)"))
        }
        return status
    }

    static func dependencyType(_ text: String, command: String) throws(UsageError) -> DependencyType {
        guard let type = DependencyType(rawValue: text) else {
            let valid = DependencyType.allCases.map(\.rawValue).joined(separator: ", ")
            throw UsageError(
                command: command, reason: .invalid("unknown dependency type '\(text)': use one of \(valid)"))
        }
        return type
    }

    /// `--deps` entries: `type:id` or a bare `id` (blocks), as beads.
    static func dependencies(_ items: [String], command: String) throws(UsageError) -> [DependencyKey] {
        var out: [DependencyKey] = []
        for raw in items {
            let item = raw.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty else { continue }
            if let colon = item.firstIndex(of: ":") {
                let type = try dependencyType(String(item[..<colon]), command: command)
                let target = String(item[item.index(after: colon)...])
                guard !target.isEmpty else {
                    throw UsageError(command: command, reason: .invalid("dependency '\(raw)' has no ID: use type:id"))
                }
                out.append(DependencyKey(dependsOnID: target, type: type))
            } else {
                out.append(DependencyKey(dependsOnID: item, type: .blocks))
            }
        }
        return out
    }

    static func issueType(_ text: String) -> IssueType { IssueType(text) }

    /// Refuses an issue type that is neither built in (`IssueType.known`: beads v0.40.0's plus Gas Town's `rig`
    /// and `convoy`) nor listed in the store's `"types.custom"` (beads' config key), as beads does; exit 2,
    /// nothing stored.
    static func checkIssueType(_ type: IssueType, beadsDirectory: String, command: String) throws(CLIError) {
        if IssueType.known.contains(type) { return }
        let custom = LedgerDatabase.readConfigCustomTypes(StoreLayout(beadsDirectory: beadsDirectory))
        if custom.contains(type.rawValue) { return }
        let valid = (IssueType.known.map(\.rawValue) + custom).joined(separator: ", ")
        throw CLIError(
            "\(command): invalid issue type '\(type.rawValue)': use one of \(valid)",
            hint: "or add it to \"types.custom\" in \(beadsDirectory)/config.json (e.g. \"types.custom\": "
                + "\"\(type.rawValue)\")",
            code: "bad_value", exitCode: .usage)
    }

    /// The scope `requested` names: a scope (prefix) of the store, else, in a town (the store's parent holds
    /// `mayor/rigs.json`), the prefix of the rig of that name from the town's rig registry. Unknown: an error
    /// listing the scopes and the rigs.
    static func resolveScope(
        _ requested: String, state: TownLedgerState, beadsDirectory: String
    ) throws(CLIError)
        -> String
    {
        let name = requested.hasSuffix("-") ? String(requested.dropLast()) : requested
        if state.scopes[name] != nil { return name }
        let rigs = townRigs(beadsDirectory: beadsDirectory)
        if let prefix = rigs[name], state.scopes[prefix] != nil { return prefix }
        let scopes = state.scopeNames.joined(separator: ", ")
        let named = rigs.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
        throw CLIError(
            "no scope or rig named '\(requested)' in \(beadsDirectory): scopes \(scopes)"
                + (rigs.isEmpty ? "" : "; rigs \(named)"),
            hint: rigs.isEmpty && !isTownStore(beadsDirectory)
                ? "pass one of the scopes with --rig"
                : "pass a scope or a rig name with --rig; 'gt rig add' makes a rig",
            code: "not_found")
    }

    /// Whether the store is a town's (`<town>/.beads` beside `mayor/town.json`).
    static func isTownStore(_ beadsDirectory: String) -> Bool {
        let town = (beadsDirectory as NSString).deletingLastPathComponent
        return FileManager.default.fileExists(atPath: TownLayout(root: town).townFile)
    }

    /// The rigs of the town whose store this is (name → prefix), read through the town's one reader of
    /// `mayor/rigs.json`; empty outside a town.
    static func townRigs(beadsDirectory: String) -> [String: String] {
        guard isTownStore(beadsDirectory) else { return [:] }
        let layout = TownLayout(root: (beadsDirectory as NSString).deletingLastPathComponent)
        guard let rigs = try? RigRegistry(layout: layout).rigs() else { return [:] }
        return rigs.mapValues(\.prefix)
    }

    /// A filter from the common filter flags (`-s -p -t -a -l --label-any --parent -n`); absent flags do not filter.
    static func filter(_ parsed: ParsedValues, limitDefault: Int = 0) throws(UsageError) -> BeadFilter {
        var f = BeadFilter()
        for s in parsed.strings("status") { f.statuses.insert(try status(s, command: parsed.commandPath)) }
        for p in parsed.strings("priority") { f.priorities.insert(try priority(p, command: parsed.commandPath)) }
        for t in parsed.strings("type") { f.types.insert(IssueType(t)) }
        f.assignee = parsed.string("assignee")
        f.unassigned = parsed.flag("unassigned")
        f.labels = parsed.strings("label")
        f.labelsAny = parsed.strings("label-any")
        f.parent = parsed.string("parent")
        f.limit = try parsed.int("limit") ?? limitDefault
        if f.limit < 0 { throw parsed.invalid("--limit must be 0 (no limit) or more") }
        return f
    }

    // MARK: Output

    /// Prints `value` as beads' `--json` output: Go's indented encoding with struct key order kept, shaped by
    /// the console's style (legacy: objects get `schema_version`, arrays as they are; envelope: `data`).
    static func printJSON(_ value: LedgerJSON, _ console: Console) {
        var shaped = value
        switch (console.jsonStyle, value) {
        case (.envelope, _):
            shaped = .object([JSONMember("data", value), JSONMember("schema_version", .int(Console.schemaVersion))])
        case (.legacy, .object(var members)):
            members.append(JSONMember("schema_version", .int(Console.schemaVersion)))
            shaped = .object(members)
        default: break
        }
        var out: [UInt8] = []
        indented(shaped, indent: 0, into: &out)
        out.append(0x0A)
        console.stdout.write(String(decoding: out, as: UTF8.self))
    }

    /// Go `json.Encoder` with `SetIndent("", "  ")` over an ordered value.
    static func indented(_ value: LedgerJSON, indent: Int, into out: inout [UInt8]) {
        func pad(_ n: Int) { out.append(contentsOf: repeatElement(0x20, count: n * 2)) }
        switch value {
        case .array(let items) where !items.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                out.append(contentsOf: i == 0 ? [0x0A] : [UInt8(ascii: ","), 0x0A])
                pad(indent + 1)
                indented(item, indent: indent + 1, into: &out)
            }
            out.append(0x0A)
            pad(indent)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                out.append(contentsOf: i == 0 ? [0x0A] : [UInt8(ascii: ","), 0x0A])
                pad(indent + 1)
                LedgerJSON.writeString(m.key, to: &out)
                out.append(contentsOf: [UInt8(ascii: ":"), 0x20])
                indented(m.value, indent: indent + 1, into: &out)
            }
            out.append(0x0A)
            pad(indent)
            out.append(UInt8(ascii: "}"))
        default:
            value.write(to: &out)
        }
    }

    /// A bead in beads' JSON shape with `extra` members appended (as Go's embedded structs do).
    static func beadJSON(_ bead: Bead, adding extra: [JSONMember] = []) -> LedgerJSON {
        guard case .object(let members) = BeadCodec.encode(bead) else { return .null }
        return .object(members + extra)
    }

    /// beads' `list` line: `bd-abc [P2] [task] open @bob [a b] - Title`.
    static func listLine(_ b: Bead) -> String {
        let pin = b.pinned ? "📌 " : ""
        let assignee = b.assignee.isEmpty ? "" : " @\(TerminalText.oneLine(b.assignee))"
        let labels = b.labels.isEmpty ? "" : " [\(TerminalText.oneLine(b.labels.joined(separator: " ")))]"
        return
            "\(pin)\(b.id) [P\(b.priority)] [\(b.issueType.rawValue)] \(b.status.rawValue)"
            + "\(assignee)\(labels) - \(TerminalText.oneLine(b.title))"
    }

    /// The status symbol beads uses in trees: ○ open, ◐ in progress, ● blocked, ✓ closed, ❄ deferred.
    static func statusSymbol(_ s: BeadStatus) -> String {
        switch s {
        case .open: return "○"
        case .inProgress: return "◐"
        case .blocked: return "●"
        case .closed: return "✓"
        case .deferred: return "❄"
        case .pinned: return "📌"
        case .hooked: return "⚓"
        case .tombstone: return "✗"
        }
    }

    /// Looks up a bead by ID across scopes, or throws "no bead …" (code not_found).
    static func bead(_ id: String, in state: TownLedgerState) throws(CLIError) -> (bead: Bead, ledger: Ledger) {
        if let scope = state.scope(forID: id), let ledger = state.scopes[scope], let b = ledger.bead(id) {
            return (b, ledger)
        }
        throw CLIError(LedgerError.beadNotFound(id).description, code: "not_found")
    }

    /// What to tell the user when `id` is a former ID left by a sync re-ID (docs/sync.md "Re-IDs"): the bead it
    /// resolves to, or, when another bead still holds `id` (the one that landed first), which bead was re-IDed.
    static func aliasNote(_ id: String, _ ledger: Ledger) -> String? {
        guard let target = ledger.aliases[id], target != id, let moved = ledger.beads[target] else { return nil }
        if ledger.beads[id] != nil {
            return "\(id) also was the ID of \(target) (\(TerminalText.oneLine(moved.title))), re-IDed by a sync "
                + "merge because another replica minted \(id) first; use \(target) for that bead"
        }
        return "\(id) was re-IDed to \(target) by a sync merge; showing \(target)"
    }

    /// The wall clock now, as a bead timestamp (for ready's defer_until and hybrid sort; reads happen here, in
    /// the shell).
    static func now() -> Timestamp { Timestamp(unixNanos: LedgerDatabaseSettings.systemWallClock()) }

    /// All beads of every scope in `state`, filtered with the same rules as `Ledger.list`.
    static func list(_ state: TownLedgerState, _ filter: BeadFilter) -> [Bead] {
        var unlimited = filter
        unlimited.limit = 0
        return state.scopeNames.flatMap { state.scopes[$0]!.list(unlimited) }
    }
}
