import CGit2
import Foundation

/// What `GitRepository.repack()` did.
///
/// Sendable: yes, a plain value.
public struct GitRepackResult: Sendable, Equatable {
    /// Objects written into the new pack.
    public let objects: Int
    /// Loose object files deleted because the new pack holds them.
    public let looseObjectsRemoved: Int
    /// Older packs deleted because the new pack holds all their objects.
    public let packsRemoved: Int
    /// Disk space used by `objects/` before, in bytes.
    public let bytesBefore: Int
    /// Disk space used by `objects/` after, in bytes.
    public let bytesAfter: Int
}

extension GitRepository {
    /// Packs every object of the repository into one new pack (deltas found by walking every reference), then
    /// deletes the loose objects and the older packs that the new pack holds. libgit2 has no `gc`; this is ours.
    ///
    /// Safe while other processes push into this repository: only objects and packs that existed when the repack
    /// started (and are proven to be in the new pack) are deleted, and the new pack is complete on disk (pack,
    /// then index) before anything is deleted.
    public func repack() throws(GitError) -> GitRepackResult {
        let operation = "repack"
        let objectsDirectory = gitDirectory + "objects"
        let packDirectory = objectsDirectory + "/pack"
        let bytesBefore = Self.directorySize(objectsDirectory)
        let oldPacks = ((try? FileManager.default.contentsOfDirectory(atPath: packDirectory)) ?? [])
            .filter { $0.hasSuffix(".pack") }.map { String($0.dropLast(".pack".count)) }

        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), operation)
        defer { git_odb_free(odb) }
        // After listing the packs: every pack listed (and so deleted at the end) is then known to the object
        // database, so its objects are in the new pack.
        try check(git_odb_refresh(odb), operation)
        final class Collector { var ids: [git_oid] = [] }
        let collector = Collector()
        try check(
            git_odb_foreach(
                odb,
                { oid, payload in
                    guard let oid, let payload else { return 0 }
                    Unmanaged<Collector>.fromOpaque(payload).takeUnretainedValue().ids.append(oid.pointee)
                    return 0
                }, Unmanaged.passUnretained(collector).toOpaque()), "\(operation): list objects")

        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, handle), operation)
        defer { git_packbuilder_free(builder) }
        var walker: OpaquePointer?
        try check(git_revwalk_new(&walker, handle), operation)
        defer { git_revwalk_free(walker) }
        var pushedAny = false
        for tip in try Self.referenceTips(handle, repository: path) {
            var raw = tip.raw
            var object: OpaquePointer?
            guard git_object_lookup(&object, handle, &raw, GIT_OBJECT_COMMIT) == 0 else { continue }
            git_object_free(object)
            if git_revwalk_push(walker, &raw) == 0 { pushedAny = true }
        }
        if pushedAny { try check(git_packbuilder_insert_walk(builder, walker), "\(operation): walk history") }
        for var id in collector.ids {
            try check(git_packbuilder_insert(builder, &id, nil), "\(operation): add object")
        }
        let objects = Int(git_packbuilder_object_count(builder))
        guard objects > 0 else {
            return GitRepackResult(
                objects: 0, looseObjectsRemoved: 0, packsRemoved: 0, bytesBefore: bytesBefore,
                bytesAfter: bytesBefore)
        }
        try check(git_packbuilder_write(builder, packDirectory, 0, nil, nil), "\(operation): write pack")
        let newPack = git_packbuilder_name(builder).map { "pack-" + String(cString: $0) } ?? ""

        var looseRemoved = 0
        for id in collector.ids {
            let hex = GitOID(id).hex
            let file = "\(objectsDirectory)/\(hex.prefix(2))/\(hex.dropFirst(2))"
            if unlink(file) == 0 { looseRemoved += 1 }
        }
        // The emptied `objects/xx/` directories stay: a writer in another process may have just created one and be
        // about to rename its object into it (removing it would make that write fail).
        var packsRemoved = 0
        for pack in oldPacks where pack != newPack {
            let base = "\(packDirectory)/\(pack)"
            guard !FileManager.default.fileExists(atPath: base + ".keep") else { continue }
            // The index first: a reader finding an index expects its pack.
            unlink(base + ".idx")
            if unlink(base + ".pack") == 0 { packsRemoved += 1 }
            unlink(base + ".rev")
        }
        try check(git_odb_refresh(odb), operation)
        return GitRepackResult(
            objects: objects, looseObjectsRemoved: looseRemoved, packsRemoved: packsRemoved,
            bytesBefore: bytesBefore, bytesAfter: Self.directorySize(objectsDirectory))
    }

    /// Counts the loose objects (files under `objects/xx/`).
    public func looseObjectCount() -> Int {
        let objectsDirectory = gitDirectory + "objects"
        var count = 0
        for prefix in 0..<256 {
            let directory = objectsDirectory + "/" + String(format: "%02x", prefix)
            count += ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).count
        }
        return count
    }

    /// Disk space used by the regular files under `directory`, in bytes (allocated blocks, as `du` counts: a
    /// loose object occupies a whole filesystem block however small it is).
    static func directorySize(_ directory: String) -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        while let item = enumerator.nextObject() as? String {
            var info = stat()
            if lstat(directory + "/" + item, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                total += Int(info.st_blocks) * 512
            }
        }
        return total
    }
}
