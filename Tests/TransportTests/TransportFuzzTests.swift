import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// Seeded random and mutated inputs into the Transport decoders of outside bytes: join bodies, tokens,
/// revocation lines, PEM. Nothing may trap; valid seeds must still decode.
@Suite struct TransportFuzzTests {
    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !bytes.isEmpty else { return [UInt8.random(in: 0...255, using: &rng)] }
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[index] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.removeSubrange(index...)
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: index)
            }
        }
        return bytes
    }

    @Test func joinBodiesTokensRevocationsAndPEM() throws {
        let ca = try TestCA()
        let key = try PrivateKey.generateP256()
        let csr = try CertificateRequest(commonName: "fuzz", key: key).pem()
        let certificate = try ca.identity("fuzz").certificate.pem()
        let request = JoinMessages.request(secret: String(repeating: "a", count: 32), csrPEM: csr)
        let replacing = JoinMessages.request(secret: String(repeating: "a", count: 32), csrPEM: csr, replace: true)
        let tokenLine = Array(
            #"{"created_at":1,"expires_at":2,"name":"beta","secret_sha256":"ab","used_at":3,"used_by":"beta"}"#.utf8)
        let response = JoinMessages.response(
            certificatePEM: certificate, caBundlePEM: certificate, revocations: "", cluster: "{}")
        let token = Array(
            JoinToken(secret: String(repeating: "b", count: 32), caFingerprint: String(repeating: "c", count: 64))
                .description.utf8)
        let revocation = Array(
            try RevocationEntry.revoking(serial: "AB", node: "x", by: ca.authority, now: Date()).jsonLine().utf8)
        #expect((try? JoinMessages.parseRequest(request)) != nil)
        #expect((try? JoinMessages.parseResponse(response)) != nil)
        var rng = SplitMix64(seed: 0xF022)
        var decoded = 0
        #expect(try JoinMessages.parseRequest(replacing).replace)
        #expect(try JSONDecoder().decode(JoinTokenRecord.self, from: Data(tokenLine)).name == "beta")
        for round in 0..<4_800 {
            let seeds = [
                request, response, token, revocation, Array(csr.utf8), Array(certificate.utf8), replacing, tokenLine,
            ]
            let seed = seeds[round % 8]
            let bytes = Self.mutate(seed, &rng)
            let text = String(decoding: bytes, as: UTF8.self)
            if (try? JoinMessages.parseRequest(bytes)) != nil { decoded += 1 }
            if (try? JoinMessages.parseResponse(bytes)) != nil { decoded += 1 }
            if (try? JoinToken(parsing: text)) != nil { decoded += 1 }
            if let entry = try? JSONDecoder().decode(RevocationEntry.self, from: Data(bytes)) {
                decoded += 1
                _ = entry.isValid(trusting: [ca.authority.certificate])
            }
            if (try? JSONDecoder().decode(JoinTokenRecord.self, from: Data(bytes))) != nil { decoded += 1 }
            if round % 8 == 4 || round % 8 == 5 {
                if (try? CertificateRequest(pem: text))?.isSelfSigned == true { decoded += 1 }
                if let parsed = try? Certificate.bundle(pem: text), !parsed.isEmpty { decoded += 1 }
            }
        }
        #expect(decoded > 50)  // some mutants (e.g. a changed character in a PEM comment line) still parse
    }
}
