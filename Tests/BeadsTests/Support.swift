import Foundation
import Testing

@testable import Beads

/// Locates `<repo>/../shared/samples` relative to this file (works in /work and in CI, where shared/ sits
/// beside the clone).
enum Samples {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/samples")
    }
    static func beadsJSONL() throws -> String {
        try String(contentsOf: root.appendingPathComponent("beads/issues.jsonl"), encoding: .utf8)
    }
}
