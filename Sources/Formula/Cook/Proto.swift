import Beads

/// A cooked formula: its template beads with `{{variables}}` still in place (beads' proto), ready to instantiate
/// into a molecule as many times as needed (`instantiate`). Cooking rules (docs/formulas.md):
/// - the root is the molecule (type `molecule`; `convoy` for a convoy formula), titled by the formula (or
///   `{{title}}` / `{{desc}}` when those variables are declared);
/// - each step is `<root>.<step-id>` with a parent-child edge to the root, children `<parent>.<child-id>` under their
///   parent (a step with children is an epic), a `blocks` edge per `needs`/`depends_on`;
/// - a step's `gate` is a bead of type `gate` (`<parent>.gate-<step-id>`) that blocks the step;
/// - `waits_for` adds a `gate:<value>` label and a `waits-for` edge to the spawner (`children-of(<step>)`, else the
///   first need);
/// - convoy legs are parallel steps `<root>.<leg-id>`; the synthesis, `<root>.synthesis`, is blocked by its legs.
/// `Sendable`: plain value.
public struct Proto: Sendable, Equatable {
    public var formula: String
    public var file: String
    public var type: FormulaType
    public var phase: String?
    public var vars: [VariableDefinition]
    public var inputs: [Input]
    public var presets: [Preset]
    /// Root first, then every bead after the beads it depends on.
    public var beads: [PlannedBead]
    public var warnings: [FormulaWarning]

    /// Cooks a resolved formula (`FormulaLibrary.resolve`).
    public static func cook(_ f: Formula, settings: FormulaSettings = FormulaSettings()) throws(FormulaError) -> Proto {
        var cooker = ProtoCooker(formula: f, settings: settings)
        return try cooker.cook()
    }
}

/// The work of `Proto.cook`. Not `Sendable`-relevant: local state of one call.
struct ProtoCooker {
    let formula: Formula
    let settings: FormulaSettings
    var beads: [PlannedBead] = []
    /// Step (or leg) ID → bead suffix.
    var suffixes: [String: String] = [:]
    /// Bead suffix → index in `beads`.
    var indexes: [String: Int] = [:]
    var warnings: [FormulaWarning] = []

    init(formula: Formula, settings: FormulaSettings) {
        self.formula = formula
        self.settings = settings
    }

    mutating func cook() throws(FormulaError) -> Proto {
        let f = formula
        guard f.type != .aspect else {
            throw FormulaError(
                .wrongFormulaType(f.name), file: f.file, line: nil, field: "type",
                "'\(f.name)' is an aspect: it is applied to other formulas (compose.aspects = [\"\(f.name)\"]), "
                    + "not cooked alone")
        }
        var steps = f.steps
        if f.type == .expansion && steps.isEmpty && !f.template.isEmpty {
            var main = Step(id: "main", origin: FormulaSourceLocation(file: f.file, path: "template", line: nil))
            main.title = f.name
            main.description = f.description
            var values: [String: String] = [:]
            for v in f.vars { if let d = v.defaultValue { values[v.name] = d } }
            steps = try Resolver.instantiateTemplate(
                f.template, target: main, values: values, depth: 0, limit: settings.maxExpansionDepth)
        }
        var root = PlannedBead(
            suffix: "", role: .root, title: f.variable("title") != nil ? "{{title}}" : f.name,
            issueType: f.type == .convoy ? .convoy : .molecule)
        root.description = f.variable("desc") != nil ? "{{desc}}" : f.description
        root.isTemplate = true
        root.sourceFormula = f.name
        root.origin = FormulaSourceLocation(file: f.file, path: "", line: 1)
        append(root)
        try addSteps(steps, parent: "")
        try addLegs()
        for step in Self.flatten(steps) { try addDependencies(of: step) }
        try addSynthesis()
        guard beads.count <= settings.maxBeads else {
            throw FormulaError(
                .limitExceeded, file: f.file, line: nil, field: "steps",
                "\(beads.count) beads is more than the limit of \(settings.maxBeads) for one molecule")
        }
        let ordered = try Self.dependencyOrder(beads)
        return Proto(
            formula: f.name, file: f.file, type: f.type, phase: f.phase, vars: f.vars, inputs: f.inputs,
            presets: f.presets, beads: ordered, warnings: f.warnings + warnings)
    }

    mutating func append(_ bead: PlannedBead) {
        indexes[bead.suffix] = beads.count
        beads.append(bead)
    }

    static func flatten(_ steps: [Step]) -> [Step] {
        var out: [Step] = []
        func visit(_ list: [Step]) {
            for s in list {
                out.append(s)
                visit(s.children)
            }
        }
        visit(steps)
        return out
    }

