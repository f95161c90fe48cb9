import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Thin throwing wrappers over the POSIX calls the store makes. Blocking: call them only off the cooperative pool
/// (the WAL thread, a dedicated thread, or a synchronous command-line program).
enum FileIO {
    static func fail(_ operation: String, _ path: String) -> StoreError {
        .io(operation: operation, path: path, errno: gtshim_errno())
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(StoreError) -> Int32 {
        while true {
            let fd = gtshim_open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if gtshim_errno() != EINTR { throw fail("open", path) }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int? = nil, path: String)
        throws(StoreError)
    {
        var done = 0
        while done < bytes.count {
            let base = bytes.baseAddress! + done
            let count = bytes.count - done
            let written = offset.map { pwrite(fd, base, count, off_t($0 + done)) } ?? write(fd, base, count)
            if written < 0 {
                if gtshim_errno() == EINTR { continue }
                throw fail("write", path)
            }
            done += written
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int? = nil, path: String) throws(StoreError) {
        let outcome = bytes.withUnsafeBytes { raw in
            Result { () throws(StoreError) in try writeAll(fd, raw, at: offset, path: path) }
        }
        try outcome.get()
    }

    static func fsync(_ fd: Int32, path: String, dataOnly: Bool = false) throws(StoreError) {
        while (dataOnly ? Glibc.fdatasync(fd) : Glibc.fsync(fd)) != 0 {
            if gtshim_errno() != EINTR { throw fail(dataOnly ? "fdatasync" : "fsync", path) }
        }
    }

    static func fsyncDirectory(_ path: String) throws(StoreError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    static func truncate(_ fd: Int32, to length: Int, path: String) throws(StoreError) {
        if ftruncate(fd, off_t(length)) != 0 { throw fail("ftruncate", path) }
    }

    static func readFile(_ path: String) throws(StoreError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        // Read straight into an array of the file's size (no chunk copies, no regrowth: a snapshot is megabytes),
        // then on in chunks should the file have grown meanwhile.
        var info = stat()
        let size = fstat(fd, &info) == 0 ? max(Int(info.st_size), 0) : 0
        var result = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let count = result.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, size - filled) }
            if count < 0 {
                if gtshim_errno() == EINTR { continue }
                throw fail("read", path)
            }
            if count == 0 {
                result.removeLast(size - filled)
                return result
            }
            filled += count
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if gtshim_errno() == EINTR { continue }
                throw fail("read", path)
            }
            if count == 0 { return result }
            result += chunk[0..<count]
        }
    }

    static func makeDirectory(_ path: String) throws(StoreError) {
        if mkdir(path, 0o755) != 0 && gtshim_errno() != EEXIST { throw fail("mkdir", path) }
    }

    static func listDirectory(_ path: String) throws(StoreError) -> [String] {
        guard let dir = opendir(path) else { throw fail("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `listDirectory`, with a directory that does not exist read as empty (a reader creates nothing).
    static func listDirectoryIfPresent(_ path: String) throws(StoreError) -> [String] {
        guard let dir = opendir(path) else {
            if gtshim_errno() == ENOENT { return [] }
            throw fail("opendir", path)
        }
        closedir(dir)
        return try listDirectory(path)
    }

    static func rename(_ from: String, _ to: String) throws(StoreError) {
        if Glibc.rename(from, to) != 0 { throw fail("rename to \(to)", from) }
    }

    static func remove(_ path: String) throws(StoreError) {
        if unlink(path) != 0 && gtshim_errno() != ENOENT { throw fail("unlink", path) }
    }
}

/// Writes whole files atomically: a reader (or a crash) sees the old content or the new, never a mix.
///
/// Steps: write a temporary file beside the target, fsync it, rename it over the target, fsync the directory.
/// Blocking; call off the cooperative pool. A namespace, `Sendable` trivially.
public enum AtomicFile {
    /// Replaces the file at `path` with `bytes`, durably. The directory must exist unless `createDirectory`.
    public static func write(
        _ bytes: [UInt8], to path: String, mode: mode_t = 0o644, createDirectory: Bool = false
    ) throws(StoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        if createDirectory && !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .io(operation: "create directory (\(error.localizedDescription))", path: directory, errno: EIO)
            }
        }
        let name = (path as NSString).lastPathComponent
        let temporary =
            (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        do {
            try FileIO.writeAll(fd, bytes, path: temporary)
            try FileIO.fsync(fd, path: temporary)
            close(fd)
            try FileIO.rename(temporary, path)
        } catch {
            close(fd)
            try? FileIO.remove(temporary)
            throw error
        }
        try FileIO.fsyncDirectory(directory.isEmpty ? "." : directory)
    }

    /// Replaces the file at `path` with `bytes` by rename, without fsync: readers see the old file or the new one,
    /// but after a power loss the old one (or none) may be back. For hints that may go stale, never for data.
    public static func replaceUnsynced(_ bytes: [UInt8], at path: String) throws(StoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary =
            (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        do {
            defer { close(fd) }
            try FileIO.writeAll(fd, bytes, path: temporary)
        } catch {
            try? FileIO.remove(temporary)
            throw error
        }
        do { try FileIO.rename(temporary, path) } catch {
            try? FileIO.remove(temporary)
            throw error
        }
    }

    /// Replaces the file at `path` with `data`, durably.
    public static func write(
        _ data: Data, to path: String, mode: mode_t = 0o644, createDirectory: Bool = false
    ) throws(StoreError) {
        try write([UInt8](data), to: path, mode: mode, createDirectory: createDirectory)
    }
}
