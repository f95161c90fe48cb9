import CGit2
import Foundation

extension GitRepository {
    /// The paths whose content differs between the trees of commits `old` and `new` (added, deleted, modified; a
    /// rename counts as both its paths), sorted. Both commits must be in this repository.
    public func changedFiles(from old: GitOID, to new: GitOID) throws(GitError) -> [String] {
        let operation = "diff \(old.hex.prefix(12))..\(new.hex.prefix(12))"
        let oldTree = try lookupTree(old, operation: operation)
        defer { git_tree_free(oldTree) }
        let newTree = try lookupTree(new, operation: operation)
        defer { git_tree_free(newTree) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, handle, oldTree, newTree, nil), operation)
        defer { git_diff_free(diff) }
        var paths = Set<String>()
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index) else { continue }
            if let path = delta.pointee.old_file.path { paths.insert(String(cString: path)) }
            if let path = delta.pointee.new_file.path { paths.insert(String(cString: path)) }
        }
        return paths.sorted()
    }
}
