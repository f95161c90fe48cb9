import GasTownTestKit
import Testing

@testable import Wire

/// Adjacent releases on the wire (docs/wire.md "Adjacent versions"): the hello both read, the highest common
/// version, and a refusal that names both sides' versions.
@Suite struct VersionTests {
    let alice = try! NodeName("alice")
    let bob = try! NodeName("bob")

    @Test func negotiationPicksTheHighestCommonVersionOrNamesBothRanges() throws {
        var rng = SplitMix64(seed: 18)
        var refused = 0
        for _ in 0..<5000 {
            func range() -> ClosedRange<UInt16> {
                let low = UInt16.random(in: 0...12, using: &rng)
                return low...(low + UInt16.random(in: 0...4, using: &rng))
            }
            let local = range()
            let remote = range()
            let common = local.clamped(to: remote)
            if local.overlaps(remote) {
                let version = try Hello.negotiate(local: local, remote: remote)
                #expect(version == common.upperBound)
                #expect(local.contains(version) && remote.contains(version))
                // Both sides compute the same answer.
                #expect(try Hello.negotiate(local: remote, remote: local) == version)
            } else {
                refused += 1
                do {
                    _ = try Hello.negotiate(local: local, remote: remote)
                    Issue.record("\(local) and \(remote) share no version, yet negotiated")
                } catch {
                    #expect(error == .noCommonVersion(local: local, remote: remote))
                    let text = error.description
                    #expect(text.contains("this node speaks \(local.lowerBound)...\(local.upperBound)"))
                    #expect(text.contains("the peer \(remote.lowerBound)...\(remote.upperBound)"))
                    let older = remote.upperBound < local.lowerBound ? "the peer is older" : "this node is older"
                    #expect(text.contains(older), "\(text)")
                }
            }
        }
        #expect(refused > 500)
    }

    @Test func thisBuildSpeaksThePreviousReleasesVersions() throws {
        // The previous release (0.1.0) spoke 1...2 and preferred 2; so do we: two adjacent releases use version 2,
        // and a node that only ever spoke version 1 is still served at version 1.
        #expect(ProtocolVersion.supported == 1...2)
        #expect(try Hello.negotiate(local: ProtocolVersion.supported, remote: 1...2) == 2)
        #expect(try Hello.negotiate(local: ProtocolVersion.supported, remote: 1...1) == 1)
        #expect(try Hello.negotiate(local: ProtocolVersion.supported, remote: 2...3) == 2)
        // The hello goes out in the version-1 layout whatever we prefer, so every release can read it.
        let hello = Hello(sender: alice, expectedPeer: bob, purpose: .general).envelope().encoded()
        #expect(hello.first == 0)
    }

    @Test func aNewerHellosExtraFieldsAreSkipped() throws {
        // A later release may append fields to its hello; this build reads the ones it knows and skips the rest.
        var rng = SplitMix64(seed: 19)
        for _ in 0..<500 {
            let high = UInt16.random(in: 2...9, using: &rng)
            let hello = Hello(sender: alice, expectedPeer: bob, versions: 2...high, purpose: .membership)
            var envelope = hello.envelope()
            let extra = Int.random(in: 1...64, using: &rng)
            envelope.body += (0..<extra).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let decoded = try Hello.decode(Envelope.decode(envelope.encoded()))
            #expect(decoded == hello)
        }
        // What is there must still be well formed.
        var short = Hello(sender: alice, expectedPeer: nil, purpose: .general).envelope()
        short.body.removeLast()
        #expect(throws: WireError.truncated(field: "purpose")) { try Hello.decode(short) }
    }
}
