/// The four kinds of formula Gas Town and beads know.
/// `Sendable`: plain enum.
public enum FormulaType: String, Sendable, Hashable, CaseIterable {
    /// Steps with dependencies (the default).
    case workflow
    /// A `[[template]]` that replaces a target step (`compose.expand`, a step's `expand`).
    case expansion
    /// `[[advice]]` inserted before/after matching steps of another formula (`compose.aspects`).
    case aspect
    /// `[[legs]]` run in parallel, then a `[synthesis]`.
    case convoy
}

/// Where something in a formula was written: the file, the field path (`steps[2]`, `template[0]`,
/// `advice[1].around.before[0]`), and the line. Steps keep it through inheritance, expansion and advice, so an error
/// about a step points at the file that wrote it.
/// `Sendable`: plain value.
public struct FormulaSourceLocation: Sendable, Hashable {
    public var file: String
    public var path: String
    public var line: Int?

    public init(file: String, path: String, line: Int?) {
        self.file = file
        self.path = path
        self.line = line
    }
}

/// A key the model does not know, kept as written (a warning says it is not used).
/// `Sendable`: plain value.
public struct UnknownKey: Sendable, Equatable {
    public var key: String
    public var value: TOMLValue
    public var line: Int?
}

/// A formula as written in one `*.formula.toml` file: Gas Town's and beads' fields, unknown keys kept. `resolve`
/// (FormulaLibrary) turns it into a resolved formula (inheritance, expansions and aspects applied); `cook` turns that
/// into a molecule plan.
/// `Sendable`: plain value.
public struct Formula: Sendable, Equatable {
    /// `formula`: the name (required).
    public var name: String
    public var description = ""
    /// `version` (default 1).
    public var version = 1
    /// `type`; when absent, inferred as Gas Town does (steps or `extends` → workflow, legs → convoy, template →
    /// expansion, advice → aspect; workflow when nothing says otherwise).
    public var type: FormulaType = .workflow
    /// `extends`: parent formulas, merged in order; this formula's own definitions override theirs.
    public var extends: [String] = []
    /// `[vars]`, in the order written.
    public var vars: [VariableDefinition] = []
    public var steps: [Step] = []
    /// `[[template]]`: an expansion formula's steps, with `{target}` placeholders.
    public var template: [Step] = []
    public var compose = Compose()
    public var advice: [AdviceRule] = []
    /// `[[pointcuts]]`: which steps an aspect's advice may apply to (none: any step its rules' targets match).
    public var pointcuts: [Pointcut] = []
    /// `[inputs]`: a convoy's inputs (validated like variables when cooked).
    public var inputs: [Input] = []
    public var legs: [Leg] = []
    public var presets: [Preset] = []
    public var synthesis: Synthesis?
    /// `phase`: "liquid" (pour) or "vapor" (wisp), the recommended way to instantiate it.
    public var phase: String?
    /// `pour`: beads' "materialize each step with checkpoint recovery" flag (kept; our molecules always have step
    /// beads).
    public var pour = false
    /// `[prompts]`: named prompt templates (Go text/template syntax, rendered by the shell that slings a leg).
    public var prompts: [Prompt] = []
    public var output: OutputSpec?
    /// `agent`: the default agent for legs.
    public var agent: String?
    /// `review_only`: legs commit no code.
    public var reviewOnly = false
    /// Gas Town's `[[aspects]]` (parallel analysis items of an aspect formula): parsed, not cooked.
    public var analysisAspects: [Leg] = []
    /// `[squash]`: Gas Town's digest settings, kept as written.
    public var squash: TOMLTable?
    /// Top-level keys the model does not know.
    public var extra: [UnknownKey] = []
    /// The file it came from.
    public var file: String
    /// Accepted-but-noted things found while loading and resolving.
    public var warnings: [FormulaWarning] = []

    public init(name: String, file: String) {
        self.name = name
        self.file = file
    }

    /// The variable named `name`, if declared.
    public func variable(_ name: String) -> VariableDefinition? { vars.first { $0.name == name } }
}

