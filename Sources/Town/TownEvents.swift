import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Appends events to `<town>/.gt/events.jsonl`: one JSON object per line (`ts`, `type`, `node` and string
/// fields, keys sorted), the same shape the node's own event log writes. Each line is one `write` on an
/// `O_APPEND` descriptor, so lines from several processes never interleave.
///
/// `Sendable`: holds only immutable values; every call opens, writes and closes.
public struct TownEvents: Sendable {
    /// The events file.
    public let path: String
    /// The node recorded in each event.
    public let node: String

    /// The event log of `layout`.
    public init(layout: TownLayout, node: String) {
        path = layout.eventsFile
        self.node = node
    }

    /// Appends one event of `type` (sling, hook, done, mail, restart, …). Failures to write are ignored: the
    /// ledger, not this log, is the record of what happened.
    public func record(_ type: String, _ fields: [String: String] = [:]) {
        guard let line = TownEvents.line(type, fields, node: node) else { return }
        TownEvents.append(line, to: path)
    }

    /// One event's line: the JSON object of `fields` with `ts` (now), `type` and `node`, keys sorted, and a
    /// trailing newline.
    public static func line(_ type: String, _ fields: [String: String], node: String) -> [UInt8]? {
        var object = fields
        object["ts"] = TownEvents.timestamp(Date())
        object["type"] = type
        object["node"] = node
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return Array(data) + [0x0A]
    }

    /// Appends `line` to the events file at `path` (creating it and its directory): the one writer of
    /// `events.jsonl`. One `write` on an `O_APPEND` descriptor, so lines of several processes never interleave.
    /// Failures are ignored. Blocking (a small local write).
    public static func append(_ line: [UInt8], to path: String) {
        var fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 {
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Every event in the file, oldest first (lines that do not parse are skipped).
    public static func read(_ path: String) -> [[String: String]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: String]
        }
    }

    /// RFC 3339 with milliseconds, UTC.
    package static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
