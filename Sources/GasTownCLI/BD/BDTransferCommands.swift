import Beads
import Foundation
import LedgerStore

/// `bd import -i FILE`: imports beads' JSONL, all or nothing.
public struct BDImportCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "import", abstract: "Import issues from JSONL (all or nothing)",
            discussion: """
                Each line is one issue in beads' export shape; an issue with an existing ID replaces it. A bad line
                stops the import with its line number and field, and nothing is imported.
                """,
            options: [.option("input", short: "i", value: "FILE", help: "JSONL file to read ('-' for stdin)")],
            arguments: [ArgumentSpec("file", help: "JSONL file (alternative to -i)", arity: .optional)])
    }

    var input: String
    public init(parsed: ParsedValues) throws(UsageError) {
        guard let file = parsed.string("input") ?? parsed.optionalArgument("file") else {
            throw parsed.invalid("no input: pass -i FILE")
        }
        input = file
    }

    /// What an import did.
    struct Outcome: Sendable {
        var created = 0
        var updated = 0
        var unchanged = 0
    }

    public func run(_ context: CommandContext) async throws {
        let path = input == "-" ? "/dev/stdin" : context.absolutePath(input)
        let actor = await context.actor()
        let standardInput = input == "-" ? await CommandInput.readAll() : nil
        let outcome: Outcome = try await BDSupport.withLedger(context, mode: .write) { db in
            guard let data = standardInput ?? FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read \(path)", hint: "check the path given to -i", code: "not_found")
            }
            let beads: [Bead]
            let text: String
            switch TerminalText.decodeUTF8([UInt8](data)) {
            case .success(let decoded): text = decoded
            case .failure(let bad):
                throw CLIError("import failed, nothing imported: \(path): \(bad)", code: "invalid_input")
            }
            do { beads = try BeadCodec.decodeJSONL(text) } catch {
                throw CLIError("import failed, nothing imported: \(path): \(error)", code: "invalid_input")
            }
            return try BDImportCommand.importAll(beads, db: db, actor: actor)
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .object([
                    JSONMember("created", .int(outcome.created)), JSONMember("updated", .int(outcome.updated)),
                    JSONMember("unchanged", .int(outcome.unchanged)),
                ]), context.console)
        } else {
            context.console.out(
                "Import complete: \(outcome.created) created, \(outcome.updated) updated, \(outcome.unchanged) unchanged"
            )
        }
    }

    /// Routes every bead to its scope, checks every scope's import op, then writes them (one WAL record per scope).
    static func importAll(_ beads: [Bead], db: any LedgerAccess, actor: String) throws -> Outcome {
        var outcome = Outcome()
        let plan: [String: [Bead]] = try db.read { state in
            var byScope: [String: [Bead]] = [:]
            for (i, b) in beads.enumerated() {
                guard let scope = state.scope(forID: b.id) else {
                    throw CLIError(
                        "import failed, nothing imported: issue \(i + 1) (\(b.id)): no scope of this store has its "
                            + "prefix (scopes: \(state.scopeNames.joined(separator: ", ")))",
                        hint: "run 'bd init --prefix \(BeadID.prefix(of: b.id) ?? "PREFIX")' in another directory, or "
                            + "rename the IDs", code: "invalid_input")
                }
                byScope[scope, default: []].append(b)
                if let old = state.scopes[scope]!.beads[b.id] {
                    if old == b { outcome.unchanged += 1 } else { outcome.updated += 1 }
                } else {
                    outcome.created += 1
                }
            }
            for (scope, list) in byScope {
                let probe = LedgerOp(
                    actor: actor, stamp: .zero, time: Timestamp(unixNanos: 0), change: .importBeads(list))
                do { try state.scopes[scope]!.check(probe) } catch {
                    throw CLIError("import failed, nothing imported: \(error)", code: "invalid_input")
                }
            }
            return byScope
        }
        for scope in plan.keys.sorted() {
            _ = try db.write(scope: scope, routing: nil) { (_, clock) throws(LedgerError) -> LedgerOp in
                LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: .importBeads(plan[scope]!))
            }
        }
        return outcome
    }
}

/// `bd export [-o FILE]`: every issue as sorted JSONL in beads' export shape; also refreshes the store's per-scope
/// `export/<scope>/issues.jsonl` and `stamps.jsonl`. Ephemeral beads (wisps) are left out, as beads' export does and
/// as the sync does; `--include-ephemeral` keeps them.
public struct BDExportCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "export", abstract: "Export issues to JSONL (sorted by ID)",
            options: [
                .option("output", short: "o", value: "FILE", help: "write to FILE (atomically) instead of stdout"),
                .option(
                    "format", short: "f", value: "FORMAT", type: .choice(["jsonl"]), help: "export format",
                    default: "jsonl"),
                FilterFlags.status,
                .flag("include-ephemeral", help: "also export ephemeral beads (wisps), which are never synced"),
            ])
    }

    var output: String?
    var statuses: Set<BeadStatus> = []
    var includeEphemeral = false
    public init(parsed: ParsedValues) throws(UsageError) {
        output = parsed.string("output")
        includeEphemeral = parsed.flag("include-ephemeral")
        for s in parsed.strings("status") { statuses.insert(try BDSupport.status(s, command: parsed.commandPath)) }
    }

    public func run(_ context: CommandContext) async throws {
        let statuses = self.statuses
        let includeEphemeral = self.includeEphemeral
        let text: String = try await BDSupport.withLedger(context, mode: .read) { db in
            _ = try db.exportScopes()
            return db.read { state in
                let all = state.scopeNames.flatMap { state.scopes[$0]!.beads.values }
                return BeadCodec.encodeJSONL(
                    all.filter {
                        (includeEphemeral || !$0.ephemeral) && (statuses.isEmpty || statuses.contains($0.status))
                    })
            }
        }
        if let output {
            let path = context.absolutePath(output)
            try await BlockingWork.run { () throws in
                do throws(StoreError) { try AtomicFile.write(Array(text.utf8), to: path) } catch {
                    throw CLIError(error.description, code: "io")
                }
            }
            let count = text.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            if context.jsonMode {
                BDSupport.printJSON(
                    .object([JSONMember("path", .string(path)), JSONMember("exported", .int(count))]),
                    context.console)
            } else {
                context.console.err("Exported \(count) issues to \(path)")
            }
        } else {
            context.console.stdout.write(text)
        }
    }
}
