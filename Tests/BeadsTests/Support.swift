import Foundation
import GasTownTestKit
import Testing

@testable import Beads

/// Locates `shared/samples` as `GasTownTestKit.SharedSamples` does (in /work, in CI where shared/ sits beside the
/// clone, and in a worktree under /work/wt).
enum Samples {
    static var root: URL { URL(fileURLWithPath: SharedSamples.root) }
    static func beadsJSONL() throws -> String {
        try String(contentsOf: root.appendingPathComponent("beads/issues.jsonl"), encoding: .utf8)
    }
}
