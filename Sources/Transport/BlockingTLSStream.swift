import COpenSSL
import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TLS 1.3 client over a connected, blocking TCP socket, for a CLI reading a dashboard over HTTPS (`gt feed`): the
/// server's certificate must verify against the `TLSContext.httpsClient` context's cluster CAs, must not be revoked,
/// and, when `serverName` is given, must name it (SNI + SAN, as node-to-node connections check).
///
/// Blocking: every call may wait on the socket, so use it only on a dedicated thread (`DedicatedThread`,
/// `BlockingWork`), never on the cooperative pool. The socket is owned: `close` closes it (and `deinit` does).
///
/// `@unchecked Sendable`: used by one thread at a time (the one that made it); only `interrupt` may come from another
/// (it shuts the socket down, so a blocked read returns).
public final class BlockingTLSStream: @unchecked Sendable {
    let fd: Int32
    let ssl: OpaquePointer
    let lock = NSLock()
    var closed = false
    /// The server's certificate (verified).
    public let peer: Certificate

    /// Runs the handshake on `fd` (connected, blocking) and verifies the server. Throws `.handshakeFailed` (with
    /// OpenSSL's verification error: wrong CA, expired, wrong name) or `.revoked`; the socket is closed then.
    public init(
        fd: Int32, context: TLSContext, serverName: String?, revocations: RevocationList? = nil
    ) throws(TransportError) {
        TransportSetup.ignoreSIGPIPE
        ERR_clear_error()
        guard let made = SSL_new(context.pointer), SSL_set_fd(made, fd) == 1 else {
            Glibc.close(fd)
            throw .drainOpenSSL("SSL_new")
        }
        SSL_set_connect_state(made)
        if let serverName {
            // SNI only for names (not IP literals), as RFC 6066 says; the SAN check either way.
            let isAddress = serverName.contains(":") || serverName.allSatisfy { $0.isNumber || $0 == "." }
            guard isAddress || gtshim_ssl_set_tlsext_host_name(made, serverName) == 1,
                SSL_set1_host(made, serverName) == 1
            else {
                SSL_free(made)
                Glibc.close(fd)
                throw .drainOpenSSL("setting SNI and the expected host name")
            }
        }
        var result: Int32 = 0
        var code: Int32 = 0
        var failure: Int32 = 0
        repeat {
            ERR_clear_error()
            errno = 0
            result = SSL_connect(made)
            failure = errno
            code = result == 1 ? SSL_ERROR_NONE : SSL_get_error(made, result)
        } while code == SSL_ERROR_SYSCALL && failure == EINTR
        guard result == 1 else {
            let queued = ERR_peek_error() != 0
            var detail = openSSLErrors()
            let verify = SSL_get_verify_result(made)
            if verify != X509_V_OK {
                detail = String(cString: X509_verify_cert_error_string(verify)) + (detail.isEmpty ? "" : " (\(detail))")
            } else if !queued && code == SSL_ERROR_SYSCALL {
                // Nothing in OpenSSL's queue: the socket itself ended (EOF or an error) in the middle of the handshake.
                detail = failure == 0
                    ? "the server closed the connection during the handshake (is it TLS?)"
                    : "the connection failed during the handshake: \(String(cString: strerror(failure)))"
            }
            SSL_free(made)
            Glibc.close(fd)
            throw .handshakeFailed(detail)
        }
        guard let raw = SSL_get1_peer_certificate(made), SSL_get_verify_result(made) == X509_V_OK else {
            SSL_free(made)
            Glibc.close(fd)
            throw .handshakeFailed("the server's certificate did not verify")
        }
        let certificate = Certificate(owning: raw)
        if let revocations, revocations.isRevoked(serial: certificate.serial) {
            SSL_free(made)
            Glibc.close(fd)
            throw .revoked(serial: certificate.serial)
        }
        self.fd = fd
        ssl = made
        peer = certificate
    }

    /// Writes all of `bytes`; false when the connection failed.
    public func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let count = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                offset += Int(count)
                continue
            }
            if SSL_get_error(ssl, count) == SSL_ERROR_SYSCALL && errno == EINTR { continue }
            return false
        }
        return true
    }

    /// Reads what is there (waiting for at least one byte) into `buffer`; the count, 0 at the end of the stream,
    /// -1 on an error (a receive time-out of the socket included).
    public func read(into buffer: inout [UInt8]) -> Int {
        while true {
            ERR_clear_error()
            let count = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 { return Int(count) }
            let error = SSL_get_error(ssl, count)
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            if error == SSL_ERROR_SYSCALL && errno == EINTR { continue }
            // A peer that closes without close_notify ends the stream too.
            if error == SSL_ERROR_SYSCALL && count == 0 { return 0 }
            return -1
        }
    }

    /// Ends a blocked `read` from another thread (shuts the socket down; `close` still frees it).
    public func interrupt() {
        lock.withLock { if !closed { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    /// Shuts the connection down and closes the socket (once).
    public func close() {
        let first = lock.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        SSL_free(ssl)
        Glibc.close(fd)
    }

    deinit { close() }
}
