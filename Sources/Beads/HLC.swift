/// A hybrid-logical-clock stamp: wall time in milliseconds, a counter for events within one millisecond (or
/// while the wall clock lags a received stamp), and the node that made it. Total order: wall, counter, node.
/// Text form (used in `stamps.jsonl` and the WAL): `<wallMillis>.<counter>@<node>`, e.g. `1735408516123.0@a1`.
///
/// `Sendable`: plain value.
public struct HLCStamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var wallMillis: Int64
    public var counter: UInt32
    public var node: String

    public init(wallMillis: Int64, counter: UInt32 = 0, node: String) {
        self.wallMillis = wallMillis
        self.counter = counter
        self.node = node
    }

    /// The smallest stamp; older than any real write.
    public static let zero = HLCStamp(wallMillis: 0, counter: 0, node: "")

    public static func < (a: HLCStamp, b: HLCStamp) -> Bool {
        if a.wallMillis != b.wallMillis { return a.wallMillis < b.wallMillis }
        if a.counter != b.counter { return a.counter < b.counter }
        return a.node.utf8.lexicographicallyPrecedes(b.node.utf8)
    }

    public var description: String { "\(wallMillis).\(counter)@\(node)" }

    /// Parses the text form; nil when malformed.
    public init?(text: String) {
        var text = text
        // Fast path over the UTF-8 bytes for the canonical form (plain digits); anything else (signs, overlong
        // digit runs) goes through the standard integer parsers, so both accept exactly the same texts.
        let fast: HLCStamp? = text.withUTF8 { bytes -> HLCStamp? in
            guard let at = bytes.firstIndex(of: UInt8(ascii: "@")),
                let dot = bytes[..<at].firstIndex(of: UInt8(ascii: ".")),
                let wall = HLCStamp.plainDecimal(bytes[..<dot], maxDigits: 18),
                let counter = HLCStamp.plainDecimal(bytes[(dot + 1)..<at], maxDigits: 9)
            else { return nil }
            let node = String(decoding: UnsafeBufferPointer(rebasing: bytes[(at + 1)...]), as: UTF8.self)
            return HLCStamp(wallMillis: Int64(wall), counter: UInt32(counter), node: node)
        }
        if let fast {
            self = fast
            return
        }
        guard let at = text.firstIndex(of: "@"), let dot = text[..<at].firstIndex(of: "."),
            let wall = Int64(text[..<dot]), let counter = UInt32(text[text.index(after: dot)..<at])
        else { return nil }
        self.init(wallMillis: wall, counter: counter, node: String(text[text.index(after: at)...]))
    }

    /// The value of 1…`maxDigits` ASCII digits (no sign), else nil. `maxDigits` keeps it clear of overflow.
    static func plainDecimal(_ digits: Slice<UnsafeBufferPointer<UInt8>>, maxDigits: Int) -> UInt64? {
        guard !digits.isEmpty, digits.count <= maxDigits else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }
}

/// Settings of the hybrid logical clock.
/// `Sendable`: plain value.
public struct HLCSettings: Sendable, Hashable {
    /// A received stamp more than this far ahead of the local wall clock is refused. Default 60 000 ms.
    public var maxDriftMillis: Int64 = 60_000
    public init(maxDriftMillis: Int64 = 60_000) { self.maxDriftMillis = maxDriftMillis }
}

/// Why the clock refused a stamp. `Sendable`: plain value.
public enum HLCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stamp is further ahead of the local wall clock than `HLCSettings.maxDriftMillis`.
    case tooFarAhead(stamp: HLCStamp, localWallMillis: Int64, maxDriftMillis: Int64)
    /// The counter would overflow (more than 2³² events within one millisecond).
    case counterOverflow

    public var description: String {
        switch self {
        case .tooFarAhead(let s, let local, let max):
            return "stamp \(s) is \(s.wallMillis - local) ms ahead of the local clock (limit \(max) ms): "
                + "check the clocks of node \(s.node) and this machine (NTP)"
        case .counterOverflow: return "hybrid logical clock counter overflow"
        }
    }
}

/// A hybrid logical clock (Kulkarni et al.) for one node. It never reads the time itself: the caller passes the
/// wall time to every call, so replay is deterministic.
///
/// `Sendable`: plain value; each owner (one per node) mutates its own copy.
public struct HybridLogicalClock: Sendable, Hashable {
    public let node: String
    public var settings: HLCSettings
    /// The last stamp issued or observed.
    public private(set) var last: HLCStamp

    public init(node: String, settings: HLCSettings = HLCSettings(), last: HLCStamp? = nil) {
        self.node = node
        self.settings = settings
        self.last = last ?? HLCStamp(wallMillis: 0, counter: 0, node: node)
    }

    /// A new stamp for a local event at wall time `wallMillis`; strictly greater than every stamp issued or
    /// observed before.
    public mutating func tick(wallMillis: Int64) throws(HLCError) -> HLCStamp {
        let next: HLCStamp
        if wallMillis > last.wallMillis {
            next = HLCStamp(wallMillis: wallMillis, counter: 0, node: node)
        } else {
            guard last.counter < UInt32.max else { throw .counterOverflow }
            next = HLCStamp(wallMillis: last.wallMillis, counter: last.counter + 1, node: node)
        }
        last = next
        return next
    }

    /// Takes in a stamp received from another replica (refusing one more than `maxDriftMillis` ahead of
    /// `wallMillis`), so the next `tick` is greater than it. The clock is unchanged on error.
    public mutating func observe(_ stamp: HLCStamp, wallMillis: Int64) throws(HLCError) {
        if stamp.wallMillis > wallMillis + settings.maxDriftMillis {
            throw .tooFarAhead(stamp: stamp, localWallMillis: wallMillis, maxDriftMillis: settings.maxDriftMillis)
        }
        if stamp > last { last = HLCStamp(wallMillis: stamp.wallMillis, counter: stamp.counter, node: node) }
    }

    /// `observe` then `tick`: the stamp of a local event caused by receiving `stamp`.
    public mutating func receive(_ stamp: HLCStamp, wallMillis: Int64) throws(HLCError) -> HLCStamp {
        let saved = last
        try observe(stamp, wallMillis: wallMillis)
        do { return try tick(wallMillis: wallMillis) } catch {
            last = saved
            throw error
        }
    }
}
