/// The limits the dashboard's HTTP/1.1 parser enforces before it keeps any more bytes: a client cannot make the
/// node hold more than `maxRequestLine + maxHeaderBytes + maxBody` for one connection.
///
/// `Sendable`: a plain value.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (method, target, version), bytes. Default 8 KiB; longer is 414.
    public var maxRequestLine = 8 * 1024
    /// Most header fields. Default 64; more is 431.
    public var maxHeaderCount = 64
    /// Most bytes of header fields (after the request line). Default 16 KiB; more is 431.
    public var maxHeaderBytes = 16 * 1024
    /// Largest body (`Content-Length`). Default 64 KiB; larger is 413.
    public var maxBody = 64 * 1024

    public init() {}
}

/// One parsed request. Header names are lowercased; the path is percent-decoded; the query is split into
/// name/value pairs (`+` is a space).
///
/// `Sendable`: a plain value.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The raw request target (`/api/beads?limit=5`).
    public var target: String
    /// The decoded path (`/api/beads`).
    public var path: String
    public var query: [String: String]
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    /// Header fields in order, names lowercased.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(
        method: String, target: String, path: String, query: [String: String], version: String,
        headers: [(name: String, value: String)], body: [UInt8]
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// The value of cookie `name`, if the request carries it.
    public func cookie(_ name: String) -> String? {
        for field in headers where field.name == "cookie" {
            for part in field.value.split(separator: ";") {
                let pair = part.trimmingSpaces.split(separator: "=", maxSplits: 1)
                if pair.count == 2 && pair[0] == name { return String(pair[1]) }
            }
        }
        return nil
    }

    /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
    /// with `Connection: keep-alive`).
    public var keepAlive: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        return version == "HTTP/1.1" ? !connection.contains("close") : connection.contains("keep-alive")
    }

    public static func == (left: HTTPRequest, right: HTTPRequest) -> Bool {
        left.method == right.method && left.target == right.target && left.path == right.path
            && left.query == right.query && left.version == right.version && left.body == right.body
            && left.headers.map(\.name) == right.headers.map(\.name)
            && left.headers.map(\.value) == right.headers.map(\.value)
    }
}

/// Why bytes are not a request: the status to answer with (then the connection is closed) and what was wrong.
///
/// `Sendable`: a plain value.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 400 malformed, 413 body too large, 414 request line too long, 431 headers too large, 501 chunked body,
    /// 505 version not supported.
    public var status: Int
    public var reason: String

    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status): \(reason)" }
}

/// The pure HTTP/1.1 request parser (RFC 9112, the subset a dashboard needs): request line, header fields,
/// a `Content-Length` body. No I/O, no state: the server hands it everything received so far and gets back a
/// request and how many bytes it used, "need more", or an error with the status to answer. Limits are checked
/// on the bytes present, so a request that can only grow past a limit is refused before the rest arrives.
///
/// Refused: bare CR, obsolete line folding, whitespace before a header's colon, control characters, a missing
/// `Host` in HTTP/1.1, conflicting `Content-Length`s, `Transfer-Encoding` (501: send a `Content-Length`),
/// versions other than HTTP/1.0 and 1.1 (505), targets not starting with `/`. Bare LF line ends are accepted
/// (RFC 9112 §2.2 allows it).
///
/// A caseless namespace; nothing to share.
public enum HTTPRequestParser {
    /// What `parse` found.
    public enum Outcome: Sendable, Equatable {
        /// The bytes so far are the start of a valid request within limits.
        case needMore
        /// One request, made of the first `consumed` bytes.
        case request(HTTPRequest, consumed: Int)
        case failure(HTTPParseError)
    }

    /// Parses the first request in `bytes`.
    public static func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> Outcome {
        do throws(HTTPParseError) {
            return try parseOrThrow(bytes, limits: limits)
        } catch {
            return .failure(error)
        }
    }

