import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a `Console` writes text: the process's stdout/stderr, or a buffer in tests.
/// Implementations are `Sendable` (a console is handed to commands running on the cooperative pool).
public protocol OutputSink: Sendable {
    /// Writes `text` as UTF-8, whole.
    func write(_ text: String)
}

/// Writes to a file descriptor (1 or 2) with `write(2)`, retrying on EINTR and partial writes.
/// A closed pipe (EPIPE; SIGPIPE is ignored by `main`) drops the rest silently.
/// `Sendable`: holds only the descriptor number; each `write` call is independent.
public struct FileDescriptorSink: OutputSink {
    /// The descriptor written to.
    public let descriptor: Int32

    /// A sink for `descriptor`.
    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// The process's standard output.
    public static let standardOutput = FileDescriptorSink(descriptor: 1)
    /// The process's standard error.
    public static let standardError = FileDescriptorSink(descriptor: 2)

    public func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

/// Collects everything written, for tests. `@unchecked Sendable`: every access to `storage` holds `lock`.
public final class BufferSink: OutputSink, @unchecked Sendable {
    private let lock = NSLock()
    private var storage = ""

    /// An empty buffer.
    public init() {}

    public func write(_ text: String) {
        lock.lock()
        storage += text
        lock.unlock()
    }

    /// Everything written so far.
    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

/// How `--json` output is shaped, following beads (`cmd/bd/output.go`, `docs/JSON_SCHEMA.md`).
public enum JSONOutputStyle: Sendable, Equatable {
    /// beads' default: an object gets `"schema_version": 1` added at the top level; an array is printed as is.
    case legacy
    /// beads' `BD_JSON_ENVELOPE=1`: everything is wrapped as `{"data": …, "schema_version": 1}`.
    case envelope

    /// The style chosen by the environment: `BD_JSON_ENVELOPE=1` selects `.envelope`.
    public static func from(environment: [String: String]) -> JSONOutputStyle {
        environment["BD_JSON_ENVELOPE"] == "1" ? .envelope : .legacy
    }
}

/// The one way commands write output: text or JSON to stdout, messages and errors to stderr.
/// Injectable (tests pass `BufferSink`s) so no command prints to the global stdout.
/// `Sendable`: immutable, and its sinks are `Sendable`.
public struct Console: Sendable {
    /// The version of the JSON output schema (beads' `JSONSchemaVersion`).
    public static let schemaVersion = 1

    /// Standard output.
    public let stdout: any OutputSink
    /// Standard error.
    public let stderr: any OutputSink
    /// Whether `--json` was given: commands print `json(_:)` instead of text.
    public let jsonMode: Bool
    /// How JSON is shaped.
    public let jsonStyle: JSONOutputStyle

    /// A console writing to the given sinks.
    public init(
        stdout: any OutputSink, stderr: any OutputSink, jsonMode: Bool = false, jsonStyle: JSONOutputStyle = .legacy
    ) {
        self.stdout = stdout
        self.stderr = stderr
        self.jsonMode = jsonMode
        self.jsonStyle = jsonStyle
    }

    /// A console on the process's stdout and stderr.
    public static func standard(jsonMode: Bool = false, jsonStyle: JSONOutputStyle = .legacy) -> Console {
        Console(
            stdout: FileDescriptorSink.standardOutput, stderr: FileDescriptorSink.standardError, jsonMode: jsonMode,
            jsonStyle: jsonStyle)
    }

    /// Writes text to stdout, adding a newline when missing. Control characters are shown as escapes
    /// (`TerminalText.escaped`): text output never carries terminal control sequences, whatever a bead holds.
    public func out(_ text: String) {
        let safe = TerminalText.escaped(text)
        stdout.write(safe.hasSuffix("\n") ? safe : safe + "\n")
    }

    /// Writes text to stderr, adding a newline when missing, with control characters escaped as `out` does.
    public func err(_ text: String) {
        let safe = TerminalText.escaped(text)
        stderr.write(safe.hasSuffix("\n") ? safe : safe + "\n")
    }

    /// Progress for long work, on stderr (so stdout stays parseable), suppressed in `--json` mode.
    public func progress(_ text: String) {
        if !jsonMode { err(text) }
    }

    /// Writes a result as JSON on stdout, shaped by `jsonStyle` (see `JSONOutputStyle`).
    public func json<T: Encodable>(_ value: T) throws {
        stdout.write(shaped(try JSONValue(encoding: value)).formatted)
    }

    /// Writes a JSON value on stdout without the `schema_version` shaping (beads' `outputJSONRaw`).
    public func jsonRaw(_ value: JSONValue) {
        stdout.write(value.formatted)
    }

    /// Applies the envelope rules to a payload.
    public func shaped(_ payload: JSONValue) -> JSONValue {
        switch (jsonStyle, payload) {
        case (.envelope, _):
            return .object(["schema_version": .int(Int64(Console.schemaVersion)), "data": payload])
        case (.legacy, .object(var members)):
            members["schema_version"] = .int(Int64(Console.schemaVersion))
            return .object(members)
        case (.legacy, .null):
            return .object(["schema_version": .int(Int64(Console.schemaVersion))])
        case (.legacy, _):
            return payload
        }
    }

    /// Reports an error on stderr: in `--json` mode beads' error object
    /// (`{"error": …, "code": …, "hint": …, "schema_version": 1}`, or wrapped in `data` for the envelope
    /// style); otherwise one line, `prefix` then the message.
    public func reportError(_ message: String, hint: String?, code: String?, textPrefix: String = "Error: ") {
        if jsonMode {
            var inner: [String: JSONValue] = ["error": .string(message)]
            if let hint { inner["hint"] = .string(hint) }
            if let code { inner["code"] = .string(code) }
            stderr.write(shaped(.object(inner)).formatted)
        } else if let hint {
            err("\(textPrefix)\(message); \(hint)")
        } else {
            err("\(textPrefix)\(message)")
        }
    }
}
