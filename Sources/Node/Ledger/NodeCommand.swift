import Foundation
import Transport
import Wire

/// A `gt` or `bd` command line the local CLI asks the node to run (`command-request`, 240, local only): the
/// node runs the same command tree in its own process, against the ledger it holds, with the caller's working
/// directory and environment, and answers with what the command wrote and its exit status (`NodeCommandReply`),
/// which the CLI prints and returns exactly. JSON body; `stdin` is base64.
///
/// `Sendable`: a plain value.
public struct NodeCommandRequest: Codable, Sendable, Equatable {
    /// `gt` or `bd`.
    public var program: String
    /// The command line after the program name.
    public var arguments: [String]
    /// The caller's absolute working directory.
    public var directory: String
    /// The caller's environment.
    public var environment: [String: String]
    /// The caller's standard input, read whole, for a command that reads it (`bd import -i -`); else nil.
    public var stdin: Data?
    /// Whether the caller's stdout and stderr are terminals.
    public var stdoutIsTerminal: Bool
    public var stderrIsTerminal: Bool

    enum CodingKeys: String, CodingKey {
        case program, arguments, directory, environment, stdin
        case stdoutIsTerminal = "stdout_tty"
        case stderrIsTerminal = "stderr_tty"
    }

    public init(
        program: String, arguments: [String], directory: String, environment: [String: String], stdin: Data? = nil,
        stdoutIsTerminal: Bool = false, stderrIsTerminal: Bool = false
    ) {
        self.program = program
        self.arguments = arguments
        self.directory = directory
        self.environment = environment
        self.stdin = stdin
        self.stdoutIsTerminal = stdoutIsTerminal
        self.stderrIsTerminal = stderrIsTerminal
    }

    /// The message type (local only, answered by the `LedgerActor`).
    public static let messageType = MessageType(rawValue: 240)
    /// Its descriptor.
    public static let descriptor = MessageDescriptor(type: messageType, name: "command-request")
}

/// What a command run by the node wrote, and its exit status. `Sendable`: a plain value.
public struct NodeCommandReply: Codable, Sendable, Equatable {
    public var stdout: Data
    public var stderr: Data
    public var status: Int32

    public init(stdout: Data, stderr: Data, status: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.status = status
    }
}

/// Runs a command line inside the node. The node cannot import the CLI module (the CLI imports the node), so
/// `gt node run` injects the CLI's command runner here (see docs/architecture.md, "Departures").
public protocol NodeCommandExecutor: Sendable {
    /// Runs `request` with `ledger` as the store every ledger access uses; never throws (a failure is a reply
    /// with a non-zero status and the error on stderr).
    func execute(_ request: NodeCommandRequest, ledger: NodeLedgerHandle) async -> NodeCommandReply
}
