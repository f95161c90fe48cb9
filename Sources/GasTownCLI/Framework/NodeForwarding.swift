import Foundation
import LedgerStore
import Node
import Town
import Transport
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// Where a command runs when its town's node runs (DESIGN §3): through `node.sock` (the node runs the same
/// command tree in its process against the ledger it holds) or always in this process.
///
/// A caseless namespace.
public enum CommandPlacement {
    /// Commands that always run in the calling process: the node's own life cycle and identity, town creation,
    /// store creation, and those that touch no ledger. Everything else goes through the node when it runs.
    static let local: Set<[String]> = [
        ["gt", "install"], ["gt", "where"], ["gt", "version"], ["gt", "up"], ["gt", "down"], ["gt", "status"],
        ["gt", "node"], ["gt", "cluster"], ["gt", "toml"], ["bd", "init"], ["bd", "where"], ["bd", "version"],
        // It follows the node's dashboard API from this process (and never ends, so it could not be forwarded).
        ["gt", "feed"],
    ]

    /// Last path words of commands that only read: safe to send again when the node went away mid-request.
    static let readOnlyVerbs: Set<String> = [
        "show", "list", "search", "ready", "blocked", "count", "stats", "tree", "cycles", "export", "inbox", "status",
        "at", "where", "prime",
    ]

    /// Whether `parsed` runs in the node when the node runs.
    public static func runsInNode(_ parsed: ParsedCommand) -> Bool {
        let names = parsed.pathNames
        guard names.count > 1 else { return false }
        return !local.contains(Array(names.prefix(2)))
    }

    /// Whether `parsed` only reads (a second send cannot do anything twice).
    static func readsOnly(_ parsed: ParsedCommand) -> Bool {
        if parsed.pathNames == ["bd", "comments"] { return true }
        if parsed.pathNames == ["bd", "sync"] { return parsed.values.flag("status") }
        return readOnlyVerbs.contains(parsed.pathNames.last ?? "")
    }
}

/// The CLI's side of command forwarding: finds whether a node runs for the command's town and, when one does,
/// sends the command line to it and prints what it answers. A `bd` store outside any town, and a town whose node
/// does not run, use embedded mode (the command opens the store itself).
///
/// A caseless namespace.
enum NodeForwarding {
    /// How long a command waits for a node that holds the town's lock but does not answer yet (starting, or
    /// restarting its ledger): `$GT_NODE_WAIT` seconds, default 30.
    static func waitSeconds(_ environment: [String: String]) -> Double {
        environment["GT_NODE_WAIT"].flatMap(Double.init).map { max(0, $0) } ?? 30
    }

    /// The town whose node would hold the ledger this command uses, or nil (embedded).
    static func town(for context: CommandContext) -> TownPaths? {
        if context.program.name == "bd" {
            guard let store = try? context.beadsStore().path else { return nil }
            let root = (store as NSString).deletingLastPathComponent
            guard FileManager.default.fileExists(atPath: root + "/mayor/town.json"),
                (store as NSString).lastPathComponent == ".beads"
            else { return nil }
            return TownPaths(root: root)
        }
        guard let root = try? context.townRoot().path,
            FileManager.default.fileExists(atPath: root + "/mayor/town.json")
        else { return nil }
        return TownPaths(root: root)
    }

    /// Whether a node holds `town`'s lock (`NodeLedgerHandle.nodeHoldsLock`).
    static func nodeHoldsLock(_ town: TownPaths) -> Bool { NodeLedgerHandle.nodeHoldsLock(town) }

