/// Limits for the frame codec. One value per connection purpose.
///
/// `Sendable` because it is a plain value.
public struct FrameLimits: Sendable, Equatable {
    /// Largest payload accepted, in bytes. Checked on the 4-byte length prefix, before any allocation.
    public var maxFrameLength: Int

    public init(maxFrameLength: Int) {
        self.maxFrameLength = maxFrameLength
    }

    /// Default for general connections: 16 MiB.
    public static let general = FrameLimits(maxFrameLength: 16 * 1024 * 1024)
    /// Default for dedicated membership connections: 64 KiB.
    public static let membership = FrameLimits(maxFrameLength: 64 * 1024)
}

/// Frame encoding: a 4-byte big-endian payload length followed by the payload.
///
/// A caseless namespace; nothing to share.
public enum FrameCodec {
    /// Size of the length prefix, in bytes.
    public static let headerLength = 4

    /// Appends one frame holding `payload` to `buffer`.
    /// Fails with `.frameTooLarge` when the payload exceeds `limits` (we never send what the peer must refuse).
    public static func append(
        payload: some Collection<UInt8>, to buffer: inout [UInt8], limits: FrameLimits = .general
    ) throws(WireError) {
        let count = payload.count
        guard count <= limits.maxFrameLength, count <= Int(UInt32.max) else {
            throw .frameTooLarge(length: UInt64(count), limit: limits.maxFrameLength)
        }
        let length = UInt32(count)
        buffer.reserveCapacity(buffer.count + headerLength + count)
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length))
        buffer.append(contentsOf: payload)
    }

    /// One frame holding `payload`.
    public static func encode(
        payload: some Collection<UInt8>, limits: FrameLimits = .general
    ) throws(WireError) -> [UInt8] {
        var buffer: [UInt8] = []
        try append(payload: payload, to: &buffer, limits: limits)
        return buffer
    }
}

/// Incremental frame decoder: feed it byte chunks of any size as they arrive, take complete payloads out.
///
/// The announced length is checked against the limit as soon as the 4 prefix bytes are known, before
/// buffering the payload, so a 4 GiB prefix costs nothing. After an error the decoder stays failed: the
/// connection must be closed (the stream position is lost).
/// `Sendable` because it is a plain value.
public struct FrameDecoder: Sendable {
    /// The limits this decoder enforces. May be lowered once a connection's purpose is known (hello).
    public var limits: FrameLimits
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: WireError?

    public init(limits: FrameLimits = .general) {
        self.limits = limits
    }

    /// Bytes received but not yet returned as a frame (a partial frame, or frames not yet taken).
    public var bufferedByteCount: Int { buffer.count - start }

    /// True when some bytes of an unfinished frame are buffered.
    public var hasPartialFrame: Bool { bufferedByteCount > 0 }

    /// Adds received bytes.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes from raw memory.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        feed(bytes.bindMemory(to: UInt8.self))
    }

    /// The next complete payload, or nil when more bytes are needed.
    public mutating func next() throws(WireError) -> [UInt8]? {
        if let failure { throw failure }
        let available = buffer.count - start
        guard available >= FrameCodec.headerLength else { return nil }
        let length =
            UInt64(buffer[start]) << 24 | UInt64(buffer[start + 1]) << 16 | UInt64(buffer[start + 2]) << 8
            | UInt64(buffer[start + 3])
        guard length <= UInt64(limits.maxFrameLength) else {
            let error = WireError.frameTooLarge(length: length, limit: limits.maxFrameLength)
            failure = error
            buffer = []
            start = 0
            throw error
        }
        let total = FrameCodec.headerLength + Int(length)
        guard available >= total else { return nil }
        let payload = Array(buffer[(start + FrameCodec.headerLength)..<(start + total)])
        start += total
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return payload
    }
}