/// One entry of `[prompts]`.
/// `Sendable`: plain value.
public struct Prompt: Sendable, Hashable {
    public var name: String
    public var text: String
}

/// One `[vars.<name>]` (or `name = "default"`).
/// `Sendable`: plain value.
public struct VariableDefinition: Sendable, Hashable {
    public var name: String
    public var description = ""
    /// nil: no default (the variable must be given when it is used).
    public var defaultValue: String?
    public var required = false
    /// `enum`: the allowed values (empty: any).
    public var allowedValues: [String] = []
    /// `pattern`: a regular expression the value must contain a match of.
    public var pattern: String?
    /// `type`: string (default), int, or bool.
    public var type: String?
    public var location: FormulaSourceLocation

    public init(name: String, location: FormulaSourceLocation) {
        self.name = name
        self.location = location
    }
}

/// One step (or template step, child, loop body step, advice step once inserted).
/// `Sendable`: plain value.
public struct Step: Sendable, Equatable {
    public var id: String
    public var title = ""
    public var description = ""
    public var notes = ""
    /// `type`: task, bug, feature, epic, chore (others, like `human`, `gate` or `parallel`, cook as task).
    public var type: String?
    /// `priority` 0–4 (default 2 when cooked).
    public var priority: Int?
    public var labels: [String] = []
    /// `metadata`: carried to the bead's metadata.
    public var metadata: TOMLTable?
    /// `needs`: step IDs this step waits for (a `blocks` edge each).
    public var needs: [String] = []
    /// `depends_on`: the same as `needs` (beads' older name).
    public var dependsOn: [String] = []
    /// `waits_for`: `all-children`, `any-children` or `children-of(<step>)`: a fanout gate.
    public var waitsFor: String?
    public var assignee = ""
    /// `expand`: an expansion formula that replaces this step.
    public var expand: String?
    /// `expand_vars`: variables for that expansion.
    public var expandVars: [String: String] = [:]
    /// `condition`: `{{var}}`, `!{{var}}`, `{{var}} == value`, `{{var}} != value`; evaluated when cooked.
    public var condition: String?
    public var children: [Step] = []
    public var gate: Gate?
    public var loop: Loop?
    /// `on_complete`: beads' runtime for-each (kept, not acted on when cooking).
    public var onComplete: TOMLTable?
    /// `acceptance`: exit criteria (the bead's acceptance criteria).
    public var acceptance = ""
    /// Gas Town's `parallel` and `interactive` flags (kept on the model; cooking does not change them).
    public var parallel = false
    public var interactive = false
    /// Keys the model does not know.
    public var extra: [UnknownKey] = []
    /// Where the step was written.
    public var origin: FormulaSourceLocation
    /// The line of each key the step wrote (`needs` → 14), for errors.
    public var fieldLines: [String: Int] = [:]
    /// The formula that wrote it (a parent's name for an inherited step).
    public var sourceFormula = ""

    public init(id: String, origin: FormulaSourceLocation) {
        self.id = id
        self.origin = origin
    }

    /// `needs` then `depends_on`, without repeats.
    public var allNeeds: [String] {
        var out: [String] = []
        for n in needs + dependsOn where !out.contains(n) { out.append(n) }
        return out
    }

    /// The line of `field` if written, else the step's own line.
    public func line(of field: String) -> Int? { fieldLines[field] ?? origin.line }
}

/// `gate = { type, id, timeout }`: an async wait that blocks its step until the gate bead is closed.
/// `Sendable`: plain value.
public struct Gate: Sendable, Equatable {
    /// `gh:run`, `gh:pr`, `timer`, `human`, `mail`, `conditional`…
    public var type: String
    /// `id` / `await_id`: what is awaited.
    public var awaitID: String?
    /// `timeout`: a Go duration (`30m`, `24h`, `1h30m`).
    public var timeout: String?
    /// Gas Town's `condition` (what the agent checks).
    public var condition: String?
    public var extra: [UnknownKey] = []

    public init(type: String) { self.type = type }
}

