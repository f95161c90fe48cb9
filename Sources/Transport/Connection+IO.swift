import COpenSSL
import CShims
import Dispatch
import Foundation
import Wire

extension Connection {
    // MARK: Queue side: events

    func readable() {
        switch state {
        case .handshaking: driveHandshake()
        case .open:
            readLoop()
            if retryLength != nil { flush() }
        default: break
        }
    }

    func writable() {
        switch state {
        case .connecting:
            let code = Socket.pendingError(fd)
            guard code == 0 else {
                shutdown(.system(operation: "connect", errno: code), graceful: false)
                return
            }
            setWriteInterest(false)
            beginTLS()
        case .handshaking: driveHandshake()
        case .open:
            flush()
            if readWantsWrite {
                readWantsWrite = false
                readLoop()
            }
        default: setWriteInterest(false)
        }
    }

    func setWriteInterest(_ wanted: Bool) {
        guard let writeSource, wanted == writeSourceSuspended else { return }
        if wanted { writeSource.resume() } else { writeSource.suspend() }
        writeSourceSuspended = !wanted
    }

    func setReadInterest(_ wanted: Bool) {
        guard let readSource, wanted == readSourceSuspended else { return }
        if wanted { readSource.resume() } else { readSource.suspend() }
        readSourceSuspended = !wanted
    }

    /// Time allowed from start to the peer's hello: shorter on accepted connections, so idle connections
    /// from strangers free their handshake slot soon.
    var handshakeLimit: TimeInterval {
        role == .server ? min(settings.handshakeTimeout, settings.acceptHandshakeTimeout) : settings.handshakeTimeout
    }

    func tick() {
        let now = DispatchTime.now().uptimeNanoseconds
        func elapsed(since start: UInt64) -> TimeInterval { TimeInterval(now &- start) / 1e9 }
        if state == .connecting && elapsed(since: startedAt) > settings.connectTimeout {
            shutdown(.timedOut("TCP connect took longer than \(settings.connectTimeout) s"), graceful: false)
        } else if !established && elapsed(since: startedAt) > handshakeLimit {
            shutdown(.timedOut("no completed handshake and hello within \(handshakeLimit) s"), graceful: false)
        } else if state == .open && decoder.hasPartialFrame && !lock.withLock({ readPaused })
            && elapsed(since: lastReadAt) > settings.partialFrameTimeout
        {
            shutdown(
                .timedOut("a frame was cut off and no byte came for \(settings.partialFrameTimeout) s"), graceful: false
            )
        } else if state == .open && elapsed(since: lastReadAt) > settings.idleTimeout && !lock.withLock({ readPaused })
        {
            shutdown(.timedOut("nothing received for \(settings.idleTimeout) s"), graceful: false)
        }
    }

    // MARK: Queue side: reading

    func readLoop() {
        for _ in 0..<32 {
            guard state == .open, !readSourceSuspended else { return }
            let count: Int
            if let ssl {
                ERR_clear_error()
                let result = SSL_read(ssl, readBuffer, Int32(settings.readChunk))
                if result <= 0 {
                    switch SSL_get_error(ssl, result) {
                    case SSL_ERROR_WANT_READ: return
                    case SSL_ERROR_WANT_WRITE:
                        readWantsWrite = true
                        setWriteInterest(true)
                        return
                    case SSL_ERROR_ZERO_RETURN:
                        shutdown(.closed(reason: "the peer closed the connection"), graceful: false, clean: true)
                        return
                    default:
                        shutdown(.closed(reason: "TLS read failed: \(openSSLErrors())"), graceful: false)
                        return
                    }
                }
                count = Int(result)
            } else {
                let result = Glibc.read(fd, readBuffer, settings.readChunk)
                if result <= 0 {
                    let code = gtshim_errno()
                    if result < 0 && (code == EAGAIN || code == EWOULDBLOCK) { return }
                    if result < 0 && code == EINTR { continue }
                    shutdown(
                        result == 0
                            ? .closed(reason: "the peer closed the connection")
                            : .system(operation: "read", errno: code),
                        graceful: false, clean: result == 0)
                    return
                }
                count = result
            }
            lastReadAt = DispatchTime.now().uptimeNanoseconds
            if ssl != nil { scheduleAckPush() }
            decoder.feed(UnsafeRawBufferPointer(start: readBuffer, count: count))
            var frames: [[UInt8]] = []
            var bytes = 0
            do {
                while let frame = try decoder.next() {
                    bytes += frame.count + FrameCodec.headerLength
                    frames.append(frame)
                }
            } catch {
                shutdown(.protocolViolation(error), graceful: false)
                return
            }
            if !frames.isEmpty { deliver(frames, bytes: bytes) }
        }
        queue.async { self.readLoop() }
    }

