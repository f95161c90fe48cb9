import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fingerprint of every file and directory under a root: for each relative path, its kind, size, modification
/// time (nanoseconds) and a 64-bit FNV-1a hash of its bytes. Two digests taken before and after a command are equal
/// only if the command created, removed, rewrote or even touched nothing there (a rewrite with the same bytes
/// still moves the modification time). Used to prove that read-only commands change no file of a store.
///
/// `Sendable`: a dictionary of strings.
public struct FileTreeDigest: Sendable, Equatable, CustomStringConvertible {
    /// Relative path → "dir" or "file <size> <mtime ns> <hash>".
    public let entries: [String: String]

    /// Takes the digest of `root` (which may not exist: then it is empty), leaving out the relative paths in
    /// `excluding`.
    public init(_ root: String, excluding: Set<String> = []) {
        var entries: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            if excluding.contains(relative) { continue }
            let path = root + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                entries[relative] = "dir"
                continue
            }
            let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            let bytes = FileManager.default.contents(atPath: path) ?? Data()
            entries[relative] = "file \(info.st_size) \(mtime) \(String(Self.fnv1a(bytes), radix: 16))"
        }
        self.entries = entries
    }

    /// `before` without the relative paths in `excluding`.
    public init(before: FileTreeDigest, excluding: Set<String>) {
        entries = before.entries.filter { !excluding.contains($0.key) }
    }

    /// What differs from `other`, one line per path (empty when equal).
    public func differences(from other: FileTreeDigest) -> [String] {
        Set(entries.keys).union(other.entries.keys).sorted().compactMap { path in
            let mine = entries[path]
            let theirs = other.entries[path]
            return mine == theirs ? nil : "\(path): \(theirs ?? "absent") → \(mine ?? "absent")"
        }
    }

    public var description: String { entries.keys.sorted().map { "\($0): \(entries[$0]!)" }.joined(separator: "\n") }

    static func fnv1a(_ bytes: Data) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