    /// Runs `parsed` through the town's node when one runs; nil when none does (the caller runs it embedded).
    static func forward(
        _ words: [String], parsed: ParsedCommand, context: CommandContext, stdout: any OutputSink,
        stderr: any OutputSink
    ) async -> ExitCode? {
        guard CommandPlacement.runsInNode(parsed), let town = town(for: context), nodeHoldsLock(town) else {
            return nil
        }
        var stdin: Data?
        if readsStandardInput(parsed) {
            stdin = await BlockingWork.run { FileHandle.standardInput.readDataToEndOfFile() }
        }
        let request = NodeCommandRequest(
            program: context.program.name, arguments: words, directory: context.cwd, environment: context.environment,
            stdin: stdin, stdoutIsTerminal: isatty(1) != 0, stderrIsTerminal: isatty(2) != 0)
        let body = NodeJSON.encode(request)
        let wait = waitSeconds(context.environment)
        let deadline = Date().addingTimeInterval(wait)
        let retrySafe = CommandPlacement.readsOnly(parsed)
        var announced = false
        while true {
            let why: String
            switch await attempt(body, town: town) {
            case .answered(let reply):
                if !reply.stdout.isEmpty { stdout.write(String(decoding: reply.stdout, as: UTF8.self)) }
                if !reply.stderr.isEmpty { stderr.write(String(decoding: reply.stderr, as: UTF8.self)) }
                return ExitCode(reply.status)
            case .refused(let message):
                context.console.reportError(
                    "the town's node refused the command: \(message)", hint: nil, code: "refused")
                return .failure
            case .lostAfterSending(let message) where !retrySafe:
                context.console.reportError(
                    "the town's node stopped while running the command (\(message)); it may or may not have completed",
                    hint: "check the result (bd show, gt hook) before running it again", code: "node_lost")
                return .failure
            case .lostAfterSending(let message), .notReady(let message):
                why = message
            }
            if !nodeHoldsLock(town) {
                // The node stopped before the command ran: nothing holds the store now, so embedded mode is safe.
                return nil
            }
            guard Date() < deadline else {
                context.console.reportError(
                    "the town's node holds the ledger but did not run the command within \(Int(wait)) s (\(why))",
                    hint: "see \(town.logFile); 'gt down' stops it, then commands run without it", code: "node_busy")
                return .failure
            }
            if !announced {
                announced = true
                context.console.err("waiting up to \(Int(wait))s for the node of \(town.root) (\(why)) …")
            }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    enum Outcome {
        case answered(NodeCommandReply)
        /// Not run: no answer on the socket, or the ledger not open yet.
        case notReady(String)
        /// Sent, then the connection was lost: it may have run.
        case lostAfterSending(String)
        /// The node refused it (it runs no commands, or the request was malformed).
        case refused(String)
    }

    /// One try: connect, check the link is served (a ping), send the command, wait for its answer.
    static func attempt(_ body: [UInt8], town: TownPaths) async -> Outcome {
        let client: NodeClient
        do { client = try await NodeClient.connect(town) } catch { return .notReady(error.description) }
        defer { client.close() }
        do { _ = try await client.requestRaw(.ping, body: [], timeout: 5) } catch {
            return .notReady("\(error)")
        }
        let envelope: Envelope
        do {
            envelope = try await client.requestRaw(NodeCommandRequest.messageType, body: body, timeout: 7 * 86_400)
        } catch {
            if case .remoteError(let reply) = error {
                return reply.code == .unavailable ? .notReady(reply.message) : .refused(reply.message)
            }
            return .lostAfterSending("\(error)")
        }
        do { return .answered(try NodeJSON.decode(NodeCommandReply.self, from: envelope.body)) } catch {
            return .refused("its answer did not decode: \(error.message)")
        }
    }

    /// Whether the command reads its standard input (`bd import -i -`).
    static func readsStandardInput(_ parsed: ParsedCommand) -> Bool {
        parsed.pathNames == ["bd", "import"] && parsed.values.string("input") == "-"
    }
}

/// Thrown by embedded mode when the town's node started while the command was about to open the store (nothing
/// opened or written): the runner sends the command to the node instead.
struct NodeAppeared: Error {}

/// The standard input a forwarded command was sent (`NodeCommandRequest.stdin`), while the node runs it.
enum CommandInput {
    @TaskLocal static var forwarded: Data?

    /// The command's standard input, read whole: what the client sent when running in the node, else this
    /// process's stdin.
    static func readAll() async -> Data {
        if let forwarded { return forwarded }
        return await BlockingWork.run { FileHandle.standardInput.readDataToEndOfFile() }
    }
}

/// Runs the CLI's command lines inside the node (injected by `gt node run`; see `NodeCommandExecutor`): the same
/// `CommandRunner` with the caller's directory and environment, output to buffers, and every ledger access on
/// the store the node holds (`NodeLedgerHandle.current`).
///
/// `Sendable`: no state.
public struct CLICommandExecutor: NodeCommandExecutor {
    public init() {}

    public func execute(_ request: NodeCommandRequest, ledger: NodeLedgerHandle) async -> NodeCommandReply {
        let program: ProgramSpec
        switch request.program {
        case "gt": program = GT.program
        case "bd": program = BD.program
        default:
            return NodeCommandReply(
                stdout: Data(), stderr: Data("the node runs gt and bd commands, not '\(request.program)'\n".utf8),
                status: ExitCode.usage.rawValue)
        }
        let out = BufferSink()
        let err = BufferSink()
        let code = await NodeLedgerHandle.$current.withValue(ledger) {
            await HeldTownLedgers.$current.withValue(ledger) {
                await CommandInput.$forwarded.withValue(request.stdin) {
                    await CommandRunner.run(
                        [program.name] + request.arguments, program: program, stdout: out, stderr: err,
                        environment: request.environment, cwd: request.directory)
                }
            }
        }
        return NodeCommandReply(stdout: Data(out.text.utf8), stderr: Data(err.text.utf8), status: code.rawValue)
    }
}
