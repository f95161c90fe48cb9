import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The ssh host-key check libgit2 1.5 does not do: reads the `known_hosts` files of `GitSSHHostKeySettings`, checks
/// the key the server presented (`GitKnownHosts.check`), and on an unknown host with accept-new on appends its
/// line to the first file. Runs inside libgit2's certificate callback, on the repository's git thread.
///
/// Not a type with state: each call reads the files afresh (a connection is rare next to the cost of reading them).
enum GitSSHHostKeyCheck {
    /// The outcome: `nil` when the connection may go on, else the message to refuse it with.
    static func refusal(
        host: String, url: String?, key: GitSSHHostKey, settings: GitSSHHostKeySettings
    ) -> String? {
        let name = GitSSHHostName(host: host, port: url.map(GitSSHHostName.port(ofURL:)) ?? 22)
        let files = settings.files
        var hosts = GitKnownHosts()
        for file in files {
            guard let bytes = FileManager.default.contents(atPath: file) else { continue }
            let parsed = GitKnownHosts.parse(bytes, file: file)
            hosts.entries += parsed.entries
            hosts.skippedLines += parsed.skippedLines
        }
        let presented = "\(key.type ?? "key") \(key.fingerprint)"
        switch hosts.check(name, key: key) {
        case .known:
            return nil
        case .revoked(let entry):
            return "the ssh host key of \(name) (\(presented)) is marked @revoked in \(entry.file) line \(entry.line): "
                + "refusing to connect; nothing was fetched or pushed"
        case .changed(let entry):
            let old = GitSSHHostKey(blob: entry.key)
            return "the ssh host key of \(name) has CHANGED: the server presented \(presented), but \(entry.file) "
                + "line \(entry.line) holds \(entry.keyType) \(old.fingerprint). Someone may be intercepting the "
                + "connection, or the server's key was replaced; nothing was fetched or pushed. If the change is "
                + "expected (ask the server's owner for the new fingerprint), remove the old entry "
                + "(ssh-keygen -R \(shellQuoted(name.lookupName)) -f \(entry.file)) and add the new one ("
                + keyscanHint(name, key: key, file: files.first ?? entry.file) + ")"
        case .unknown(let otherTypes):
            if settings.acceptsNew, let line = GitKnownHosts.line(for: name, key: key),
                let file = files.first, append(line, to: file)
            {
                return nil
            }
            let known =
                otherTypes.isEmpty ? "" : " (it is known there with another key type: \(otherTypes.joined(separator: ", ")))"
            return "the ssh host key of \(name) (\(presented)) is not in \(files.joined(separator: ", "))\(known): "
                + "refusing an unknown host. Check the fingerprint with the server's owner, then add it with "
                + keyscanHint(name, key: key, file: files.first ?? "~/.ssh/known_hosts")
                + " (or connect once with ssh and accept it; or set GT_SSH_ACCEPT_NEW=1 to add unknown hosts on "
                + "first use)"
        }
    }

    /// `ssh-keyscan [-p port] -t type host >> file`.
    static func keyscanHint(_ name: GitSSHHostName, key: GitSSHHostKey, file: String) -> String {
        let port = name.port == 22 ? "" : "-p \(name.port) "
        let type = key.type.map { "-t \($0) " } ?? ""
        return "ssh-keyscan \(port)\(type)\(name.host) >> \(file)"
    }

    private static func shellQuoted(_ text: String) -> String {
        text.allSatisfy { $0.isLetter || $0.isNumber || ".-_:".contains($0) } ? text : "'\(text)'"
    }

    /// Appends one line to `file` (created 0600, its directory 0700, when missing) with one `O_APPEND` write.
    static func append(_ line: String, to file: String) -> Bool {
        let directory = (file as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // A file whose last line lacks its newline would glue ours onto it.
        var prefix = ""
        if let existing = FileManager.default.contents(atPath: file), let last = existing.last,
            last != UInt8(ascii: "\n")
        {
            prefix = "\n"
        }
        let bytes = Array((prefix + line + "\n").utf8)
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
