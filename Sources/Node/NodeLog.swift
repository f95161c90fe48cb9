import Foundation
import Town

/// A small logger in swift-log's shape (label, level, message, metadata) writing lines to a file (and,
/// for a foreground node, to stderr). Writes go through a serial dispatch queue, never the cooperative pool.
///
/// `@unchecked Sendable`: the file handle is used only on `queue`; the rest is immutable.
public final class NodeLogger: @unchecked Sendable {
    /// Severity, lowest first.
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case debug, info, warning, error
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
        public var description: String {
            switch self {
            case .debug: "DEBUG"
            case .info: "INFO"
            case .warning: "WARN"
            case .error: "ERROR"
            }
        }
    }

    public let label: String
    public let minimumLevel: Level
    private let queue = DispatchQueue(label: "gastown.node.log")
    private let fd: Int32
    private let echo: Bool

    /// Appends to `path` (created with its directory); with `echo`, every line also goes to stderr.
    public init(label: String, path: String?, echo: Bool = false, minimumLevel: Level = .info) {
        self.label = label
        self.minimumLevel = minimumLevel
        self.echo = echo
        if let path {
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        } else {
            fd = -1
        }
    }

    deinit {
        queue.sync {}
        if fd >= 0 { close(fd) }
    }

    /// Logs `message` at `level` with `metadata` (`key=value` pairs after the message).
    public func log(_ level: Level, _ message: String, _ metadata: [String: String] = [:]) {
        guard level >= minimumLevel else { return }
        let stamp = Self.timestamp(Date())
        let extra = metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }.joined(separator: " ")
        let line = "\(stamp) \(level) [\(label)] \(message)\(extra.isEmpty ? "" : " " + extra)\n"
        queue.async { [fd, echo] in
            let bytes = Array(line.utf8)
            if fd >= 0 { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            if echo { _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) } }
        }
    }

    public func debug(_ message: String, _ metadata: [String: String] = [:]) { log(.debug, message, metadata) }
    public func info(_ message: String, _ metadata: [String: String] = [:]) { log(.info, message, metadata) }
    public func warning(_ message: String, _ metadata: [String: String] = [:]) { log(.warning, message, metadata) }
    public func error(_ message: String, _ metadata: [String: String] = [:]) { log(.error, message, metadata) }

    /// Waits until every line logged so far is written.
    public func flush() { queue.sync {} }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// `<town>/.gt/events.jsonl`: one JSON object per line, `{"ts": …, "type": …, "node": …, …fields}`, appended
/// through a serial dispatch queue by `TownEvents.append` (the file's one writer, shared with the workflow).
///
/// `@unchecked Sendable`: the queue orders the writes; the rest is immutable.
public final class EventLog: @unchecked Sendable {
    private let queue = DispatchQueue(label: "gastown.node.events")
    private let path: String?
    private let node: String

    public init(path: String?, node: String) {
        self.node = node
        self.path = path
    }

    deinit { queue.sync {} }

    /// Appends one event of `type` with string `fields`.
    public func record(_ type: String, _ fields: [String: String] = [:]) {
        guard let path, let line = TownEvents.line(type, fields, node: node) else { return }
        queue.async { TownEvents.append(line, to: path) }
    }

    /// Waits until every event recorded so far is written.
    public func flush() { queue.sync {} }
}
