import Foundation

/// A fresh temporary directory that removes itself (and everything in it) when released, or at the end
/// of `TempDir.with { … }` even when the body throws.
///
/// `Sendable`: holds only its immutable path; removal happens once, in `deinit`.
public final class TempDir: Sendable {
    /// The absolute path (under `$TMPDIR` or `/tmp`), with symlinks resolved.
    public let path: String

    /// Creates a directory named `<prefix>-<random>`.
    public init(prefix: String = "gt-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: base])
        }
        path = URL(fileURLWithPath: String(cString: made)).resolvingSymlinksInPath().path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path/relative`.
    public func join(_ relative: String) -> String { path + "/" + relative }

    /// Runs `body` with a new temporary directory, removed afterwards whatever happens.
    public static func with<T>(prefix: String = "gt-test", _ body: (TempDir) async throws -> T) async throws -> T {
        let directory = try TempDir(prefix: prefix)
        defer { try? FileManager.default.removeItem(atPath: directory.path) }
        return try await body(directory)
    }

    /// Writes `text` to `path/relative`, creating parent directories.
    public func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: join(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Reads `path/relative` as UTF-8, or nil.
    public func read(_ relative: String) -> String? {
        FileManager.default.contents(atPath: join(relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `path/relative` exists.
    public func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: join(relative)) }

    /// Every path under the directory, relative and sorted (a snapshot to compare before and after).
    public func listing() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var result: [String] = []
        while let item = enumerator?.nextObject() as? String { result.append(item) }
        return result.sorted()
    }
}

extension TempDir {
    /// Creates one directory (parents must exist) with `permissions`.
    public static func makeDirectory(_ path: String, permissions: Int = 0o755) throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: permissions])
    }
}
