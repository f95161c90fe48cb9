/// Why a TOML document was rejected: where (line and column) and what was wrong, in one line such as
/// `line 12, column 7: expected '=' after key`.
/// `Sendable`: plain value.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem was found.
    public var location: TOMLLocation
    /// What was wrong, and where useful what to write instead.
    public var message: String

    public init(_ message: String, at location: TOMLLocation) {
        self.message = message
        self.location = location
    }

    public var line: Int { location.line }
    public var column: Int { location.column }

    /// `line 12, column 7: expected '=' after key`.
    public var description: String { "\(location): \(message)" }
}

/// Limits of the TOML parser, so a hostile document costs bounded memory and stack.
/// `Sendable`: plain value.
public struct TOMLSettings: Sendable, Hashable {
    /// Deepest nesting of arrays, inline tables and tables (header and dotted-key paths count too). toml-test's
    /// README suggests 128 to 256 "should be more than enough for pretty much all real-world documents".
    /// Default 128.
    public var maxDepth = 128
    /// Largest document accepted, in bytes. Default 64 MiB (a generated 20-disk Hanoi formula is 163 MB; a
    /// 15-disk one, 4.7 MB).
    public var maxBytes = 64 << 20

    public init() {}
}
