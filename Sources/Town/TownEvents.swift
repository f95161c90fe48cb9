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
        var object = fields
        object["ts"] = TownEvents.timestamp(Date())
        object["type"] = type
        object["node"] = node
        guard
            var data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        data.append(0x0A)
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
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
