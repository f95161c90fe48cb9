import Beads

/// How a molecule is instantiated: poured (persistent, synced like any bead) or as a wisp (every bead ephemeral).
/// `Sendable`: plain enum.
public enum MoleculeMode: String, Sendable, Hashable, CaseIterable {
    /// `bd mol pour`: liquid, persistent work with an audit trail.
    case pour
    /// `bd mol wisp`: vapor, every bead `ephemeral` (patrols, one-shot operations).
    case wisp
}

/// One edge of a planned bead: it depends on the bead with ID suffix `target` ("" is the root).
/// `Sendable`: plain value.
public struct PlannedDependency: Sendable, Hashable {
    public var type: DependencyType
    public var target: String

    public init(_ type: DependencyType, _ target: String) {
        self.type = type
        self.target = target
    }
}

/// One bead of a cooked formula. Its ID is `<root>` for the root (suffix "") and `<root>.<suffix>` for the others:
/// a step is `<root>.<step-id>`, a child `<root>.<parent>.<child>`, a gate `<root>.gate-<step-id>`.
/// `Sendable`: plain value.
public struct PlannedBead: Sendable, Equatable {
    /// What the bead is in the molecule.
    public enum Role: String, Sendable, Hashable {
        case root, step, gate, leg, synthesis
    }

    public var suffix: String
    public var role: Role
    /// The formula step (or leg) it came from; nil for the root.
    public var stepID: String?
    public var title: String
    public var description = ""
    public var acceptance = ""
    public var notes = ""
    public var assignee = ""
    public var issueType: IssueType
    public var priority = 2
    public var labels: [String] = []
    public var dependencies: [PlannedDependency] = []
    public var ephemeral = false
    public var isTemplate = false
    /// A gate's wait (`await_type`, `await_id`, `timeout` in nanoseconds).
    public var awaitType = ""
    public var awaitID = ""
    public var timeout: Int64 = 0
    public var metadata: [JSONMember] = []
    /// A proto step's `condition`, evaluated (and dropped) when the proto is instantiated.
    public var condition: String?
    public var sourceFormula = ""
    /// The field that wrote it (`steps[2]`, `legs[0]`, `synthesis`).
    public var sourceLocation = ""
    /// Where it was written, and the line of its `needs`, for errors found after cooking.
    public var origin: FormulaSourceLocation?
    public var needsLine: Int?

    public init(suffix: String, role: Role, title: String, issueType: IssueType) {
        self.suffix = suffix
        self.role = role
        self.title = title
        self.issueType = issueType
    }

    /// The suffix of its parent (the target of its parent-child edge), if any.
    public var parentSuffix: String? { dependencies.first { $0.type == .parentChild }?.target }
}

/// A cooked, instantiated formula: the beads to create, root first, each after every bead it depends on, so a
/// shell can create them one after another in a single all-or-nothing batch (`newBeads(rootID:)`).
/// `Sendable`: plain value.
public struct MoleculePlan: Sendable, Equatable {
    public var formula: String
    public var mode: MoleculeMode
    public var beads: [PlannedBead]
    /// The variable values used (given ones plus defaults).
    public var variables: [String: String]
    public var warnings: [FormulaWarning]

    /// The root bead.
    public var root: PlannedBead { beads[0] }

    /// The bead with `suffix`, if planned.
    public func bead(_ suffix: String) -> PlannedBead? { beads.first { $0.suffix == suffix } }

    /// The ID of the bead with `suffix` under a root with ID `rootID`.
    public static func id(rootID: String, suffix: String) -> String {
        suffix.isEmpty ? rootID : "\(rootID).\(suffix)"
    }

    /// The create specs for a root with ID `rootID` (minted by the shell: `BeadID.mint`), in plan order. Every
    /// dependency names a bead created earlier in the list.
    public func newBeads(rootID: String) -> [NewBead] {
        beads.map { planned in
            var spec = NewBead(title: planned.title)
            spec.explicitID = Self.id(rootID: rootID, suffix: planned.suffix)
            spec.description = planned.description
            spec.acceptanceCriteria = planned.acceptance
            spec.notes = planned.notes
            spec.assignee = planned.assignee
            spec.issueType = planned.issueType
            spec.priority = planned.priority
            spec.labels = planned.labels
            spec.dependencies = planned.dependencies.map {
                DependencyKey(dependsOnID: Self.id(rootID: rootID, suffix: $0.target), type: $0.type)
            }
            spec.ephemeral = planned.ephemeral
            spec.isTemplate = planned.isTemplate
            spec.awaitType = planned.awaitType
            spec.awaitID = planned.awaitID
            spec.timeout = planned.timeout
            spec.metadata = planned.metadata
            spec.sourceFormula = planned.sourceFormula
            spec.sourceLocation = planned.sourceLocation
            return spec
        }
    }
}

/// What `cook` needs besides the formula.
/// `Sendable`: plain value.
public struct CookOptions: Sendable, Hashable {
    /// Variable (and convoy input) values.
    public var variables: [String: String] = [:]
    /// Pour or wisp; nil: the formula's `phase` decides ("vapor" → wisp), else pour.
    public var mode: MoleculeMode?
    /// A convoy preset: only its legs are cooked.
    public var preset: String?

    public init(variables: [String: String] = [:], mode: MoleculeMode? = nil, preset: String? = nil) {
        self.variables = variables
        self.mode = mode
        self.preset = preset
    }
}
