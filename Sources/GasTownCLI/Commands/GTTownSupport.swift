import Foundation
import Node
import Town

extension CommandContext {
    /// The town workflow for this command line: the town found by DESIGN §10's rule, the actor, and this `gt`
    /// executable (put on agents' `PATH`).
    func townWorkflow() async throws -> TownWorkflow {
        let root = try townRoot().path
        do {
            var workflow = try await TownWorkflow(
                layout: TownLayout(root: root), actor: await actor(), gtExecutable: GTTown.executablePath)
            let console = self.console
            workflow.notice = { console.progress($0) }
            workflow.warning = { console.err("warning: \($0)") }
            return workflow
        } catch {
            throw GTTown.cliError(error)
        }
    }

    /// Runs an agent-facing request: run by the node itself when the command runs in the node; through the
    /// town's node when the town has one (waiting for it, bounded and
    /// saying so, when it is down: never writing around it), else embedded with `embedded`.
    func agentRequest<Response: Codable & Sendable>(
        _ request: TownAgentRequest, as: Response.Type,
        embedded: (TownWorkflow) async throws -> Response
    ) async throws -> Response {
        let layout = TownLayout(root: try townRoot().path)
        let response: Response
        if NodeLedgerHandle.current == nil, TownAgentChannel.townHasNode(layout) {
            let console = self.console
            response = try await GTTown.run {
                try await TownAgentChannel.send(request, to: layout, as: Response.self) { console.progress($0) }
            }
        } else {
            let workflow = try await townWorkflow()
            response = try await GTTown.run { try await embedded(workflow) }
        }
        // Evidence for the Witness (last `gt` call); only after success, so a refused command changes nothing.
        AgentActivity.recordCall(from: cwd, command: request.operation.rawValue)
        return response
    }

    /// Who is speaking for mail and handoff: `--from`, else the agent's address from its environment (`$GT_ROLE`,
    /// full as our sessions set it, or a bare role completed from `$GT_RIG`/`$GT_POLECAT`/`$GT_CREW`), else the
    /// polecat of the enclosing worktree (its hook, else `$GT_RIG`/`$GT_POLECAT`), else `overseer` (the person at
    /// the keyboard).
    func agentIdentity(flag: String?) -> String {
        if let flag, !flag.isEmpty { return AgentAddress.canonical(flag) }
        if let address = AgentAddress.fromEnvironment(environment) { return address }
        if let worktree = TownLayout.enclosingWorktree(of: cwd) {
            if let hook = try? Hook.read(worktree: worktree) { return hook.agent }
            if let rig = environment["GT_RIG"], !rig.isEmpty, let polecat = environment["GT_POLECAT"], !polecat.isEmpty
            {
                return "\(rig)/polecats/\(polecat)"
            }
        }
        return AgentAddress.overseer
    }
}

/// Helpers shared by the town commands. A caseless namespace.
enum GTTown {
    /// This executable's absolute path (`/proc/self/exe`), else argv[0].
    static var executablePath: String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// A workflow error as a CLI failure with a machine code.
    static func cliError(_ error: Error) -> Error {
        guard let error = error as? TownError else { return error }
        let code: String
        switch error {
        case .notATown: code = "no_town"
        case .invalidName: code = "bad_name"
        case .rigExists, .polecatExists, .prefixTaken, .convoyExists: code = "exists"
        case .noSuchRig, .noSuchBead, .noSuchPolecat, .noSuchAgent, .noSuchMessage, .unknownAddress, .noRigForBead,
            .noSuchConvoy:
            code = "not_found"
        case .notWork: code = "not_work"
        case .nothingToRelease: code = "not_claimed"
        case .notARepository: code = "not_a_repository"
        case .beadClosed: code = "closed"
        case .beadHooked, .beadClaimed, .polecatBusy: code = "busy"
        case .rigFull: code = "full"
        case .notInWorktree: code = "not_in_worktree"
        case .dirtyWorktree: code = "dirty"
        case .staleEpoch: code = "stale_epoch"
        case .badRuntime: code = "bad_runtime"
        case .convoyRefused: code = "refused"
        case .frozen: code = "frozen"
        case .overBudget: code = "over_budget"
        default: code = "failed"
        }
        return CLIError(error.description, code: code)
    }

    /// Runs `body`, turning workflow errors into CLI failures.
    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw cliError(error) }
    }
}

/// The `<rig> <name>` arguments of the commands that act on one member of a rig (a polecat, a crew clone):
/// their argument specs and the values read back from a parse.
///
/// A plain value (`Sendable`: two strings).
struct RigMember: Sendable {
    /// The rig.
    var rig: String
    /// The member's name in the rig.
    var name: String

    /// The two argument specs: `rig` ("the rig") and `name`, described by `member`.
    static func arguments(member: String) -> [ArgumentSpec] {
        [ArgumentSpec("rig", help: "the rig"), ArgumentSpec("name", help: member)]
    }

    /// Reads the two arguments `arguments(member:)` declared.
    init(_ parsed: ParsedValues) {
        rig = parsed.argument("rig")
        name = parsed.argument("name")
    }
}

/// A command whose only values are the `<rig> <name>` of a `RigMember` (`gt polecat add`, `gt crew add`,
/// `gt crew at`): it reads them in the shared `init(parsed:)` and reads `rig` and `name` back in `run`.
protocol RigMemberCommand: CLICommand {
    /// The rig member named on the command line.
    var member: RigMember { get }
    /// Makes the command for `member`.
    init(member: RigMember)
}

extension RigMemberCommand {
    public init(parsed: ParsedValues) throws(UsageError) { self.init(member: RigMember(parsed)) }

    /// The rig.
    var rig: String { member.rig }
    /// The member's name in the rig.
    var name: String { member.name }
}
