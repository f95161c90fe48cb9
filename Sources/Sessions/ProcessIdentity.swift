import Foundation

/// A process as the kernel knows it right now: pid, state, process group and start time, read from
/// `/proc/<pid>/stat`. `Sendable`: plain values.
public struct ProcessStat: Sendable, Equatable {
    /// The pid.
    public let pid: Int32
    /// Field 3, the state letter (`R`, `S`, `Z` for zombie, …).
    public let state: Character
    /// Field 5, the process group.
    public let processGroup: Int32
    /// Field 22, the start time in clock ticks since boot.
    public let startTime: UInt64

    /// Reads `/proc/<pid>/stat`; nil if there is no such process.
    public static func read(pid: Int32) -> ProcessStat? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        return parse(String(decoding: data, as: UTF8.self), pid: pid)
    }

    /// Parses the text of a stat file. The command name (field 2) is in parentheses and may itself contain
    /// spaces and parentheses, so fields are counted from the last `)`.
    static func parse(_ text: String, pid: Int32) -> ProcessStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // After ")": index 0 is field 3 (state), 2 is field 5 (pgrp), 19 is field 22 (starttime).
        guard fields.count > 19, let state = fields[0].first, let group = Int32(fields[2]),
            let start = UInt64(fields[19].trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return ProcessStat(pid: pid, state: state, processGroup: group, startTime: start)
    }

    /// Whether the process is running (present and not a zombie or dead).
    public var isRunning: Bool { state != "Z" && state != "X" && state != "x" }
}

/// A process pinned down by pid AND start time AND boot, so a reused pid is never taken for ours.
/// `Sendable`: plain values. `Codable` for process records.
public struct ProcessIdentity: Sendable, Equatable, Codable {
    /// The pid.
    public let pid: Int32
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    public let startTime: UInt64
    /// `/proc/sys/kernel/random/boot_id` when the identity was taken ("" if unreadable).
    public let bootID: String

    /// An identity from its parts.
    public init(pid: Int32, startTime: UInt64, bootID: String) {
        self.pid = pid
        self.startTime = startTime
        self.bootID = bootID
    }

    /// The identity of the running process `pid`, or nil if it is gone.
    public static func current(pid: Int32) -> ProcessIdentity? {
        guard let stat = ProcessStat.read(pid: pid) else { return nil }
        return ProcessIdentity(pid: pid, startTime: stat.startTime, bootID: ProcessIdentity.bootID)
    }

    /// This boot's ID.
    public static var bootID: String {
        FileManager.default.contents(atPath: "/proc/sys/kernel/random/boot_id")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    /// The process, if it still runs and is the same one (same pid, start time and boot); nil otherwise.
    public func live() -> ProcessStat? {
        guard bootID == ProcessIdentity.bootID, let stat = ProcessStat.read(pid: pid), stat.startTime == startTime,
            stat.isRunning
        else { return nil }
        return stat
    }

    /// Whether the same process still runs.
    public var isAlive: Bool { live() != nil }

    /// Sends `signal` to the process group this process leads (every process of the session), if that group
    /// is still ours: the leader is the same process (pid, start time, boot), alive or a zombie, or the leader
    /// is gone and the group lives on (Linux never hands out a pid still used as a process group id). When
    /// the pid now belongs to another process, nothing is signalled. Returns whether a signal was delivered.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        guard isOurs else { return false }
        return Glibc.kill(-pid, signal) == 0
    }

    /// Whether any process of the group this process led still runs (and the group is still ours). Zombies
    /// do not count: where pid 1 does not reap orphans (some containers) they linger forever.
    public var groupExists: Bool {
        guard isOurs, Glibc.kill(-pid, 0) == 0 else { return false }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard let member = Int32(entry), let stat = ProcessStat.read(pid: member) else { return false }
            return stat.processGroup == pid && stat.isRunning
        }
    }

    /// Same boot, and the pid is either free or still this process.
    private var isOurs: Bool {
        guard pid > 1, startTime != 0, bootID == ProcessIdentity.bootID else { return false }
        if let stat = ProcessStat.read(pid: pid) { return stat.startTime == startTime }
        return true
    }
}
