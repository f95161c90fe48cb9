import Foundation

/// Where the project's real sample data lives (`shared/samples/`, see its README): `$GT_SAMPLES_DIR` if set, else
/// `<repo>/../shared/samples` (CI clones the repository with `shared/` beside it), else the first `shared/samples`
/// found walking up from the repository (a git worktree under `/work/wt/<name>` finds `/work/shared/samples`).
public enum SharedSamples {
    /// The samples directory (absolute path, no trailing slash).
    public static var root: String {
        if let override = ProcessInfo.processInfo.environment["GT_SAMPLES_DIR"], !override.isEmpty {
            return override
        }
        // Sources/GasTownTestKit/SharedSamples.swift → repository root.
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let fallback = url.deletingLastPathComponent().appendingPathComponent("shared/samples").path
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("shared/samples").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return fallback
    }

    /// The absolute path of `relative` inside the samples directory.
    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// The bytes of a sample file; throws when it is missing (with the path and the override to use).
    public static func bytes(_ relative: String) throws -> [UInt8] {
        let full = path(relative)
        guard let data = FileManager.default.contents(atPath: full) else {
            throw Missing(path: full)
        }
        return [UInt8](data)
    }

    /// A sample file that is not there.
    public struct Missing: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path) not found: set GT_SAMPLES_DIR to the shared/samples directory" }
    }
}