    /// After a TCP read: within `acknowledgementDelay` an answer carries the kernel's acknowledgement;
    /// then any acknowledgement still held back is sent and the socket is put back in delayed-ACK mode.
    private func scheduleAckPush() {
        guard let delay = settings.acknowledgementDelay, !ackPushScheduled else { return }
        ackPushScheduled = true
        queue.asyncAfter(deadline: .now() + delay) { [self] in
            ackPushScheduled = false
            guard state == .open, fd >= 0 else { return }
            Socket.pushAckKeepingDelayedAcks(fd)
        }
    }

    private func deliver(_ frames: [[UInt8]], bytes: Int) {
        lock.lock()
        inbound.append(contentsOf: frames)
        inboundBytes += bytes
        var taken: [[UInt8]]?
        let waiting = receiver
        if waiting != nil {
            taken = inbound
            inbound = []
            inboundBytes = 0
            receiver = nil
        }
        let pause = inboundBytes >= settings.inboundBufferLimit
        if pause { readPaused = true }
        lock.unlock()
        if pause { setReadInterest(false) }
        if let waiting, let taken { waiting.resume(returning: taken) }
    }

    private func resumeReading() {
        guard state == .open else { return }
        setReadInterest(true)
        readLoop()
    }

    // MARK: Queue side: writing

