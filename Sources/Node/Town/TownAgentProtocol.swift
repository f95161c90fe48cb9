import Foundation
import Town
import Transport
import Wire

/// The agent-facing town commands as requests to the running node over `node.sock` (DESIGN §3, §10): one local
/// message type, `town-agent` (220), whose JSON body names the operation. The node runs the same
/// `TownWorkflow` code the embedded mode runs and answers with the operation's result as JSON; a refusal comes
/// back as an error reply whose message is the `TownError`'s text. Refused from peers.
/// `Sendable`: a plain value.
public struct TownAgentRequest: Codable, Sendable, Equatable {
    /// The operations.
    public enum Operation: String, Codable, Sendable {
        case done, hook, prime, handoff
        case mailSend = "mail-send"
        case mailInbox = "mail-inbox"
        case mailRead = "mail-read"
        case mailReply = "mail-reply"
    }

    public var operation: Operation
    /// The caller's working directory (finds the worktree and its hook).
    public var directory: String
    /// Mail: the sender or reader's address.
    public var identity: String?
    public var to: String?
    public var subject: String?
    public var body: String?
    /// Mail: the message read or replied to.
    public var id: String?
    /// Inbox: include read messages.
    public var all: Bool?
    /// Handoff: the note mailed to the next session.
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case operation = "op"
        case directory, identity, to, subject, body, id, all, note
    }

    /// A request; see the properties.
    public init(
        _ operation: Operation, directory: String, identity: String? = nil, to: String? = nil, subject: String? = nil,
        body: String? = nil, id: String? = nil, all: Bool? = nil, note: String? = nil
    ) {
        self.operation = operation
        self.directory = directory
        self.identity = identity
        self.to = to
        self.subject = subject
        self.body = body
        self.id = id
        self.all = all
        self.note = note
    }

    /// The message type (local only).
    public static let messageType = MessageType(rawValue: 220)
    /// Its descriptor.
    public static let descriptor = MessageDescriptor(type: messageType, name: "town-agent")

    /// Runs the request against `workflow` and returns the JSON of its result.
    public func perform(on workflow: TownWorkflow) async throws(TownError) -> [UInt8] {
        switch operation {
        case .done: return NodeJSON.encode(try await workflow.done(from: directory))
        case .hook: return NodeJSON.encode(try await workflow.hooks(from: directory))
        case .prime: return NodeJSON.encode(["prime": try await workflow.prime(from: directory)])
        case .handoff: return NodeJSON.encode(["session": try await workflow.handoff(from: directory, note: note)])
        case .mailSend:
            return NodeJSON.encode(
                try await workflow.sendMail(
                    from: identity ?? "overseer", to: to ?? "", subject: subject ?? "", body: body ?? "", replyTo: nil))
        case .mailInbox:
            return NodeJSON.encode(try await workflow.inbox(for: identity ?? "overseer", all: all ?? false))
        case .mailRead: return NodeJSON.encode(try await workflow.readMail(id ?? ""))
        case .mailReply:
            return NodeJSON.encode(
                try await workflow.replyMail(
                    to: id ?? "", from: identity ?? "overseer", body: body ?? "", subject: subject))
        }
    }
}

/// How an agent-facing command reaches the workflow: through the node when the town has one, else embedded.
/// A caseless namespace.
public enum TownAgentChannel {
    /// Settings of the channel. `Sendable`: plain values.
    public struct Settings: Sendable, Equatable {
        /// How long a command waits for the town's node to come back when it is down (it never writes around
        /// it). Default 60 s.
        public var nodeWait: Duration = .seconds(60)
        /// How often it tries the socket while waiting. Default 250 ms.
        public var retryInterval: Duration = .milliseconds(250)
        /// The longest one request may take (a `gt done` pushes). Default 300 s.
        public var requestTimeout: TimeInterval = 300
        public init() {}
    }

    /// Whether the town has a node of its own (an identity made by `gt cluster init` or `gt node join`): then
    /// agent-facing commands go through it.
    public static func townHasNode(_ layout: TownLayout) -> Bool {
        FileManager.default.fileExists(atPath: layout.stateDirectory + "/pki/node.crt")
    }

    /// Sends `request` to the town's node and decodes the answer. When the node does not answer (down, or
    /// restarting), calls `notice` once and retries every `retryInterval` for up to `nodeWait`, then fails
    /// saying so. A refusal by the workflow is thrown as `TownError.refusedByNode` with its text.
    public static func send<Response: Decodable>(
        _ request: TownAgentRequest, to layout: TownLayout, as: Response.Type, settings: Settings = Settings(),
        notice: @Sendable (String) -> Void
    ) async throws(TownError) -> Response {
        let paths = TownPaths(root: layout.root)
        let deadline = ContinuousClock.now + settings.nodeWait
        var announced = false
        while true {
            let failure: String
            do {
                let client = try await NodeClient.connect(paths)
                defer { client.close() }
                let reply = try await client.requestRaw(
                    TownAgentRequest.messageType, body: NodeJSON.encode(request), timeout: settings.requestTimeout)
                do { return try NodeJSON.decode(Response.self, from: reply.body) } catch {
                    throw TownError.io("the node's answer did not decode: \(error.message)")
                }
            } catch let error as TownError {
                throw error
            } catch let error as TransportError {
                if case .remoteError(let reply) = error {
                    guard reply.code == .unavailable else { throw .refusedByNode(reply.message) }
                    failure = "the node is starting"
                } else {
                    failure = "\(error)"
                }
            } catch {
                failure = "\(error)"
            }
            guard ContinuousClock.now < deadline else {
                throw .nodeDown(
                    "the town's node did not answer within \(settings.nodeWait) (\(failure)); start it with 'gt up' "
                        + "and run the command again")
            }
            if !announced {
                notice("the town's node is not answering (\(failure)); waiting up to \(settings.nodeWait) for it")
                announced = true
            }
            try? await Task.sleep(for: settings.retryInterval)
        }
    }
}
