import Git

/// Everything the town workflow refuses or fails at, each saying what was wrong and what to do. When one of
/// these is thrown by a validation, nothing was changed.
/// `Sendable`: plain values.
public enum TownError: Error, Sendable, Equatable, CustomStringConvertible {
    case notATown(String)
    case invalidName(kind: String, name: String)
    case rigExists(String)
    case noSuchRig(name: String, known: [String])
    case prefixTaken(prefix: String, rig: String)
    case notARepository(url: String, reason: String)
    case noSuchBead(String)
    case beadClosed(String)
    case beadHooked(id: String, holder: String, epoch: Int)
    /// Claimed (or assigned) by someone, not hooked by a polecat: `bd update --claim`, `bd create -a`.
    case beadClaimed(id: String, holder: String, epoch: Int)
    /// A bead whose type is not work (message, agent, merge-request, molecule, …): never slung.
    case notWork(id: String, type: String)
    /// A bead of no rig's scope slung without naming a rig.
    case noRigForBead(id: String, known: [String])
    /// `gt release` of a bead nobody holds.
    case nothingToRelease(id: String, why: String)
    /// Mail to an address nobody reads, with the addresses there are.
    case unknownAddress(address: String, reason: String, valid: [String])
    case noSuchPolecat(rig: String, name: String)
    case polecatExists(rig: String, name: String)
    case polecatBusy(rig: String, name: String, bead: String)
    case rigFull(rig: String, limit: Int)
    case notInWorktree(String)
    case dirtyWorktree(path: String, files: [String])
    case staleEpoch(bead: String, hooked: Int, current: Int)
    /// A Witness action aimed at a session epoch (or bead) that is no longer the polecat's: refused, nothing done.
    case fenced(String)
    case badRuntime(String)
    case badHookFile(path: String, reason: String)
    case noSuchAgent(String)
    case noSuchMessage(String)
    case ledger(String)
    case git(String)
    case session(String)
    case io(String)
    /// A formula that does not load or cook, or a molecule command refused (the text names file, line, field).
    case formula(String)
    /// The node refused the request (its message is the workflow's error text).
    case refusedByNode(String)
    /// The town has a node and it did not come back in time.
    case nodeDown(String)
    /// No convoy of that ID or name (with the convoys there are).
    case noSuchConvoy(name: String, known: [String])
    /// A convoy of that name exists already.
    case convoyExists(name: String, id: String)
    /// A convoy that may not land (not every tracked bead merged, landed already, tracks nothing), or a bad convoy
    /// request (an empty name, no beads): the text says which.
    case convoyRefused(String)
    /// The cluster is frozen (`gt estop`): the text says by whom, when, why, and that `gt thaw` resumes.
    case frozen(String)
    /// A budget of settings/costs.json is spent: the text names it, what was spent and how to raise it.
    case overBudget(String)