    static func child(_ parent: String, _ id: String) -> String { parent.isEmpty ? id : "\(parent).\(id)" }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { Placeholders.isNameByte($0) || $0 == 0x2D || $0 == 0x2E }
    }

    mutating func claim(_ id: String, suffix: String, origin: FormulaSourceLocation) throws(FormulaError) {
        guard Self.isValidID(id) else {
            throw FormulaError(
                .invalidValue, file: origin.file, line: origin.line, field: "\(origin.path).id",
                "'\(id)' cannot be a step ID: use letters, digits, '-', '_' and '.'")
        }
        if suffixes[id] != nil {
            throw FormulaError(
                .duplicateStep(id), file: origin.file, line: origin.line, field: "\(origin.path).id",
                "two steps (or legs) of '\(formula.name)' have the ID '\(id)'")
        }
        suffixes[id] = suffix
    }

    mutating func addSteps(_ steps: [Step], parent: String) throws(FormulaError) {
        for step in steps {
            let suffix = Self.child(parent, step.id)
            try claim(step.id, suffix: suffix, origin: step.origin)
            if let condition = step.condition {
                do {
                    _ = try StepCondition(parsing: condition)
                } catch {
                    throw FormulaError(
                        .invalidValue, file: step.origin.file, line: step.line(of: "condition"),
                        field: "\(step.origin.path).condition", "'\(condition)': \(error.message)")
                }
            }
            var bead = PlannedBead(
                suffix: suffix, role: .step, title: step.title.isEmpty ? step.id : step.title,
                issueType: step.children.isEmpty ? Self.issueType(step.type) : .epic)
            bead.stepID = step.id
            bead.description = step.description
            bead.acceptance = step.acceptance
            bead.notes = step.notes
            bead.assignee = step.assignee
            bead.priority = step.priority ?? 2
            bead.labels = step.labels
            if let waitsFor = step.waitsFor { bead.labels.append("gate:\(waitsFor)") }
            if let metadata = step.metadata { bead.metadata = JSONConversion.members(of: metadata) }
            bead.condition = step.condition
            bead.isTemplate = true
            bead.sourceFormula = step.sourceFormula
            bead.sourceLocation = step.origin.path
            bead.origin = step.origin
            bead.needsLine = step.fieldLines["needs"] ?? step.fieldLines["depends_on"]
            bead.dependencies = [PlannedDependency(.parentChild, parent)]
            if let gate = step.gate {
                let gateSuffix = Self.child(parent, "gate-\(step.id)")
                try claim("gate-\(step.id)", suffix: gateSuffix, origin: step.origin)
                append(gateBead(gate, for: step, suffix: gateSuffix, parent: parent))
                bead.dependencies.append(PlannedDependency(.blocks, gateSuffix))
            }
            append(bead)
            try addSteps(step.children, parent: suffix)
        }
    }

    func gateBead(_ gate: Gate, for step: Step, suffix: String, parent: String) -> PlannedBead {
        var title = "Gate: \(gate.type)"
        if let id = gate.awaitID, !id.isEmpty { title += " \(id)" }
        var bead = PlannedBead(suffix: suffix, role: .gate, title: title, issueType: .gate)
        bead.stepID = step.id
        bead.description = "Async gate for step \(step.id)"
        bead.awaitType = gate.type
        bead.awaitID = gate.awaitID ?? ""
        bead.timeout = gate.timeout.flatMap(GoDuration.nanoseconds) ?? 0
        if let condition = gate.condition { bead.metadata = [JSONMember("condition", .string(condition))] }
        bead.isTemplate = true
        bead.sourceFormula = step.sourceFormula
        bead.sourceLocation = "\(step.origin.path).gate"
        bead.origin = step.origin
        bead.dependencies = [PlannedDependency(.parentChild, parent)]
        return bead
    }

    /// beads' `stepTypeToIssueType`: task, bug, feature, epic and chore are kept; any other type cooks as a task.
    static func issueType(_ type: String?) -> IssueType {
        switch type {
        case "bug": .bug
        case "feature": .feature
        case "epic": .epic
        case "chore": .chore
        default: .task
        }
    }

    mutating func addDependencies(of step: Step) throws(FormulaError) {
        guard let suffix = suffixes[step.id], let index = indexes[suffix] else { return }
        for (field, list) in [("needs", step.needs), ("depends_on", step.dependsOn)] {
            for need in list {
                guard let target = suffixes[need] else {
                    throw FormulaError(
                        .unknownStep(need), file: step.origin.file, line: step.line(of: field),
                        field: "\(step.origin.path).\(field)",
                        "step '\(step.id)' needs '\(need)', which is not a step of '\(formula.name)'"
                            + Self.suggestion(need, among: Array(suffixes.keys)))
                }
                let edge = PlannedDependency(.blocks, target)
                if !beads[index].dependencies.contains(edge) { beads[index].dependencies.append(edge) }
            }
        }
        guard let waitsFor = step.waitsFor else { return }
        let field = "\(step.origin.path).waits_for"
        var spawner: String?
        if waitsFor == "all-children" || waitsFor == "any-children" {
            spawner = step.needs.first ?? step.dependsOn.first
        } else if waitsFor.hasPrefix("children-of("), waitsFor.hasSuffix(")") {
            spawner = String(waitsFor.dropFirst("children-of(".count).dropLast())
        } else {
            throw FormulaError(
                .invalidValue, file: step.origin.file, line: step.line(of: "waits_for"), field: field,
                "'\(waitsFor)' is not a fanout gate; use all-children, any-children or children-of(<step>)")
        }
        guard let spawner else {
            warnings.append(
                FormulaWarning(
                    file: step.origin.file, line: step.line(of: "waits_for"), field: field,
                    "waits_for has no spawner (no needs and no children-of(<step>)); only the label is kept"))
            return
        }
        guard let target = suffixes[spawner] else {
            throw FormulaError(
                .unknownStep(spawner), file: step.origin.file, line: step.line(of: "waits_for"), field: field,
                "step '\(step.id)' waits for the children of '\(spawner)', which is not a step of '\(formula.name)'")
        }
        beads[index].dependencies.append(PlannedDependency(.waitsFor, target))
    }

    /// ` (did you mean 'design'?)` when a known ID is one edit or transposition away.
    static func suggestion(_ name: String, among known: [String]) -> String {
        let close = known.filter { editDistance($0, name) <= 2 }.sorted()
        return close.isEmpty ? "" : " (did you mean '\(close[0])'?)"
    }

    /// Levenshtein distance, cut off above 2.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        guard abs(x.count - y.count) <= 2 else { return 3 }
        guard !x.isEmpty, !y.isEmpty else { return max(x.count, y.count) }
        var previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in 1...y.count {
                let substitution = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return previous[y.count]
    }
}
