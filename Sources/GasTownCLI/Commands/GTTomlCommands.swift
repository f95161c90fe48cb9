import Formula
import Foundation

/// `gt toml`: the TOML 1.0 decoder formulas are read with, exposed for checking documents and for toml-test.
public struct GTTomlCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "toml", abstract: "TOML 1.0 tools (the decoder formulas and role files are read with)",
            subcommands: [GTTomlDecodeCommand.self])
    }

    public init() {}
}

/// `gt toml decode [FILE]`: reads a TOML document (stdin by default) and prints toml-test's tagged JSON, so the
/// toml-test runner can check our decoder (`toml-test gt -- toml decode`). An invalid document exits 1 with
/// `line L, column C: what was wrong` on stderr and nothing on stdout.
public struct GTTomlDecodeCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "decode", abstract: "Decode TOML from stdin (or FILE) into toml-test's tagged JSON",
            discussion: """
                Tables become JSON objects, arrays JSON arrays, and every other value {"type": …, "value": …} with
                type string, integer, float, bool, datetime, datetime-local, date-local or time-local (the toml-test
                README's "JSON encoding"). Invalid TOML exits 1 with the line and column of the problem on stderr.
                """,
            arguments: [ArgumentSpec("file", help: "the TOML file to read (default: stdin)", arity: .optional)])
    }

    var file: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        file = parsed.optionalArgument("file")
    }

    public func run(_ context: CommandContext) async throws {
        let path = file.map { context.absolutePath($0) }
        let bytes: [UInt8] = try await BlockingWork.run { () throws(CLIError) -> [UInt8] in
            guard let path else { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read \(path)", hint: "check the path", code: "not_found")
            }
            return [UInt8](data)
        }
        let table: TOMLTable
        do {
            table = try TOML.parse(bytes: bytes)
        } catch {
            throw CLIError("\(path.map { "\($0): " } ?? "")\(error)", code: "invalid_toml")
        }
        context.console.stdout.write(TOMLTaggedJSON.encode(table))
    }
}