    static func parseOrThrow(_ bytes: [UInt8], limits: HTTPLimits) throws(HTTPParseError) -> Outcome {
        // Leading empty lines before a request are ignored (RFC 9112 §2.2), at most a few.
        var start = 0
        while start < min(bytes.count, 8), bytes[start] == 0x0D || bytes[start] == 0x0A { start += 1 }
        guard let lineEnd = findLF(bytes, from: start, limit: start + limits.maxRequestLine + 2) else {
            if bytes.count - start > limits.maxRequestLine + 1 {
                throw HTTPParseError(414, "the request line is longer than \(limits.maxRequestLine) bytes")
            }
            try checkPartialLine(bytes[start...])
            return .needMore
        }
        let line = try stripCR(bytes[start..<lineEnd])
        guard line.count <= limits.maxRequestLine else {
            throw HTTPParseError(414, "the request line is longer than \(limits.maxRequestLine) bytes")
        }
        let (method, target, version) = try requestLine(line)
        var headers: [(name: String, value: String)] = []
        var cursor = lineEnd + 1
        let headerStart = cursor
        while true {
            let budget = headerStart + limits.maxHeaderBytes + 2
            guard let end = findLF(bytes, from: cursor, limit: budget) else {
                if bytes.count > budget - 1 {
                    throw HTTPParseError(431, "the header fields are larger than \(limits.maxHeaderBytes) bytes")
                }
                try checkPartialLine(bytes[cursor...])
                return .needMore
            }
            let field = try stripCR(bytes[cursor..<end])
            cursor = end + 1
            if field.isEmpty { break }
            guard cursor - headerStart <= limits.maxHeaderBytes + 2 else {
                throw HTTPParseError(431, "the header fields are larger than \(limits.maxHeaderBytes) bytes")
            }
            guard headers.count < limits.maxHeaderCount else {
                throw HTTPParseError(431, "more than \(limits.maxHeaderCount) header fields")
            }
            headers.append(try headerField(field))
        }
        if version == "HTTP/1.1" && !headers.contains(where: { $0.name == "host" }) {
            throw HTTPParseError(400, "an HTTP/1.1 request needs a Host header")
        }
        if headers.contains(where: { $0.name == "transfer-encoding" }) {
            throw HTTPParseError(501, "Transfer-Encoding is not supported; send the body with a Content-Length")
        }
        let lengths = Set(headers.filter { $0.name == "content-length" }.map(\.value))
        guard lengths.count <= 1 else { throw HTTPParseError(400, "conflicting Content-Length headers") }
        var length = 0
        if let text = lengths.first {
            guard !text.isEmpty, text.count <= 12, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(text)
            else { throw HTTPParseError(400, "Content-Length must be a decimal number, not '\(text)'") }
            length = value
        }
        guard length <= limits.maxBody else {
            throw HTTPParseError(413, "the body (\(length) bytes) is larger than \(limits.maxBody) bytes")
        }
        guard bytes.count - cursor >= length else { return .needMore }
        let body = Array(bytes[cursor..<(cursor + length)])
        let (path, query) = try splitTarget(target)
        let request = HTTPRequest(
            method: method, target: target, path: path, query: query, version: version, headers: headers, body: body)
        return .request(request, consumed: cursor + length)
    }

    /// The index of the next LF in `bytes[from..<limit]`.
    static func findLF(_ bytes: [UInt8], from: Int, limit: Int) -> Int? {
        var index = from
        let end = min(bytes.count, limit)
        while index < end {
            if bytes[index] == 0x0A { return index }
            index += 1
        }
        return nil
    }

    /// An unfinished line may not already hold a byte no line may hold (so garbage is refused at once).
    static func checkPartialLine(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        for (offset, byte) in bytes.enumerated() where byte == 0 || (byte == 0x0D && offset != bytes.count - 1) {
            throw HTTPParseError(400, "a control character in the request")
        }
    }

    static func stripCR(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> ArraySlice<UInt8> {
        var line = line
        if line.last == 0x0D { line = line.dropLast() }
        if line.contains(0x0D) { throw HTTPParseError(400, "a bare CR inside a line") }
        return line
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    static func requestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String, String) {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPParseError(400, "the request line must be 'METHOD /path HTTP/1.1'")
        }
        guard parts[0].allSatisfy(isTokenByte) else { throw HTTPParseError(400, "the method is not a token") }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError(400, "the request target holds spaces or control characters")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version.hasPrefix("HTTP/"), version.count == 8 else {
            throw HTTPParseError(400, "the request line must end with HTTP/1.1")
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw HTTPParseError(505, "\(version) is not supported; use HTTP/1.1")
        }
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") else { throw HTTPParseError(400, "the request target must start with '/'") }
        return (String(decoding: parts[0], as: UTF8.self), target, version)
    }

    static func headerField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        guard let first = line.first, first != 0x20, first != 0x09 else {
            throw HTTPParseError(400, "obsolete header line folding is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPParseError(400, "a header line without a colon")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPParseError(400, "a header name that is not a token (no spaces before the colon)")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
        while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(400, "a control character in a header value")
        }
        return (String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self))
    }

    static func splitTarget(_ target: String) throws(HTTPParseError) -> (String, [String: String]) {
        let pieces = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = String(pieces[0].split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0])
        guard let path = percentDecode(rawPath, plusIsSpace: false) else {
            throw HTTPParseError(400, "bad percent-encoding in the path")
        }
        var query: [String: String] = [:]
        if pieces.count == 2 {
            let text = pieces[1].split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            for pair in text.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = percentDecode(String(kv[0]), plusIsSpace: true),
                    let value = percentDecode(kv.count == 2 ? String(kv[1]) : "", plusIsSpace: true)
                else { throw HTTPParseError(400, "bad percent-encoding in the query") }
                if query[name] == nil { query[name] = value }
            }
        }
        return (path, query)
    }

    /// `%XX` decoding; nil on a bad escape or invalid UTF-8.
    public static func percentDecode(_ text: String, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard bytes.count >= 2, let high = hex(bytes.popFirst()!), let low = hex(bytes.popFirst()!) else {
                    return nil
                }
                out.append(high << 4 | low)
            } else if byte == UInt8(ascii: "+") && plusIsSpace {
                out.append(0x20)
            } else {
                out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
