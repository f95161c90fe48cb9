import Foundation
import GasTownTestKit
import Testing

@testable import Git

/// `known_hosts` parsing and the host-key verdict, as values. The vectors were made with OpenSSH's `ssh-keygen`
/// (keys with `-t ed25519` / `-t ecdsa`, hashed names with `ssh-keygen -H`, the fingerprint with `-l -E sha256`).
@Suite struct GitKnownHostsTests {
    static let key1 = "AAAAC3NzaC1lZDI1NTE5AAAAIC9VhqeDacHucBcJIB1Lar3i0FYHU4A69lFbwcD3VIGT"
    static let key2 = "AAAAC3NzaC1lZDI1NTE5AAAAIPz9KGxwHXsSpiO+3Lgf2EipbSAH4QLD2TU9q/vhmh+n"
    static let ecdsa =
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAVfLTk2k946bMdbpytN79e0pAdxxh73vATi8cLGAhdIQBCSvBHwLK8YQRQCZVuP1sDoN15NEOaBuyOIoS1iH6U="
    /// `example.com` and `[127.0.0.1]:2222` with key1, hashed by `ssh-keygen -H`.
    static let hashedExample = "|1|su83tPZcZ8RRkHNQy+QGAUwTFnc=|qG6V9LT8P3jXJ0EdARmnix+qTOA="
    static let hashedLoopback2222 = "|1|QRqvWbLmjc/GEvMKfHub6+odQrY=|2b7+nEoPd7Zcv/Ohee/wZTLZSS0="

    static func key(_ base64: String) -> GitSSHHostKey { GitSSHHostKey(blob: Data(base64Encoded: base64)!) }

    static func hosts(_ text: String) -> GitKnownHosts { GitKnownHosts.parse(Data(text.utf8), file: "kh") }

    @Test func keyTypeAndFingerprintAsSSHPrintsThem() {
        let k = Self.key(Self.key1)
        #expect(k.type == "ssh-ed25519")
        #expect(k.fingerprint == "SHA256:X4/5UQ/PA2gEnauQXI2W5ctnVJ2l7G3wmpawCCIctns")
        #expect(Self.key(Self.ecdsa).type == "ecdsa-sha2-nistp256")
    }

    @Test func lookupNamesAndURLPorts() {
        #expect(GitSSHHostName(host: "Example.COM").lookupName == "example.com")
        #expect(GitSSHHostName(host: "127.0.0.1", port: 2222).lookupName == "[127.0.0.1]:2222")
        #expect(GitSSHHostName.port(ofURL: "ssh://git@127.0.0.1:2222/srv/x.git") == 2222)
        #expect(GitSSHHostName.port(ofURL: "ssh://git@host/srv/x.git") == 22)
        #expect(GitSSHHostName.port(ofURL: "ssh://[::1]:2200/x") == 2200)
        #expect(GitSSHHostName.port(ofURL: "git+ssh://u:p@h:2201/x") == 2201)
        #expect(GitSSHHostName.port(ofURL: "git@github.com:owner/repo.git") == 22)
        #expect(GitSSHHostName.port(ofURL: "ssh://h:99999/x") == 22)
    }

