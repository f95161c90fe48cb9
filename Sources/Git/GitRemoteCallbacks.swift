import CGit2
import Foundation

/// The state behind one libgit2 remote operation's C callbacks (credentials, certificate check, push status,
/// updated tips). Passed to libgit2 as the `payload` context pointer; the Swift object outlives the call.
///
/// Not Sendable: created, used and dropped on one git thread during one call.
final class RemoteCallbacks {
    let settings: GitSettings
    /// Push statuses the remote reported per reference: a non-nil status is a rejection.
    var pushRejections: [String: String] = [:]
    /// References the remote reported as updated by a push.
    var pushAccepted: Set<String> = []
    /// Tips a fetch moved: (reference, old value or nil, new value).
    var updatedTips: [GitFetchResult.Tip] = []
    /// How many times credentials were asked for: libgit2 asks again after a refusal, so we stop at a limit.
    var credentialRequests = 0
    /// The remote's URL, for the port of an ssh host-key check (`[host]:port` in known_hosts).
    var remoteURL: String?
    /// Called from `push_negotiation`, after the remote's refs were read and before anything is written.
    var onPushNegotiation: (() -> Void)?

    init(settings: GitSettings) {
        self.settings = settings
    }

    /// Points `callbacks` at this object's C functions.
    func install(into callbacks: inout git_remote_callbacks) {
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, usernameFromURL, allowed, payload in
            guard let out, let payload else { return -1 }
            let state = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            state.credentialRequests += 1
            guard state.credentialRequests <= 3 else { return GIT_EAUTH.rawValue }
            let user = usernameFromURL.map { String(cString: $0) } ?? "git"
            switch state.settings.credentials {
            case .none:
                return GIT_PASSTHROUGH.rawValue
            case .sshAgent:
                guard allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
                return git_credential_ssh_key_from_agent(out, user)
            case .sshKey(let publicKey, let privateKey, let passphrase):
                guard allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
                return git_credential_ssh_key_new(out, user, publicKey, privateKey, passphrase)
            case .userPassword(let name, let password):
                guard allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
                    return GIT_PASSTHROUGH.rawValue
                }
                return git_credential_userpass_plaintext_new(out, name, password)
            }
        }
        callbacks.certificate_check = { cert, valid, host, payload in
            guard let payload else { return valid != 0 ? 0 : -1 }
            let state = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            if valid != 0 || !state.settings.verifyCertificates { return 0 }
            guard let cert, cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2, let host else {
                return GIT_ECERTIFICATE.rawValue
            }
            // libgit2 1.5 reads no known_hosts (valid is always 0 for ssh): check the key ourselves.
            let refusal: String? = cert.withMemoryRebound(to: git_cert_hostkey.self, capacity: 1) { pointer in
                guard let key = RemoteCallbacks.hostKey(pointer.pointee) else {
                    return "the ssh server's host key was not available to check; refusing to connect"
                }
                return GitSSHHostKeyCheck.refusal(
                    host: String(cString: host), url: state.remoteURL, key: key,
                    settings: state.settings.sshHostKeys)
            }
            guard let refusal else { return 0 }
            // libgit2 keeps an error set by the callback as the operation's message.
            git_error_set_str(Int32(GIT_ERROR_SSH.rawValue), refusal)
            return GIT_ECERTIFICATE.rawValue
        }
        callbacks.push_update_reference = { refname, status, payload in
            guard let payload, let refname else { return 0 }
            let state = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            let name = String(cString: refname)
            if let status {
                state.pushRejections[name] = String(cString: status)
            } else {
                state.pushAccepted.insert(name)
            }
            return 0
        }
        callbacks.push_negotiation = { _, _, payload in
            guard let payload else { return 0 }
            Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue().onPushNegotiation?()
            return 0
        }
        if settings.transferProgress != nil {
            callbacks.transfer_progress = { stats, payload in
                guard let stats, let payload else { return 0 }
                let state = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
                let s = stats.pointee
                state.settings.transferProgress?.update(
                    GitTransferProgress(
                        receivedObjects: Int(s.received_objects), indexedObjects: Int(s.indexed_objects),
                        totalObjects: Int(s.total_objects), indexedDeltas: Int(s.indexed_deltas),
                        totalDeltas: Int(s.total_deltas), receivedBytes: Int(s.received_bytes)))
                return 0
            }
        }
        callbacks.update_tips = { refname, old, new, payload in
            guard let payload, let refname, let new else { return 0 }
            let state = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            let oldID = old.map { GitOID($0) }.flatMap { $0.bytes.allSatisfy { $0 == 0 } ? nil : $0 }
            state.updatedTips.append(
                GitFetchResult.Tip(
                    reference: String(cString: refname), old: oldID,
                    new: GitOID(new)))
            return 0
        }
    }
}

extension RemoteCallbacks {
    /// The URL a libgit2 remote object connects to.
    static func url(of remote: OpaquePointer) -> String? { git_remote_url(remote).map { String(cString: $0) } }

    /// The host key libgit2 hands the certificate callback: the raw blob, else its SHA-256.
    static func hostKey(_ cert: git_cert_hostkey) -> GitSSHHostKey? {
        if cert.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = cert.hostkey, cert.hostkey_len > 0 {
            return GitSSHHostKey(blob: Data(bytes: raw, count: cert.hostkey_len))
        }
        if cert.type.rawValue & GIT_CERT_SSH_SHA256.rawValue != 0 {
            return withUnsafeBytes(of: cert.hash_sha256) { GitSSHHostKey(sha256: Data($0)) }
        }
        return nil
    }
}

/// What a fetch changed.
///
/// Sendable: yes, a plain value.
public struct GitFetchResult: Sendable, Equatable {
    /// One local reference a fetch moved.
    public struct Tip: Sendable, Equatable {
        /// The local reference, e.g. `refs/remotes/origin/main`.
        public let reference: String
        /// Its previous value, `nil` when it is new.
        public let old: GitOID?
        /// Its new value (all zero bytes when pruned).
        public let new: GitOID
    }

    /// The references the fetch created, moved or pruned.
    public let updatedTips: [Tip]
    /// Objects received from the remote.
    public let receivedObjects: Int
}

/// The outcome of `GitRepository.push(_:to:branch:expecting:)`.
///
/// Sendable: yes, a plain value.
public enum GitPushResult: Sendable, Equatable {
    /// The remote branch now points at the pushed commit.
    case pushed
    /// The remote branch did not hold the expected value (someone else pushed first, or the push was not a
    /// fast-forward, or the server refused it): nothing was moved. `current` is the value found, when known;
    /// `reason` is the remote's or our explanation. Fetch, merge and push again.
    case rejected(current: GitOID?, reason: String)
}