/// `[steps.loop]`: repeat `body` `count` times, over `range` (`1..2^{n}`), or once with an `until` condition.
/// `Sendable`: plain value.
public struct Loop: Sendable, Equatable {
    public var count: Int?
    public var until: String?
    public var max: Int?
    public var range: String?
    /// `var`: the variable each range iteration sets (`{name}` in the body).
    public var variable: String?
    public var body: [Step] = []

    public init() {}
}

/// `[compose]`: composition rules.
/// `Sendable`: plain value.
public struct Compose: Sendable, Equatable {
    public var expand: [ExpandRule] = []
    /// `[[compose.map]]`: expand every step whose ID matches `select`.
    public var map: [ExpandRule] = []
    /// `aspects`: aspect formulas whose advice is applied, in order, after expansions.
    public var aspects: [String] = []
    /// The line of `aspects`, for errors about an aspect it names.
    public var aspectsLine: Int?
    /// beads' `bond_points`, `hooks`, `branch`, `gate`: kept, not applied (a warning says so).
    public var extra: [UnknownKey] = []

    public init() {}

    public var isEmpty: Bool { expand.isEmpty && map.isEmpty && aspects.isEmpty && extra.isEmpty }
}

/// `[[compose.expand]] target = "implement", with = "rule-of-five"` (or a `[[compose.map]]` with `select`).
/// `Sendable`: plain value.
public struct ExpandRule: Sendable, Equatable {
    /// The step ID (`expand`) or glob (`map`).
    public var target: String
    /// The expansion formula.
    public var with: String
    public var vars: [String: String] = [:]
    public var location: FormulaSourceLocation
}

/// `[[advice]]`: steps inserted before and after every step whose ID matches `target` (a glob).
/// `Sendable`: plain value.
public struct AdviceRule: Sendable, Equatable {
    public var target: String
    /// `before` then `around.before`, in order.
    public var before: [AdviceStep] = []
    /// `after` then `around.after`, in order.
    public var after: [AdviceStep] = []
    public var location: FormulaSourceLocation
}

/// A step advice inserts; `{step.id}` and `{step.title}` name the matched step.
/// `Sendable`: plain value.
public struct AdviceStep: Sendable, Equatable {
    public var id: String
    public var title = ""
    public var description = ""
    public var type: String?
    public var args: [String: String] = [:]
    public var output: TOMLTable?
    public var location: FormulaSourceLocation
}

/// `[[pointcuts]]`: a step matches when its ID matches `glob`, its type is `type`, and it has `label` (each if set).
/// `Sendable`: plain value.
public struct Pointcut: Sendable, Equatable {
    public var glob: String?
    public var type: String?
    public var label: String?
}

/// `[inputs.<name>]` of a convoy.
/// `Sendable`: plain value.
public struct Input: Sendable, Equatable {
    public var name: String
    public var description = ""
    public var type: String?
    public var required = false
    /// Required unless one of these inputs is given.
    public var requiredUnless: [String] = []
    public var defaultValue: String?
    public var location: FormulaSourceLocation
}

/// `[[legs]]` of a convoy (also Gas Town's `[[aspects]]`).
/// `Sendable`: plain value.
public struct Leg: Sendable, Equatable {
    public var id: String
    public var title = ""
    public var focus = ""
    public var description = ""
    public var agent: String?
    public var reviewOnly = false
    public var extra: [UnknownKey] = []
    public var location: FormulaSourceLocation
}

/// `[presets.<name>]`: a named selection of legs.
/// `Sendable`: plain value.
public struct Preset: Sendable, Equatable {
    public var name: String
    public var description = ""
    public var legs: [String] = []
    public var location: FormulaSourceLocation
}

/// `[synthesis]`: the step that combines the legs' results.
/// `Sendable`: plain value.
public struct Synthesis: Sendable, Equatable {
    public var title = ""
    public var description = ""
    /// The legs it waits for (empty: all).
    public var dependsOn: [String] = []
    public var location: FormulaSourceLocation
}

/// `[output]`: where a convoy's legs write.
/// `Sendable`: plain value.
public struct OutputSpec: Sendable, Equatable {
    public var directory = ""
    public var legPattern = ""
    public var synthesis = ""
}
