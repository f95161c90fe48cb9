import Foundation

/// One HTTP response: status, header fields and body. `encoded` adds `Content-Length`, `Connection` and `Date`
/// when missing.
///
/// `Sendable`: a plain value.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response of `value` (sorted keys).
    public static func json(_ value: some Encodable, status: Int = 200) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
        return HTTPResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: body + [0x0A])
    }

    /// A JSON error body `{"error": {"code", "message"}}`, the shape of `gt --json` errors.
    public static func error(_ status: Int, _ message: String, code: String? = nil) -> HTTPResponse {
        struct Body: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
            }
            var error: Inner
        }
        let name = code ?? HTTPResponse.reasonPhrase(status).lowercased().replacingOccurrences(of: " ", with: "_")
        return .json(Body(error: .init(code: name, message: message)), status: status)
    }

    /// A text response (`text/plain`, or `type`).
    public static func text(_ text: String, status: Int = 200, type: String = "text/plain; charset=utf-8")
        -> HTTPResponse
    {
        HTTPResponse(status: status, headers: [("Content-Type", type)], body: Array(text.utf8))
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The bytes on the wire. `keepAlive` false adds `Connection: close`; `streaming` leaves out `Content-Length`
    /// (an event stream ends when the connection does).
    public func encoded(keepAlive: Bool, streaming: Bool = false) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(status))\r\n"
        var names = Set<String>()
        for (name, value) in headers {
            names.insert(name.lowercased())
            text += "\(name): \(value)\r\n"
        }
        if !streaming && !names.contains("content-length") { text += "Content-Length: \(body.count)\r\n" }
        if !names.contains("connection") { text += keepAlive ? "" : "Connection: close\r\n" }
        if !names.contains("cache-control") { text += "Cache-Control: no-store\r\n" }
        text += "X-Content-Type-Options: nosniff\r\n\r\n"
        return Array(text.utf8) + (streaming ? [] : body)
    }

    /// The reason phrase of `status`.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

/// What a route answers: a whole response, or an event stream (`text/event-stream`) that `open` feeds until the
/// client goes away.
///
/// `Sendable`: a response value or a `Sendable` closure.
public enum HTTPReply: Sendable {
    case response(HTTPResponse)
    /// Sends `head` (no `Content-Length`), then hands the stream to `open`, which writes to it from any thread.
    case stream(head: HTTPResponse, open: @Sendable (HTTPEventStream) -> Void)
}

/// The write side of one open event stream. `send` queues bytes on the connection and returns false once the
/// client is gone (then the holder drops it).
///
/// `Sendable`: calls are forwarded to the connection's queue.
public protocol HTTPEventStream: AnyObject, Sendable {
    @discardableResult func send(_ bytes: [UInt8]) -> Bool
    var isOpen: Bool { get }
}
