/// Gas Town's top-level commands (`internal/cmd`, `rootCmd.AddCommand`) that this `gt` does not have, each with
/// what to use here instead, or that it is not built yet. `gt <name>` of one of these says so (exit 2) instead of
/// only "unknown command". A command that gets built wins over its entry (the table is read only for words no
/// command answers to), so an entry left behind is harmless; `GTMissingCommandsTests` checks that every command
/// an entry names exists.
///
/// A caseless namespace (`Sendable` trivially).
enum GTMissingCommands {
    /// Gas Town's command → what to do here (the text after "not built here yet; ").
    static let table: [(name: String, instead: String)] = [
        ("account", "runtimes log in on their own (set their env in <town>/settings/agents.json)"),
        ("activity", "read <town>/.gt/events.jsonl (one JSON event per line)"),
        ("agent-log", "session output is in <town>/.gt/logs/sessions/<session>.log"),
        ("assign", "create the bead with 'bd create' and hand it out with 'gt sling <bead> [rig]'"),
        ("audit", "use 'bd list -a <actor> --all', or read <town>/.gt/events.jsonl"),
        ("bead", "use 'bd' (bd show, bd update, bd list, …)"),
        ("boot", "planned with the Deacon; the node ('gt up') restarts its own components"),
        ("broadcast", "use 'gt nudge <rig>/<polecat> <text>' for each polecat 'gt polecat list' shows"),
        ("callbacks", "runtime hooks call 'gt prime --hook' (docs/sessions.md)"),
        ("cat", "use 'bd show <bead>'"),
        ("changelog", "use 'bd list -s closed'"),
        ("checkpoint", "'gt handoff' starts a fresh session on the same hook"),
        ("cleanup", "use 'gt witness patrol' (restarts dead sessions, releases claims nobody works)"),
        ("close", "use 'bd close <bead>…'"),
        ("commit", "commit with git in the worktree, then run 'gt done'"),
        ("compact", "wisps are squashed or burned one by one: 'gt mol squash <wisp>' (a digest), 'gt mol burn <wisp>'"),
        ("config", "edit <town>/mayor/town.json, <town>/settings/ and <town>/<rig>/config.json (docs/town.md)"),
        ("cycle", "sessions live in the town's own tmux server ('tmux -L gt-<town-id> ls')"),
        ("daemon", "use 'gt up', 'gt down' and 'gt status' (the node is the daemon)"),
        ("deacon", "planned; the node's Witness patrols every 2 s ('gt witness patrol' runs one pass)"),
        ("directive", "planned"),
        ("disable", "use 'gt down' (stops the node)"),
        ("dnd", "planned"),
        ("dog", "planned"),
        ("dolt", "there is no Dolt server: the ledger is a write-ahead log in <town>/.beads (docs/bd.md)"),
        ("enable", "use 'gt up' (starts the node)"),
        ("escalate", "mail the overseer: 'gt mail send overseer -s SUBJECT -m TEXT'"),
        ("forget", "planned (memories)"),
        ("git-init", "use 'gt install <dir>' for the town and 'gt rig add <name> <git-url>' for a repository"),
        ("hooks", "'gt sling' installs each runtime's hook file (docs/sessions.md)"),
        ("info", "use 'gt version' and 'gt where'"),
        ("init", "use 'gt rig add <name> <git-url>'"),
        ("issue", "planned (tmux status line)"),
        ("krc", "planned"),
        ("log", "read <town>/.gt/events.jsonl"),
        ("maintain", "there is no Dolt server to maintain (docs/bd.md)"),
        ("memories", "planned"),
        ("metrics", "planned"),
        ("mountain", "planned"),
        ("namepool", "names come from a fixed pool (docs/town.md)"),
        ("nudge-poller", "'gt nudge' types into the session directly; no poller is needed"),
        ("orphans", "use 'gt witness patrol' (releases claims no polecat is hooked to)"),
        ("patrol", "use 'gt witness patrol'"),
        (
            "peek",
            "read <town>/.gt/logs/sessions/<session>.log ('gt hook' names the session), or attach with "
                + "'tmux -L gt-<town-id> attach -t <session>'"
        ),
        ("plugin", "planned"),
        ("proxy-subcmds", "planned"),
        ("prune-branches", "planned"),
        ("quota", "planned"),
        ("ready", "use 'bd ready'"),
        ("reaper", "planned"),
        ("remember", "planned (memories)"),
        ("repair", "use 'gt witness patrol' (hooks and claims)"),
        ("restart", "'gt handoff' (inside a worktree) replaces a polecat's session"),
        ("resume", "mail outlives sessions: 'gt mail inbox'"),
        ("role", "an agent's identity is $GT_ROLE (<rig>/polecats/<name>); a person is overseer"),
        ("seance", "planned; mail outlives sessions ('gt mail inbox')"),
        ("session", "use 'gt polecat status <rig>/<name>' and 'gt hook'"),
        ("shell", "planned"),
        ("show", "use 'bd show <bead>'"),
        ("shutdown", "use 'gt down'"),
        ("signal", "runtime hooks call 'gt prime --hook' (docs/sessions.md)"),
        ("stale", "use 'gt version'"),
        ("start", "use 'gt up'"),
        ("status-line", "planned (tmux status line)"),
        ("synthesis", "planned (convoys)"),
        ("tap", "runtime hooks call 'gt prime --hook' (docs/sessions.md)"),
        ("thanks", "see Gas Town's README"),
        ("theme", "planned"),
        ("town", "use 'gt where' and 'gt status'"),
        ("trail", "read <town>/.gt/events.jsonl"),
        ("unhook", "use 'gt release <bead>' (the bead goes back to open; its polecat's hook and session end)"),
        ("uninstall", "stop the node ('gt down') and remove the town's directory"),
        ("unsling", "use 'gt release <bead>' (the bead goes back to open; its polecat's hook and session end)"),
        ("upgrade", "planned"),
        ("vitals", "use 'gt status' and 'gt hook'"),
        ("warrant", "use 'gt polecat remove <rig> <name> --force'"),
        ("whoami", "an agent's identity is $GT_ROLE (<rig>/polecats/<name>); a person is overseer"),
        ("wl", "planned (federation)"),
        ("worktree", "use 'gt crew add <rig> <name>' for a clone of another rig"),
    ]

    /// The table as `ProgramSpec.missingCommands` takes it.
    static var byName: [String: String] {
        Dictionary(table.map { ($0.name, $0.instead) }, uniquingKeysWith: { first, _ in first })
    }
}