    public var description: String {
        switch self {
        case .notATown(let why): "not a Gas Town: \(why); run 'gt install <dir>' or pass --town DIR"
        case .invalidName(let kind, let name):
            "invalid \(kind) name '\(name)': use 1-40 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        case .rigExists(let name):
            "rig '\(name)' already exists; remove it first ('gt rig remove \(name)') or pick another name"
        case .noSuchRig(let name, let known):
            "no rig named '\(name)'"
                + (known.isEmpty
                    ? "; add one with 'gt rig add <name> <git-url>'"
                    : " (rigs: \(known.joined(separator: ", "))); check the name with 'gt rig list'")
        case .prefixTaken(let prefix, let rig): "bead prefix '\(prefix)' is already used by \(rig); pass --prefix P"
        case .notARepository(let url, let reason):
            GitRemoteURL.redacting("\(url) is not a git repository we can clone (\(reason))", url: url)
                + "; check the URL (nothing was changed)"
        case .noSuchBead(let id): "no bead \(id); check the ID with 'bd list' (nothing was changed)"
        case .beadClosed(let id):
            "bead \(id) is closed; reopen it with 'bd reopen \(id)' before slinging (nothing was changed)"
        case .beadHooked(let id, let holder, let epoch):
            "bead \(id) is already hooked by \(holder) (lease epoch \(epoch)); wait for its 'gt done', release it with "
                + "'gt release \(id)', or take it over with 'gt sling \(id) --force' (nothing was changed)"
        case .beadClaimed(let id, let holder, let epoch):
            "bead \(id) is claimed by \(holder) (lease epoch \(epoch)); release it with 'gt release \(id)', or take it "
                + "over with 'gt sling \(id) --force' (nothing was changed)"
        case .notWork(let id, let type):
            TownError.notWorkText(id: id, type: type)
        case .noRigForBead(let id, let known):
            "bead \(id) belongs to no rig's scope; name the rig: 'gt sling \(id) <rig>'"
                + (known.isEmpty
                    ? " (there are no rigs: add one with 'gt rig add <name> <git-url>')"
                    : " (rigs: \(known.joined(separator: ", ")))")
        case .nothingToRelease(let id, let why): "nothing to release: bead \(id) \(why)"
        case .unknownAddress(let address, let reason, let valid):
            "no mailbox '\(address)': \(reason); mail goes to one of \(valid.joined(separator: ", ")) (nothing was sent)"
        case .noSuchPolecat(let rig, let name): "no polecat '\(name)' in rig \(rig); see 'gt polecat list \(rig)'"
        case .polecatExists(let rig, let name): "polecat '\(name)' already exists in rig \(rig)"
        case .polecatBusy(let rig, let name, let bead):
            "polecat \(rig)/\(name) is working on \(bead); wait for 'gt done' (or remove it with --force)"
        case .rigFull(let rig, let limit):
            "rig \(rig) has \(limit) busy polecats (the limit); wait for one to finish ('gt hook' lists them), or raise "
                + "\"max_polecats\" in the rig's config.json (<town>/\(rig)/config.json)"
        case .notInWorktree(let cwd):
            "\(cwd) is not inside a polecat worktree (no .gt/hook.json above it); run this from the polecat's worktree"
        case .dirtyWorktree(let path, let files):
            "the worktree \(path) has uncommitted changes: \(files.joined(separator: ", ")); commit or discard them, then run 'gt done' again (nothing was changed)"
        case .staleEpoch(let bead, let hooked, let current):
            "bead \(bead) moved on to lease epoch \(current); this worktree holds epoch \(hooked) and may not finish it"
        case .fenced(let why): why
        case .badRuntime(let text): "bad runtime: \(text)"
        case .badHookFile(let path, let reason): "hook file \(path) is unreadable (\(reason)); re-sling the bead"
        case .noSuchAgent(let name): "no agent '\(name)'; address agents as <rig>/polecats/<name>"
        case .noSuchMessage(let id): "no message \(id); see 'gt mail inbox'"
        case .ledger(let why): "ledger: \(why)"
        case .git(let why): "git: \(why)"
        case .session(let why): "session: \(why)"
        case .io(let why): why
        case .formula(let why): why
        case .refusedByNode(let why): why
        case .nodeDown(let why): why
        case .noSuchConvoy(let name, let known):
            "no convoy '\(name)'"
                + (known.isEmpty
                    ? "; create one with 'gt convoy create <name> <bead>…'"
                    : " (convoys: \(known.joined(separator: ", "))); see 'gt convoy list'") + " (nothing was changed)"
        case .convoyExists(let name, let id):
            "a convoy named '\(name)' exists already (\(id)); add beads to it with 'gt convoy add \(id) <bead>…' or pick "
                + "another name (nothing was changed)"
        case .convoyRefused(let why): "\(why) (nothing was changed)"
        case .frozen(let why): why
        case .overBudget(let why): why
        }
    }

    /// Why a bead of `type` is not slung, and where it belongs instead.
    static func notWorkText(id: String, type: String) -> String {
        let instead =
            switch type {
            case "message":
                "it is mail: read it with 'gt mail read \(id)' and answer with 'gt mail reply \(id) -m TEXT'"
            case "merge-request": "the Refinery takes merge requests ('gt refinery queue' lists them)"
            case "agent": "it is a polecat's identity ('gt polecat list' shows the polecats)"
            case "molecule", "gate": "it belongs to a workflow; sling the work beads it holds"
            case "convoy": "it tracks other beads; sling the beads it tracks"
            default: "it is Gas Town's own bookkeeping"
            }
        let article = type.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        return "bead \(id) is \(article) \(type), not work: \(instead); sling a task, bug, feature, chore or epic "
            + "(nothing was changed)"
    }
}
