import CShims
import Foundation
import Wire

/// Where a peer listens: `host:port` over TCP, or a Unix socket path.
///
/// `Sendable` because it is a plain value.
public enum PeerAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case unix(path: String)

    /// Parses `HOST:PORT`, `[IPv6]:PORT`, or `unix:PATH`.
    public init(parsing text: String) throws(TransportError) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw .badAddress(text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .badAddress(text) }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// Thin non-blocking socket calls. Every function returns a file descriptor or throws `.system`. `package`: the
/// dashboard's HTTP server (module Dashboard) listens and accepts with them too.
package enum Socket {
    static func resolve(host: String, port: UInt16, passive: Bool) throws(TransportError) -> (Int32, [UInt8]) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw .badAddress("\(host):\(port) (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(result) }
        let bytes = Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        return (first.pointee.ai_family, bytes)
    }

    static func make(family: Int32) throws(TransportError) -> Int32 {
        let fd = socket(
            family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(operation: "socket", errno: gtshim_errno()) }
        return fd
    }

    package static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends the acknowledgement the kernel holds back for received data now, if any, and leaves the socket
    /// in delayed-acknowledgement mode (Linux `TCP_QUICKACK` 2, then 0), so the next small message the
    /// peer sends is acknowledged with our answer instead of a segment of its own. Without it Linux
    /// acknowledges at once any data that arrives after a pause, and a probe costs four segments, not three.
    static func pushAckKeepingDelayedAcks(_ fd: Int32) {
        var push: Int32 = 2
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &push, socklen_t(MemoryLayout<Int32>.size))
        var delayed: Int32 = 0
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &delayed, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening TCP socket; returns the fd and the bound port (useful with port 0).
    package static func listenTCP(
        host: String, port: UInt16, backlog: Int32
    ) throws(TransportError) -> (Int32, UInt16) {
        let (family, address) = try resolve(host: host, port: port, passive: true)
        let fd = try make(family: family)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = gtshim_errno()
            close(fd)
            throw .system(operation: "listen on \(host):\(port)", errno: code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let boundPort: UInt16 = withUnsafeBytes(of: &storage) { raw in
            // sin_port and sin6_port sit at the same offset (2), in network byte order.
            UInt16(raw[2]) << 8 | UInt16(raw[3])
        }
        return (fd, boundPort)
    }

    static func unixAddress(_ path: String) throws(TransportError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .badAddress("unix:\(path) (path too long for a Unix socket)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// A listening Unix socket at `path`, mode 0600 (an old socket file there is replaced).
    static func listenUnix(path: String, backlog: Int32) throws(TransportError) -> Int32 {
        var address = try unixAddress(path)
        let fd = try make(family: AF_UNIX)
        unlink(path)
        let previousMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(previousMask)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, backlog) == 0 else {
            let code = gtshim_errno()
            close(fd)
            throw .system(operation: "listen on unix:\(path)", errno: code)
        }
        return fd
    }

    /// Starts a non-blocking connect; returns the fd (the connect completes when it becomes writable).
    static func startConnect(to address: PeerAddress) throws(TransportError) -> Int32 {
        switch address {
        case .tcp(let host, let port):
            let (family, bytes) = try resolve(host: host, port: port, passive: false)
            let fd = try make(family: family)
            setNoDelay(fd)
            let status = bytes.withUnsafeBytes {
                connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
            }
            let code = gtshim_errno()
            guard status == 0 || code == EINPROGRESS else {
                close(fd)
                throw .system(operation: "connect to \(address)", errno: code)
            }
            return fd
        case .unix(let path):
            var unixAddress = try unixAddress(path)
            let fd = try make(family: AF_UNIX)
            let status = withUnsafePointer(to: &unixAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            let code = gtshim_errno()
            guard status == 0 || code == EINPROGRESS || code == EAGAIN else {
                close(fd)
                throw .system(operation: "connect to \(address)", errno: code)
            }
            return fd
        }
    }

    /// The pending error of a non-blocking connect (0 when it succeeded).
    static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return gtshim_errno() }
        return code
    }

    /// The remote host of a connected TCP socket (`127.0.0.1`, `::1`), or `local` for a Unix socket, or nil.
    package static func peerHost(_ fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    guard inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)) != nil else { return nil }
                    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil else { return nil }
                    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
        case AF_UNIX: return "local"
        default: return nil
        }
    }

    /// Accepts one connection (non-blocking, close-on-exec), or returns nil when none is pending.
    package static func accept(_ listener: Int32) -> Int32? {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = gtshim_set_nonblocking(fd)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}

/// Finds a TCP port to listen on, for a stable `node.listen` recorded at join time.
///
/// A caseless namespace; nothing to share.
public enum PortProbe {
    /// `preferred` when it can be bound on `host` now, else a free port the kernel picks; nil when neither.
    public static func available(host: String, preferred: UInt16) -> UInt16? {
        for port in [preferred, 0] {
            if let (fd, bound) = try? Socket.listenTCP(host: host, port: port, backlog: 1) {
                close(fd)
                return bound
            }
        }
        return nil
    }
}