    func flush() {
        guard state == .open else { return }
        lock.lock()
        flushScheduled = false
        if !pending.isEmpty {
            if writeOffset == writeBuffer.count {
                writeBuffer.removeAll(keepingCapacity: true)
                writeOffset = 0
                swap(&writeBuffer, &pending)
            } else {
                writeBuffer.append(contentsOf: pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        lock.unlock()
        var written = 0
        writing: while writeOffset < writeBuffer.count {
            let length = retryLength ?? min(writeBuffer.count - writeOffset, settings.writeChunk)
            let offset = writeOffset
            if let ssl {
                ERR_clear_error()
                let result = writeBuffer.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(length)) }
                if result > 0 {
                    retryLength = nil
                    writeOffset += Int(result)
                    written += Int(result)
                    continue
                }
                switch SSL_get_error(ssl, result) {
                case SSL_ERROR_WANT_WRITE:
                    retryLength = length
                    setWriteInterest(true)
                    break writing
                case SSL_ERROR_WANT_READ:
                    retryLength = length
                    break writing
                default:
                    shutdown(.closed(reason: "TLS write failed: \(openSSLErrors())"), graceful: false)
                    return
                }
            } else {
                let result = writeBuffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, length) }
                if result >= 0 {
                    writeOffset += result
                    written += result
                    continue
                }
                let code = gtshim_errno()
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    setWriteInterest(true)
                    break writing
                }
                shutdown(.system(operation: "write", errno: code), graceful: false)
                return
            }
        }
        if writeOffset == writeBuffer.count {
            writeBuffer.removeAll(keepingCapacity: writeBuffer.capacity <= 1 << 20)
            writeOffset = 0
            setWriteInterest(readWantsWrite)
        }
        guard written > 0 else { return }
        lock.lock()
        outstanding -= written
        var woken: [CheckedContinuation<Void, Error>] = []
        if outstanding <= settings.outboundLowWater && !sendWaiters.isEmpty {
            woken = Array(sendWaiters.values)
            sendWaiters = [:]
        }
        lock.unlock()
        for waiter in woken { waiter.resume() }
    }

    // MARK: Queue side: closing

    func shutdown(_ reason: TransportError, graceful: Bool, clean: Bool = false) {
        guard state != .closed else { return }
        if graceful, let ssl, state == .open {
            flush()
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            ERR_clear_error()
        }
        state = .closed
        timer?.cancel()
        for source in [readSource as DispatchSourceProtocol?, writeSource] {
            source?.cancel()
        }
        setReadInterest(true)
        setWriteInterest(true)
        readSource = nil
        writeSource = nil
        timer = nil
        if fd >= 0 {
            Glibc.shutdown(fd, Int32(SHUT_RDWR))
        }
        lock.lock()
        closeReason = reason
        let waitingReceiver = receiver
        receiver = nil
        if !clean {
            inbound = []
            inboundBytes = 0
        }
        let senders = Array(sendWaiters.values)
        sendWaiters = [:]
        pending = []
        let closers = closeWaiters
        closeWaiters = []
        lock.unlock()
        waitingReceiver?.resume(throwing: reason)
        for sender in senders { sender.resume(throwing: reason) }
        handshakeWaiter?.resume(throwing: reason)
        handshakeWaiter = nil
        for closer in closers { closer.resume() }
    }

    // MARK: Caller side

    /// Queues one frame holding `payload`. Returns at once unless more than `outboundHighWater` bytes are
    /// queued, in which case it waits until they drain below `outboundLowWater`.
    public func send(_ payload: [UInt8]) async throws(TransportError) {
        var frame: [UInt8] = []
        do {
            try FrameCodec.append(payload: payload, to: &frame, limits: decoderLimitsForSending)
        } catch {
            throw .protocolViolation(error)
        }
        try await sendFrames(frame)
    }

    /// Queues already-framed bytes (one or more complete frames).
    func sendFrames(_ frames: [UInt8]) async throws(TransportError) {
        let (schedule, over) = try enqueue(frames)
        if schedule { queue.async { self.flush() } }
        if over { try await waitForDrain() }
    }

    /// Appends to the pending output; returns whether a flush must be scheduled and whether to wait.
    private func enqueue(_ frames: [UInt8]) throws(TransportError) -> (Bool, Bool) {
        lock.lock()
        defer { lock.unlock() }
        if let closeReason { throw closeReason }
        pending.append(contentsOf: frames)
        outstanding += frames.count
        let schedule = !flushScheduled
        flushScheduled = true
        return (schedule, outstanding > settings.outboundHighWater)
    }

    private func waitForDrain() async throws(TransportError) {
        let id: UInt64 = lock.withLock {
            nextWaiterID += 1
            return nextWaiterID
        }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    lock.lock()
                    if let closeReason {
                        lock.unlock()
                        continuation.resume(throwing: closeReason)
                    } else if outstanding <= settings.outboundLowWater || Task.isCancelled {
                        lock.unlock()
                        continuation.resume()
                    } else {
                        sendWaiters[id] = continuation
                        lock.unlock()
                    }
                }
            } onCancel: {
                let waiter = lock.withLock { sendWaiters.removeValue(forKey: id) }
                waiter?.resume(throwing: TransportError.cancelled)
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .cancelled
        }
    }

    /// Waits for the next frames (all that are buffered, at least one). Throws once the connection is closed
    /// and everything received before a clean close has been returned. One receiver at a time.
    public func receive() async throws(TransportError) -> [[UInt8]] {
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[[UInt8]], Error>) in
                    lock.lock()
                    if !inbound.isEmpty {
                        let frames = inbound
                        inbound = []
                        inboundBytes = 0
                        let wasPaused = readPaused
                        readPaused = false
                        lock.unlock()
                        if wasPaused { queue.async { self.resumeReading() } }
                        continuation.resume(returning: frames)
                    } else if let closeReason {
                        lock.unlock()
                        continuation.resume(throwing: closeReason)
                    } else if Task.isCancelled {
                        lock.unlock()
                        continuation.resume(throwing: TransportError.cancelled)
                    } else {
                        receiver = continuation
                        let wasPaused = readPaused
                        readPaused = false
                        lock.unlock()
                        if wasPaused { queue.async { self.resumeReading() } }
                    }
                }
            } onCancel: {
                let waiting: CheckedContinuation<[[UInt8]], Error>? = lock.withLock {
                    defer { receiver = nil }
                    return receiver
                }
                waiting?.resume(throwing: TransportError.cancelled)
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .cancelled
        }
    }

    /// Puts frames back at the front of the inbound queue (used after reading the hello).
    func unreceive(_ frames: [[UInt8]]) {
        guard !frames.isEmpty else { return }
        lock.withLock {
            inbound.insert(contentsOf: frames, at: 0)
            inboundBytes += frames.reduce(0) { $0 + $1.count + FrameCodec.headerLength }
        }
    }

    /// Closes the connection: queued frames are flushed as far as the socket takes them, then TLS
    /// close_notify is sent. Safe to call more than once.
    public func close(reason: String = "closed locally") {
        queue.async { self.shutdown(.closed(reason: reason), graceful: true, clean: true) }
    }

    /// Closes at once without close_notify (a peer that broke the rules or was revoked).
    func abort(_ reason: TransportError) {
        queue.async { self.shutdown(reason, graceful: false) }
    }

    /// Returns once the connection is closed.
    public func waitUntilClosed() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if closeReason != nil {
                lock.unlock()
                continuation.resume()
            } else {
                closeWaiters.append(continuation)
                lock.unlock()
            }
        }
    }

    /// The frame limit applied to outgoing frames (the same as for incoming ones).
    var decoderLimitsForSending: FrameLimits { lock.withLock { sendLimits } }
}
