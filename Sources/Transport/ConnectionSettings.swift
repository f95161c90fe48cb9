import Foundation

/// Limits and timeouts of one connection, with their defaults.
///
/// `Sendable` because it is a plain value.
public struct ConnectionSettings: Sendable {
    /// Received-but-unconsumed bytes above which reading pauses (TCP then pushes back on the sender).
    /// Default 4 MiB.
    public var inboundBufferLimit = 4 << 20
    /// Queued-but-unsent bytes above which `send` waits. Default 4 MiB.
    public var outboundHighWater = 4 << 20
    /// Waiting senders resume once queued bytes fall to this. Default 1 MiB.
    public var outboundLowWater = 1 << 20
    /// Time allowed for the TCP connect alone. Default 3 s.
    public var connectTimeout: TimeInterval = 3
    /// Time allowed from connect to the peer's hello (TCP connect, TLS handshake, hello). Default 10 s.
    public var handshakeTimeout: TimeInterval = 10
    /// A frame cut off mid-way: the connection is closed when no byte arrives for this long. Default 10 s.
    public var partialFrameTimeout: TimeInterval = 10
    /// No byte at all for this long closes the connection (keep-alives normally prevent it). Default 60 s.
    public var idleTimeout: TimeInterval = 60
    /// Bytes read per `SSL_read` call. Default 64 KiB.
    public var readChunk = 64 << 10
    /// Bytes handed to one `SSL_write` call (up to four 16 KiB records). Default 64 KiB.
    public var writeChunk = 64 << 10

    /// TCP only: after data is read, an answer written within this delay carries the acknowledgement
    /// (delayed ACK); otherwise the acknowledgement is sent when it runs out, and the socket stays in
    /// delayed-ACK mode, so data arriving after a pause is not acknowledged by a segment of its own (Linux
    /// acknowledges such data at once by default: one more segment per request/answer). Nil: the kernel's
    /// default behaviour. Default 20 ms (under Linux's 40 ms minimum delayed-ACK timeout).
    public var acknowledgementDelay: TimeInterval? = 0.02

    /// An accepted connection that has not finished its TLS handshake and hello within this (or
    /// `handshakeTimeout`, if shorter) is closed: an idle TCP connection holds a handshake slot only this long.
    /// Default 3 s.
    public var acceptHandshakeTimeout: TimeInterval = 3
    /// A listener holds at most this many connections in their handshake. When it is full, a new connection
    /// from a host with fewer pending handshakes than the busiest host takes the place of that host's oldest one;
    /// otherwise it is closed at once. Established connections never count and are never closed for it.
    /// Default 256.
    public var maxPendingHandshakes = 256
    /// A TCP listener holds at most this many connections in their handshake from one source host; more from
    /// that host are closed at once. The Unix socket has only the total cap. Default 16.
    public var maxPendingHandshakesPerHost = 16

    /// Listen backlog of TCP and Unix listeners. Default 128.
    public var listenBacklog: Int32 = 128

    public init() {}

    /// How often the connection checks its timeouts: a quarter of the shortest one, between 10 ms and 1 s.
    var tickInterval: TimeInterval {
        min(1, max(0.01, min(connectTimeout, handshakeTimeout, acceptHandshakeTimeout, partialFrameTimeout, idleTimeout) / 4))
    }
}