    @Test func plainEntryKnownChangedUnknown() {
        let hosts = Self.hosts(
            """
            # a comment

            example.com,other.org ssh-ed25519 \(Self.key1) comment here
            [127.0.0.1]:2222 ssh-ed25519 \(Self.key2)
            """)
        #expect(hosts.entries.count == 2 && hosts.skippedLines == 0)
        guard case .known(let entry) = hosts.check(GitSSHHostName(host: "other.org"), key: Self.key(Self.key1)) else {
            Issue.record("other.org with key1 should be known")
            return
        }
        #expect(entry.line == 3)
        #expect(hosts.check(GitSSHHostName(host: "example.com"), key: Self.key(Self.key2)) == .changed(hosts.entries[0]))
        // The port decides: 127.0.0.1 on 22 is not [127.0.0.1]:2222.
        #expect(hosts.check(GitSSHHostName(host: "127.0.0.1"), key: Self.key(Self.key2)) == .unknown(otherTypes: []))
        #expect(
            hosts.check(GitSSHHostName(host: "127.0.0.1", port: 2222), key: Self.key(Self.key2))
                == .known(hosts.entries[1]))
        // Another key type for a known host is unknown, not changed (ssh asks, it does not warn of an attack).
        #expect(
            hosts.check(GitSSHHostName(host: "example.com"), key: Self.key(Self.ecdsa))
                == .unknown(otherTypes: ["ssh-ed25519"]))
    }

    @Test func hashedEntriesMatchBySaltedHMAC() {
        let hosts = Self.hosts(
            """
            \(Self.hashedExample) ssh-ed25519 \(Self.key1)
            \(Self.hashedLoopback2222) ssh-ed25519 \(Self.key1)
            """)
        #expect(hosts.entries.count == 2)
        #expect(hosts.check(GitSSHHostName(host: "EXAMPLE.com"), key: Self.key(Self.key1)) == .known(hosts.entries[0]))
        #expect(
            hosts.check(GitSSHHostName(host: "127.0.0.1", port: 2222), key: Self.key(Self.key1))
                == .known(hosts.entries[1]))
        #expect(hosts.check(GitSSHHostName(host: "example.org"), key: Self.key(Self.key1)) == .unknown(otherTypes: []))
        #expect(hosts.check(GitSSHHostName(host: "example.com"), key: Self.key(Self.key2)) == .changed(hosts.entries[0]))
    }

    @Test func wildcardsNegationAndRevoked() {
        let hosts = Self.hosts(
            """
            *.example.com,!bad.example.com ssh-ed25519 \(Self.key1)
            @revoked * ssh-ed25519 \(Self.key2)
            @cert-authority *.corp ssh-ed25519 \(Self.key1)
            git?.org ssh-ed25519 \(Self.key1)
            """)
        #expect(hosts.entries.count == 3 && hosts.skippedLines == 1)
        #expect(hosts.check(GitSSHHostName(host: "a.example.com"), key: Self.key(Self.key1)) == .known(hosts.entries[0]))
        #expect(hosts.check(GitSSHHostName(host: "bad.example.com"), key: Self.key(Self.key1)) == .unknown(otherTypes: []))
        #expect(hosts.check(GitSSHHostName(host: "git1.org"), key: Self.key(Self.key1)) == .known(hosts.entries[2]))
        #expect(hosts.check(GitSSHHostName(host: "git12.org"), key: Self.key(Self.key1)) == .unknown(otherTypes: []))
        #expect(hosts.check(GitSSHHostName(host: "a.example.com"), key: Self.key(Self.key2)) == .revoked(hosts.entries[1]))
        #expect(GitKnownHosts.globMatches("*", ""))
        #expect(GitKnownHosts.globMatches("a*b*c", "aXXbYc"))
        #expect(!GitKnownHosts.globMatches("a*b*c", "aXXbY"))
    }

    @Test func malformedLinesAreSkippedNotFatal() {
        let hosts = Self.hosts(
            """
            example.com ssh-ed25519
            example.com ssh-rsa \(Self.key1)
            example.com ssh-ed25519 !!!notbase64
            |1|onlysalt ssh-ed25519 \(Self.key1)
            |2|x|y ssh-ed25519 \(Self.key1)
            @bogus example.com ssh-ed25519 \(Self.key1)
            ,,, ssh-ed25519 \(Self.key1)
            example.com ssh-ed25519 \(Self.key1)\r
            """)
        #expect(hosts.skippedLines == 7)
        #expect(hosts.entries.count == 1 && hosts.entries[0].line == 8)
    }

    @Test func lineForAcceptNewReadsBack() throws {
        let name = GitSSHHostName(host: "127.0.0.1", port: 2222)
        let line = try #require(GitKnownHosts.line(for: name, key: Self.key(Self.key1)))
        #expect(line == "[127.0.0.1]:2222 ssh-ed25519 \(Self.key1)")
        let hosts = Self.hosts(line)
        #expect(hosts.check(name, key: Self.key(Self.key1)) == .known(hosts.entries[0]))
    }

    /// Hostile bytes: random bytes, and valid lines with bytes flipped, cut or spliced. The parser never traps,
    /// every entry it keeps has a key blob naming its key type, and a check never traps.
    @Test func fuzzHostileBytes() {
        var random = SplitMix64(seed: 0x6b6e_6f77_6e68)
        let valid = Array(
            """
            \(Self.hashedExample) ssh-ed25519 \(Self.key1)
            *.example.com,!bad.example.com,[h]:22 ssh-ed25519 \(Self.key2) c
            @revoked * ecdsa-sha2-nistp256 \(Self.ecdsa)

            """.utf8)
        let alphabet = Array("|1!*?,[]:@# \t\r\n=+/AZaz09".utf8)
        for round in 0..<3_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                bytes = valid
                for _ in 0..<(1 + Int(random.next() % 8)) {
                    let at = Int(random.next() % UInt64(bytes.count))
                    bytes[at] =
                        random.next() % 2 == 0
                        ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            default:
                let cut = Int(random.next() % UInt64(valid.count))
                bytes = Array(valid[cut...]) + Array(valid[..<(valid.count - cut)])
            }
            let hosts = GitKnownHosts.parse(Data(bytes), file: "fuzz")
            for entry in hosts.entries {
                #expect(GitSSHHostKey.type(ofBlob: entry.key) == entry.keyType)
                #expect(!entry.patterns.isEmpty)
            }
            for name in [GitSSHHostName(host: "example.com"), GitSSHHostName(host: "h", port: 2222)] {
                _ = hosts.check(name, key: Self.key(Self.key1))
                _ = hosts.check(name, key: GitSSHHostKey(sha256: Data(repeating: 7, count: 32)))
            }
        }
        // A blob of hostile bytes as the server's key: a type or nil, never a trap.
        for _ in 0..<2_000 {
            let blob = Data((0..<Int(random.next() % 80)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            _ = GitSSHHostKey(blob: blob).type
            _ = GitKnownHosts.line(for: GitSSHHostName(host: "h"), key: GitSSHHostKey(blob: blob))
        }
    }
}
