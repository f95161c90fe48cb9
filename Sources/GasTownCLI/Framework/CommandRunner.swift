import CShims
import Foundation

/// Parses a command line, runs the selected command, reports errors, and returns the exit status.
/// The one place where parse errors become exit 2 and failures exit 1.
public enum CommandRunner {
    /// Runs `arguments` (program name first, as in `CommandLine.arguments`) for `program`.
    /// `console` defaults to the process's stdout/stderr; `environment` and `cwd` to the process's own.
    /// The process's arguments (program name first) as the bytes it was given.
    static func rawArguments() -> [[UInt8]] {
        (0..<Int(CommandLine.argc)).map { i in
            guard let pointer = CommandLine.unsafeArgv[i] else { return [] }
            return Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
        }
    }

    public static func run(
        _ arguments: [String], program: ProgramSpec, stdout: any OutputSink = FileDescriptorSink.standardOutput,
        stderr: any OutputSink = FileDescriptorSink.standardError,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cwd: String = FileManager.default.currentDirectoryPath
    ) async -> ExitCode {
        let words = Array(arguments.dropFirst())
        let style = JSONOutputStyle.from(environment: environment)
        let parsed: ParsedCommand
        do {
            parsed = try CommandLineParser.parse(words, program: program)
        } catch {
            let json = words.prefix(while: { $0 != "--" }).contains { $0 == "--json" || $0.hasPrefix("--json=t") }
            let console = Console(stdout: stdout, stderr: stderr, jsonMode: json, jsonStyle: style)
            console.reportError(error.description, hint: nil, code: error.code, textPrefix: "")
            return .usage
        }
        let console = Console(stdout: stdout, stderr: stderr, jsonMode: parsed.globals.flag("json"), jsonStyle: style)
        let context = CommandContext(
            program: program, parsed: parsed, console: console, environment: environment,
            cwd: Discovery.absolute(cwd, cwd: "/"))
        switch parsed.action {
        case .help:
            console.out(context.helpText())
            return .success
        case .version:
            console.out("\(program.name) version \(program.version)")
            return .success
        case .run:
            break
        }
        do {
            let command = try parsed.command.init(parsed: parsed.values)
            try await command.run(context)
            return .success
        } catch let error as UsageError {
            console.reportError(error.description, hint: nil, code: error.code, textPrefix: "")
            return .usage
        } catch let exit as CommandExit {
            return exit.exitCode
        } catch let error as CLIError {
            console.reportError(error.message, hint: error.hint, code: error.code)
            return error.exitCode
        } catch {
            console.reportError(describe(error), hint: nil, code: nil)
            return .failure
        }
    }

    /// Process-wide set-up every executable does first: SIGPIPE ignored (a closed pipe gives EPIPE instead of killing
    /// `gt`/`bd`), and OpenSSL initialised without its atexit cleanup (see `gtshim_openssl_init_no_atexit`).
    public static func prepareProcess() {
        gtshim_openssl_init_no_atexit()
        gtshim_ignore_sigpipe()
    }

    static func describe(_ error: any Error) -> String {
        if let localized = error as? any LocalizedError, let text = localized.errorDescription { return text }
        return String(describing: error)
    }
}
