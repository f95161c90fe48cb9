import Foundation

/// The host figures a node publishes in its membership metadata: load average and free memory, read from
/// `/proc/loadavg` and `/proc/meminfo` (Linux).
///
/// Parsing is pure (``parseLoadAverage(_:)``, ``parseAvailableMemory(_:)``) and tested apart from reading.
/// Sendable: plain value.
public struct HostMetrics: Sendable, Hashable {
    /// One-minute load average.
    public var loadAverage: Double
    /// Available memory in bytes (`MemAvailable`, else `MemFree`).
    public var freeMemoryBytes: UInt64

    /// Makes a value.
    public init(loadAverage: Double, freeMemoryBytes: UInt64) {
        self.loadAverage = loadAverage
        self.freeMemoryBytes = freeMemoryBytes
    }

    /// True when these figures differ enough from `last` (the last published) to be worth gossiping: load
    /// by at least `max(loadChangeThreshold, loadChangeFraction × last load)`, or free memory by more than
    /// `memoryChangeFraction` of the last value.
    public func differsEnough(from last: HostMetrics, settings: MembershipShellSettings) -> Bool {
        let loadStep = max(settings.loadChangeThreshold, settings.loadChangeFraction * last.loadAverage)
        if abs(loadAverage - last.loadAverage) >= loadStep { return true }
        let memory = Double(freeMemoryBytes)
        let lastMemory = Double(last.freeMemoryBytes)
        return abs(memory - lastMemory) > lastMemory * settings.memoryChangeFraction
    }

    /// Reads the host's figures now; a figure that cannot be read is 0. Reading procfs never blocks on disk.
    public static func read(procRoot: String = "/proc") -> HostMetrics {
        let load = (try? String(contentsOfFile: procRoot + "/loadavg", encoding: .utf8)).flatMap(parseLoadAverage)
        let memory = (try? String(contentsOfFile: procRoot + "/meminfo", encoding: .utf8)).flatMap(parseAvailableMemory)
        return HostMetrics(loadAverage: load ?? 0, freeMemoryBytes: memory ?? 0)
    }

    /// The one-minute load average from the text of `/proc/loadavg` (`"0.52 0.58 0.59 1/345 12345"`).
    public static func parseLoadAverage(_ text: String) -> Double? {
        guard let first = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first,
            let value = Double(first), value.isFinite, value >= 0
        else { return nil }
        return value
    }

    /// Available memory in bytes from the text of `/proc/meminfo` (`MemAvailable:  123 kB`, else `MemFree`).
    public static func parseAvailableMemory(_ text: String) -> UInt64? {
        var free: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let value = UInt64(fields[1]) else { continue }
            let unit: UInt64 = fields.count >= 3 && fields[2].lowercased() == "kb" ? 1024 : 1
            let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
            if overflow { continue }
            if fields[0] == "MemAvailable:" { return bytes }
            if fields[0] == "MemFree:" { free = bytes }
        }
        return free
    }
}
