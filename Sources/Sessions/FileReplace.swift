import Foundation

/// Replaces a file's content all at once: writes a sibling temporary file and renames it over the target, so a
/// reader sees the old content or the new one, never a part. (Foundation's `.atomic` writes on Linux leave an empty
/// `TemporaryDirectory.*` behind in /tmp for every call, so this module does not use them.)
enum FileReplace {
    static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }
}
