import Foundation
import GasTownTestKit
import Testing

@testable import Dashboard

@Suite("HTTP request parser")
struct HTTPParserTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func status(_ text: String, _ limits: HTTPLimits = HTTPLimits()) -> Int? {
        if case .failure(let error) = HTTPRequestParser.parse(bytes(text), limits: limits) { return error.status }
        return nil
    }

    @Test func parsesAGetWithQueryAndHeaders() throws {
        let text = "GET /api/ledger/beads?limit=5&status=open&q=a+b%21 HTTP/1.1\r\nHost: 127.0.0.1:8420\r\n"
            + "Cookie: a=1; gt_dashboard=secret\r\nX-Thing:  padded  \r\n\r\nGET / HTTP/1.1\r\n"
        guard case .request(let request, let consumed) = HTTPRequestParser.parse(bytes(text)) else {
            Issue.record("no request")
            return
        }
        #expect(request.method == "GET")
        #expect(request.path == "/api/ledger/beads")
        #expect(request.query == ["limit": "5", "status": "open", "q": "a b!"])
        #expect(request.header("HOST") == "127.0.0.1:8420")
        #expect(request.header("x-thing") == "padded")
        #expect(request.cookie("gt_dashboard") == "secret")
        #expect(request.keepAlive)
        #expect(consumed == text.utf8.count - "GET / HTTP/1.1\r\n".utf8.count)
    }

    @Test func parsesABodyOnlyWhenAllOfItArrived() {
        let head = "POST /api/ledger/beads/x-1/claim HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
        #expect(HTTPRequestParser.parse(bytes(head + "{\"a\":")) == .needMore)
        guard case .request(let request, let consumed) = HTTPRequestParser.parse(bytes(head + "{\"a\":12345}extra"))
        else {
            Issue.record("no request")
            return
        }
        #expect(request.body == bytes("{\"a\":12345}"))
        #expect(consumed == head.utf8.count + 11)
    }

    @Test func acceptsBareLineFeedsAndHTTP10() {
        guard case .request(let request, _) = HTTPRequestParser.parse(bytes("GET /x HTTP/1.0\n\n")) else {
            Issue.record("no request")
            return
        }
        #expect(request.version == "HTTP/1.0")
        #expect(!request.keepAlive)
    }

    @Test func refusesMalformedRequestsWith400() {
        let cases = [
            "GET /\r\nHost: h\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET relative HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n",
            "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\rHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n\u{0}",
        ]
        for text in cases { #expect(status(text) == 400, "\(text.debugDescription)") }
        #expect(status("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") == 501)
    }

    @Test func refusesOversizedPartsBeforeTheyArrive() {
        var limits = HTTPLimits()
        limits.maxRequestLine = 100
        limits.maxHeaderBytes = 200
        limits.maxHeaderCount = 5
        limits.maxBody = 50
        // A request line that can only grow past the limit, with no line end yet: refused at once.
        #expect(status("GET /" + String(repeating: "a", count: 200), limits) == 414)
        #expect(status("GET /" + String(repeating: "a", count: 120) + " HTTP/1.1\r\n", limits) == 414)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 300), limits) == 431)
        let many = (0..<6).map { "H\($0): v\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\n" + many + "\r\n", limits) == 431)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 51\r\n\r\n", limits) == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999\r\n\r\n", limits) == 400)
    }

    /// Seeded random and mutated inputs: the parser never crashes, never reads past what it was given, and every
    /// outcome is one of need-more, a request that used at most the bytes given, or an error with a 4xx/5xx status;
    /// feeding a valid request byte by byte gives need-more until the last byte, then the same request.
    @Test func fuzzMutatedAndRandomInputs() {
        var random = SplitMix64(seed: 0x0D45_B0A2)
        let seeds = [
            "GET /api/nodes HTTP/1.1\r\nHost: 127.0.0.1:8420\r\nAccept: */*\r\n\r\n",
            "POST /api/ledger/beads/gt-1/claim HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                + "Content-Length: 46\r\n\r\n{\"assignee\":\"a/polecats/b\",\"expected_epoch\":0}",
            "GET /events HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 12\r\nCookie: gt_dashboard=abc\r\n\r\n",
        ].map { Array($0.utf8) }
        var limits = HTTPLimits()
        limits.maxRequestLine = 256
        limits.maxHeaderBytes = 512
        limits.maxBody = 128
        var outcomes = [0, 0, 0]
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 10 == 0 {
                input = (0..<Int.random(in: 0...600, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                input = seeds[Int.random(in: 0..<seeds.count, using: &random)]
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    guard !input.isEmpty else { break }
                    let at = Int.random(in: 0..<input.count, using: &random)
                    switch Int.random(in: 0..<5, using: &random) {
                    case 0: input[at] = UInt8.random(in: 0...255, using: &random)
                    case 1: input.remove(at: at)
                    case 2: input.insert(contentsOf: Array(repeating: input[at], count: Int.random(in: 1...400, using: &random)), at: at)
                    case 3: input.insert(contentsOf: [0x0D, 0x0A], at: at)
                    default: input = Array(input.prefix(at))
                    }
                }
            }
            switch HTTPRequestParser.parse(input, limits: limits) {
            case .needMore:
                outcomes[0] += 1
            case .request(let request, let consumed):
                outcomes[1] += 1
                #expect(consumed <= input.count)
                #expect(request.body.count <= limits.maxBody)
                #expect(request.path.hasPrefix("/"))
            case .failure(let error):
                outcomes[2] += 1
                #expect([400, 413, 414, 431, 501, 505].contains(error.status), "\(error)")
            }
        }
        #expect(outcomes.allSatisfy { $0 > 100 }, "\(outcomes)")
        for seed in seeds {
            for cut in 0..<seed.count {
                #expect(HTTPRequestParser.parse(Array(seed.prefix(cut))) == .needMore)
            }
            guard case .request(_, let consumed) = HTTPRequestParser.parse(seed) else {
                Issue.record("seed did not parse")
                continue
            }
            #expect(consumed == seed.count)
        }
    }

    @Test func routesMatchPatternsAndMethods() {
        guard case .found(let route, let parameters) = DashboardRoutes.match(method: "POST", path: "/api/ledger/beads/gt-x1/claim")
        else {
            Issue.record("claim route")
            return
        }
        #expect(route.name == .claim)
        #expect(parameters == ["id": "gt-x1"])
        #expect(DashboardRoutes.match(method: "GET", path: "/api/ledger/beads/gt-x1/claim") == .wrongMethod(allowed: ["POST"]))
        #expect(DashboardRoutes.match(method: "GET", path: "/nope") == .notFound)
        if case .found(let page, _) = DashboardRoutes.match(method: "HEAD", path: "/") { #expect(page.name == .page) } else {
            Issue.record("HEAD /")
        }
    }

    @Test func accessDecisions() {
        #expect(DashboardAccess.defaultPort(nodePort: 7420) == 8420)
        #expect(DashboardAccess.defaultPort(nodePort: 0) == 0)
        #expect(DashboardAccess.defaultPort(nodePort: 65000) == 0)
        #expect(DashboardAccess.isLoopback("127.0.0.1") && DashboardAccess.isLoopback("::1"))
        #expect(!DashboardAccess.isLoopback("0.0.0.0") && !DashboardAccess.isLoopback("10.1.2.3"))
        #expect(DashboardAccess.hostAllowedOnLoopback("127.0.0.1:8420"))
        #expect(DashboardAccess.hostAllowedOnLoopback("localhost"))
        #expect(DashboardAccess.hostAllowedOnLoopback("[::1]:8420"))
        #expect(!DashboardAccess.hostAllowedOnLoopback("evil.example:8420"))
        #expect(!DashboardAccess.hostAllowedOnLoopback(nil))
        #expect(DashboardAccess.tokensMatch("abc", "abc"))
        #expect(!DashboardAccess.tokensMatch("abd", "abc") && !DashboardAccess.tokensMatch("ab", "abc"))
        #expect(!DashboardAccess.tokensMatch(nil, "abc"))
    }
}
