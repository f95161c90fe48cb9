import Foundation
import Sessions

/// What `gt mayor attach` did. `Sendable`: plain values.
public struct MayorSessionResult: Sendable, Codable, Equatable {
    /// The session's name (tmux's too).
    public var session: String
    /// False when it was running already.
    public var started: Bool
    public var runtime: String
    /// Its working directory, `<town>/mayor`.
    public var directory: String
    /// The role context file the session was given (`GT_ROLE_CONTEXT`).
    public var context: String
    /// The command that attaches a terminal to it (when the sessions are tmux's).
    public var attach: String
}

extension TownWorkflow {
    /// The Mayor's session name: rig `hq`, agent `mayor`, epoch 0 (Gas Town's `hq-mayor`).
    public var mayorSession: SessionName {
        SessionName(town: TownID(townRoot: layout.root), rig: "hq", polecat: "mayor", epoch: 0)
    }

    /// The Mayor's role context (Gas Town's roles/mayor.toml: the town's global coordinator for cross-rig work).
    static func mayorRoleContext(town: String) -> String {
        """
        # You are the Mayor of the Gas Town at \(town)

        Role: mayor (scope: town). You are the global coordinator for cross-rig work; there is one Mayor per town.
        You do not write code in rigs yourself: you file beads, sling them to polecats and watch them land.

        - Check mail and hook status, then act accordingly: `gt mail inbox`, `gt hook`, `gt status`.
        - See the work: `bd ready`, `bd list`, `gt agents` (every node's polecats), `gt convoy list`.
        - Give work out: `gt sling <bead>` (the cluster's Mayor component places it on a node with room),
          `gt convoy create` for a batch, `gt nudge <agent> <text>` to prod a polecat, `gt mail send` to tell it more.
        - Cluster: `gt node list`, `gt mayor queue`, `gt node drain --move` before taking a node away.
        """
    }

    /// `gt mayor attach`: starts the Mayor's agent session (once; a running one is left alone) in `<town>/mayor`
    /// with the runtime (`runtime`, else the town's default), `GT_ROLE=mayor`, `GT_SCOPE=town`, and the role
    /// context written to `<town>/mayor/.gt/mayor-context.md` (`GT_ROLE_CONTEXT`) and given as its prompt.
    public func startMayorSession(runtime requested: String?) async throws(TownError) -> MayorSessionResult {
        let runtimeText = requested ?? settings.defaultRuntime
        let runtime = try resolveRuntime(runtimeText, rig: nil)
        let name = mayorSession
        let directory = layout.root + "/mayor"
        let contextPath = directory + "/.gt/mayor-context.md"
        let tmux = (sessions as? TmuxDriver).map { "tmux -L \($0.socketName) attach -t \(name.rendered)" } ?? ""
        var result = MayorSessionResult(
            session: name.rendered, started: false, runtime: runtimeText, directory: directory, context: contextPath,
            attach: tmux)
        if (try? await sessions.isAlive(name)) == true { return result }
        let text = TownWorkflow.mayorRoleContext(town: layout.root)
        do {
            try FileManager.default.createDirectory(atPath: directory + "/.gt", withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: contextPath), options: .atomic)
        } catch {
            throw .io("cannot write \(contextPath): \(error)")
        }
        let agent = AgentContext(
            townRoot: layout.root, rig: "hq", polecat: "mayor", beadsDir: layout.beadsDirectory,
            gtBinDirectory: (gtExecutable as NSString).deletingLastPathComponent, role: "mayor")
        var launch: AgentLaunch
        do {
            launch = try runtime.launch(
                context: agent, session: name,
                prompt: "You are the Mayor of this town. Read \(contextPath), then check mail and hook status.")
        } catch {
            throw .badRuntime(error.description)
        }
        launch.environment["GT_ROLE"] = "mayor"
        launch.environment["GT_SCOPE"] = "town"
        launch.environment["GT_ROLE_CONTEXT"] = contextPath
        _ = try? await sessions.forget(name)
        let spec = SessionSpec(
            name: name, worktree: directory, launch: launch, logPath: layout.sessionLogs + "/\(name.rendered).log")
        do { _ = try await sessions.start(spec) } catch { throw .session(error.description) }
        events.record("mayor-session", ["session": name.rendered, "runtime": runtimeText])
        result.started = true
        return result
    }
}
