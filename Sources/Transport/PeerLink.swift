import Dispatch
import Foundation
import Wire

/// A message delivered to upper layers (the node's actors), with the verified peer it came from.
///
/// `Sendable` because it is a plain value.
public struct InboundMessage: Sendable {
    public var envelope: Envelope
    public var peer: PeerInfo
}

/// What upper layers implement to receive messages. For a request, the returned bytes are the response
/// body; throwing an `ErrorReply` sends it as the error reply. For one-way messages the result is ignored.
/// Handlers of one-way messages on one connection run in arrival order; requests run concurrently.
public typealias InboundHandler = @Sendable (InboundMessage) async throws -> [UInt8]

/// One established, hello-checked connection to a peer, with request/response bookkeeping.
///
/// `@unchecked Sendable`: mutable state (pending requests, counters) is guarded by `lock`; the connection
/// is itself thread-safe.
public final class PeerLink: @unchecked Sendable {
    public let connection: Connection
    public let peer: PeerInfo
    let local: NodeName
    let registry: MessageRegistry
    let handler: InboundHandler

    private enum Slot {
        case registered
        case waiting(CheckedContinuation<Envelope, Error>)
        case done(Result<Envelope, TransportError>)
    }

    private let lock = NSLock()
    private var retiring = false
    private var inboundRequestsInFlight = 0
    /// Called once when the peer says goodbye on this link (the manager stops using it).
    var onGoodbye: (@Sendable () -> Void)?
    private var slots: [UInt64: Slot] = [:]
    private var nextRequestID: UInt64 = 0
    private var lastActivity = DispatchTime.now().uptimeNanoseconds

    /// Wraps an established connection (from `Dialer` or `Listener`). Call `run()` to start reading.
    public init(
        connection: Connection, peer: PeerInfo, local: NodeName, registry: MessageRegistry = .core,
        handler: @escaping InboundHandler
    ) {
        self.connection = connection
        self.peer = peer
        self.local = local
        self.registry = registry
        self.handler = handler
    }

    /// Seconds since a frame was last received on this link.
    var idleSeconds: TimeInterval {
        TimeInterval(DispatchTime.now().uptimeNanoseconds &- lock.withLock { lastActivity }) / 1e9
    }

    /// Sends a one-way message.
    public func send(_ type: MessageType, body: [UInt8], epoch: UInt64 = 0) async throws(TransportError) {
        let envelope = Envelope(
            version: peer.version, kind: .oneWay, type: type, sender: local, epoch: epoch, body: body)
        try await connection.send(envelope.encoded())
    }

