import CGit2
import Foundation

/// A git object id (SHA-1, 20 bytes), printed as 40 lowercase hex digits.
///
/// Sendable: yes, a plain value.
public struct GitOID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The 20 raw bytes.
    public let bytes: [UInt8]

    /// Wraps raw bytes; `nil` unless there are exactly 20.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    /// Parses 40 hex digits; `nil` for anything else.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 40 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(20)
        var index = 0
        while index < 40 {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        bytes = out
    }

    init(_ oid: git_oid) {
        var copy = oid
        bytes = withUnsafeBytes(of: &copy.id) { Array($0.prefix(20)) }
    }

    init(_ pointer: UnsafePointer<git_oid>) {
        self.init(pointer.pointee)
    }

    /// The libgit2 value.
    var raw: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { buffer in
            for index in 0..<20 { buffer[index] = bytes[index] }
        }
        return oid
    }

    /// 40 lowercase hex digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(40)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    public static func < (lhs: GitOID, rhs: GitOID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    private static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return char - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Who made a commit and when: name, email, time and the time zone offset in minutes.
///
/// Sendable: yes, a plain value.
public struct GitSignature: Sendable, Equatable {
    /// The person's (or node's) name.
    public var name: String
    /// The email address.
    public var email: String
    /// Seconds since 1970 (git stores whole seconds).
    public var time: Int64
    /// Offset from UTC in minutes.
    public var offsetMinutes: Int32

    /// A signature at the given time.
    public init(name: String, email: String, time: Int64, offsetMinutes: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    /// A signature at the given date.
    public init(name: String, email: String, date: Date, offsetMinutes: Int32 = 0) {
        self.init(
            name: name, email: email, time: Int64(date.timeIntervalSince1970.rounded(.down)),
            offsetMinutes: offsetMinutes)
    }

    init(_ raw: UnsafePointer<git_signature>) {
        name = raw.pointee.name.map { String(cString: $0) } ?? ""
        email = raw.pointee.email.map { String(cString: $0) } ?? ""
        time = Int64(raw.pointee.when.time)
        offsetMinutes = raw.pointee.when.offset
    }
}

/// A commit as read back from a repository.
///
/// Sendable: yes, a plain value.
public struct GitCommitInfo: Sendable, Equatable {
    /// The commit's id.
    public let id: GitOID
    /// Its root tree.
    public let tree: GitOID
    /// Its parents, first parent first.
    public let parents: [GitOID]
    /// The full message.
    public let message: String
    /// The author.
    public let author: GitSignature
    /// The committer.
    public let committer: GitSignature
}

/// A branch and the commit it points at.
///
/// Sendable: yes, a plain value.
public struct GitBranch: Sendable, Equatable {
    /// Short name: `main`, or `origin/main` for a remote-tracking branch.
    public let name: String
    /// Full reference name: `refs/heads/main`, `refs/remotes/origin/main`.
    public let reference: String
    /// The commit it points at.
    public let target: GitOID
    /// Whether it is a remote-tracking branch.
    public let isRemote: Bool
}

/// Which branches `GitRepository.branches(_:)` lists.
public enum GitBranchKind: Sendable {
    /// `refs/heads/*`.
    case local
    /// `refs/remotes/*`.
    case remote
    /// Both.
    case all
}