    /// Sends a request and waits for its response (or error reply) for at most `timeout` seconds.
    /// Cancelling the calling task abandons the request with `.cancelled`.
    public func request(
        _ type: MessageType, body: [UInt8], epoch: UInt64 = 0, timeout: TimeInterval
    ) async throws(TransportError) -> Envelope {
        let id: UInt64 = lock.withLock {
            nextRequestID += 1
            slots[nextRequestID] = .registered
            return nextRequestID
        }
        let envelope = Envelope(
            version: peer.version, kind: .request, type: type, requestID: id, sender: local, epoch: epoch, body: body)
        do {
            try await connection.send(envelope.encoded())
        } catch {
            _ = lock.withLock { slots.removeValue(forKey: id) }
            throw error
        }
        let timer = DispatchWorkItem { [weak self] in
            self?.resolve(
                id, .failure(.timedOut("no answer from \(self?.peer.name.rawValue ?? "peer") within \(timeout) s")))
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        defer { timer.cancel() }
        let response: Envelope
        do {
            response = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Envelope, Error>) in
                    let ready: Result<Envelope, TransportError>? = lock.withLock {
                        switch slots[id] {
                        case .done(let result):
                            slots[id] = nil
                            return result
                        case .registered:
                            slots[id] = .waiting(continuation)
                            return nil
                        case .waiting, nil:
                            return .failure(.cancelled)
                        }
                    }
                    if let ready { continuation.resume(with: ready.mapError { $0 as Error }) }
                }
            } onCancel: {
                self.resolve(id, .failure(.cancelled))
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .cancelled
        }
        if response.kind == .error {
            throw .remoteError(
                (try? ErrorReply.decode(response.body))
                    ?? ErrorReply(code: .internalError, message: "unreadable error reply"))
        }
        return response
    }

    private func resolve(_ id: UInt64, _ result: Result<Envelope, TransportError>) {
        let (continuation, closeNow): (CheckedContinuation<Envelope, Error>?, Bool) = lock.withLock {
            var continuation: CheckedContinuation<Envelope, Error>?
            switch slots[id] {
            case .registered:
                slots[id] = .done(result)
            case .waiting(let waiting):
                slots[id] = nil
                continuation = waiting
            case .done, nil:
                break
            }
            return (continuation, retiring && slots.isEmpty && inboundRequestsInFlight == 0)
        }
        continuation?.resume(with: result.mapError { $0 as Error })
        if closeNow { connection.close(reason: "\(peer.name) said goodbye") }
    }

    /// The peer said goodbye: stop using the link, and close it once our pending requests are answered.
    private func retire() {
        let (closeNow, callback): (Bool, (@Sendable () -> Void)?) = lock.withLock {
            let first = !retiring
            retiring = true
            return (slots.isEmpty && inboundRequestsInFlight == 0, first ? onGoodbye : nil)
        }
        callback?()
        if closeNow { connection.close(reason: "\(peer.name) said goodbye") }
    }

    /// Reads frames until the connection closes, answering pings, pairing responses with requests and
    /// handing everything else to the handler. Returns the reason the connection closed.
    public func run() async -> TransportError {
        var closeReason = TransportError.closed(reason: "closed")
        reading: while true {
            let frames: [[UInt8]]
            do {
                frames = try await connection.receive()
            } catch {
                closeReason = error
                break reading
            }
            lock.withLock { lastActivity = DispatchTime.now().uptimeNanoseconds }
            for frame in frames {
                let envelope: Envelope
                do {
                    envelope = try Envelope.decode(frame, peer: peer.name)
                } catch {
                    connection.abort(.protocolViolation(error))
                    closeReason = .protocolViolation(error)
                    break reading
                }
                guard envelope.sender == peer.name else {
                    let error = TransportError.helloRejected(
                        "a message claims to be from \(envelope.sender), not \(peer.name)")
                    connection.abort(error)
                    closeReason = error
                    break reading
                }
                await dispatch(envelope)
            }
        }
        let abandoned: [UInt64] = lock.withLock { Array(slots.keys) }
        for id in abandoned { resolve(id, .failure(closeReason)) }
        return closeReason
    }

    private func dispatch(_ envelope: Envelope) async {
        switch registry.check(envelope, negotiatedVersion: peer.version, local: local) {
        case .drop: return
        case .reply(let reply):
            try? await connection.send(reply.encoded())
            return
        case .deliver: break
        }
        switch envelope.kind {
        case .response, .error:
            resolve(envelope.requestID, .success(envelope))
        case .oneWay:
            if envelope.type == .goodbye {
                retire()
                return
            }
            _ = try? await handler(InboundMessage(envelope: envelope, peer: peer))
        case .request:
            if envelope.type == .ping {
                let pong = Envelope(
                    version: peer.version, kind: .response, type: .ping, requestID: envelope.requestID, sender: local,
                    body: envelope.body)
                try? await connection.send(pong.encoded())
                return
            }
            let message = InboundMessage(envelope: envelope, peer: peer)
            lock.withLock { inboundRequestsInFlight += 1 }
            Task { [self] in
                var reply: Envelope
                do {
                    let body = try await handler(message)
                    reply = Envelope(
                        version: peer.version, kind: .response, type: envelope.type, requestID: envelope.requestID,
                        sender: local, body: body)
                } catch let error as ErrorReply {
                    reply = envelope.errorReply(error, from: local)
                } catch {
                    reply = envelope.errorReply(ErrorReply(code: .internalError, message: "\(error)"), from: local)
                }
                reply.version = peer.version
                try? await connection.send(reply.encoded())
                let closeNow = lock.withLock {
                    inboundRequestsInFlight -= 1
                    return retiring && slots.isEmpty && inboundRequestsInFlight == 0
                }
                if closeNow { connection.close(reason: "\(peer.name) said goodbye") }
            }
        }
    }
}
