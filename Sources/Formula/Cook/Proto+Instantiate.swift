import Foundation

extension Proto {
    /// The molecule for `options`: variables checked (a declared variable without a default that is required or
    /// used needs a value; values must be in `enum`, match `pattern`, and be of `type`) and filled in, convoy inputs
    /// checked, steps whose `condition` fails dropped (with their children and gates; steps that needed them need
    /// what they needed instead), a preset's legs selected, and every bead marked ephemeral for a wisp.
    public func instantiate(_ options: CookOptions = CookOptions()) throws(FormulaError) -> MoleculePlan {
        var warnings = self.warnings
        let mode: MoleculeMode
        if let chosen = options.mode {
            mode = chosen
            if chosen == .pour && phase == "vapor" {
                warnings.append(
                    FormulaWarning(
                        file: file, line: nil, field: "phase",
                        "'\(formula)' recommends vapor (a wisp); pouring makes its beads persistent"))
            }
        } else {
            mode = phase == "vapor" ? .wisp : .pour
        }
        let values = try variableValues(options.variables)
        var kept = try applyPreset(options.preset, to: beads)
        kept = try applyConditions(kept, values: values)
        for i in kept.indices {
            var b = kept[i]
            b.title = Placeholders.substituteVariables(b.title, values)
            b.description = Placeholders.substituteVariables(b.description, values)
            b.acceptance = Placeholders.substituteVariables(b.acceptance, values)
            b.notes = Placeholders.substituteVariables(b.notes, values)
            b.assignee = Placeholders.substituteVariables(b.assignee, values)
            b.awaitID = Placeholders.substituteVariables(b.awaitID, values)
            b.labels = b.labels.map { Placeholders.substituteVariables($0, values) }
            b.ephemeral = mode == .wisp
            b.isTemplate = false
            b.condition = nil
            if b.role == .root && b.title.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" }) {
                // `{{title}}` declared but empty (mol-convoy-feed uses `title` for something else): the name.
                b.title = formula
                warnings.append(
                    FormulaWarning(
                        file: file, line: nil, field: "vars.title",
                        "the variable 'title' is empty, so the molecule is titled '\(formula)'"))
            }
            if b.title.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" }) {
                let origin = b.origin
                throw FormulaError(
                    .invalidValue, file: origin?.file ?? file, line: origin?.line,
                    field: b.role == .root ? "formula" : "\(origin?.path ?? b.suffix).title",
                    "the title of '\(b.stepID ?? formula)' is empty once variables are filled in; give it a value")
            }
            kept[i] = b
        }
        return MoleculePlan(formula: formula, mode: mode, beads: kept, variables: values, warnings: warnings)
    }

    /// Given values plus defaults, checked.
    func variableValues(_ given: [String: String]) throws(FormulaError) -> [String: String] {
        var values = given
        var used: Set<String> = []
        for b in beads {
            for text in [b.title, b.description, b.acceptance, b.notes, b.assignee, b.awaitID] + b.labels {
                Placeholders.collectVariableNames(in: text, into: &used)
            }
        }
        var missing: [VariableDefinition] = []
        for v in vars where values[v.name] == nil {
            if let d = v.defaultValue {
                values[v.name] = d
            } else if v.required || used.contains(v.name) {
                missing.append(v)
            }
        }
        if let first = missing.first {
            let others = missing.dropFirst().map(\.name)
            let about = first.description.isEmpty ? "" : " (\(first.description))"
            throw FormulaError(
                .missingVariable(first.name), file: first.location.file, line: first.location.line,
                field: first.location.path,
                "variable '\(first.name)'\(about) needs a value: pass --var \(first.name)=<value>"
                    + (others.isEmpty ? "" : "; also missing: \(others.joined(separator: ", "))"))
        }
        for v in vars {
            guard let value = values[v.name], !value.isEmpty else { continue }
            try check(v, value)
        }
        try checkInputs(&values)
        return values
    }

    func check(_ v: VariableDefinition, _ value: String) throws(FormulaError) {
        func fail(_ message: String) -> FormulaError {
            FormulaError(
                .invalidVariable(v.name), file: v.location.file, line: v.location.line, field: v.location.path,
                message)
        }
        if !v.allowedValues.isEmpty && !v.allowedValues.contains(value) {
            throw fail(
                "'\(value)' is not allowed for variable '\(v.name)'; use one of: "
                    + v.allowedValues.joined(separator: ", "))
        }
        if let pattern = v.pattern {
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(pattern: pattern)
            } catch {
                throw FormulaError(
                    .invalidValue, file: v.location.file, line: v.location.line, field: "\(v.location.path).pattern",
                    "'\(pattern)' is not a valid regular expression")
            }
            let range = NSRange(value.startIndex..., in: value)
            if regex.firstMatch(in: value, range: range) == nil {
                throw fail("'\(value)' does not match the pattern \(pattern) of variable '\(v.name)'")
            }
        }
        switch v.type {
        case "int"?:
            if Int(value) == nil { throw fail("'\(value)' is not an integer (variable '\(v.name)' has type int)") }
        case "bool"?:
            if !["true", "false"].contains(value) {
                throw fail("'\(value)' is not true or false (variable '\(v.name)' has type bool)")
            }
        default: break
        }
    }

    /// Convoy inputs: defaults applied; a required input (or one with `required_unless`) needs a value unless one
    /// of its alternatives has one; a `number` input must be a number.
    func checkInputs(_ values: inout [String: String]) throws(FormulaError) {
        for input in inputs where values[input.name] == nil {
            if let d = input.defaultValue { values[input.name] = d }
        }
        for input in inputs where values[input.name] == nil && (input.required || !input.requiredUnless.isEmpty) {
            if input.requiredUnless.contains(where: { values[$0] != nil }) { continue }
            let choices = ([input.name] + input.requiredUnless).joined(separator: ", ")
            throw FormulaError(
                .missingVariable(input.name), file: input.location.file, line: input.location.line,
                field: input.location.path,
                input.requiredUnless.isEmpty
                    ? "input '\(input.name)' needs a value: pass --var \(input.name)=<value>"
                    : "one of the inputs \(choices) needs a value: pass --var \(input.name)=<value>")
        }
        for input in inputs where input.type == "number" {
            if let value = values[input.name], Double(value) == nil {
                throw FormulaError(
                    .invalidVariable(input.name), file: input.location.file, line: input.location.line,
                    field: input.location.path, "'\(value)' is not a number (input '\(input.name)' has type number)")
            }
        }
    }

    /// Only the preset's legs (the synthesis then waits for those only).
    func applyPreset(_ name: String?, to beads: [PlannedBead]) throws(FormulaError) -> [PlannedBead] {
        guard let name else { return beads }
        guard let preset = presets.first(where: { $0.name == name }) else {
            throw FormulaError(
                .invalidValue, file: file, line: nil, field: "presets",
                "'\(formula)' has no preset '\(name)' (presets: \(presets.map(\.name).joined(separator: ", ")))")
        }
        let legs = Set(beads.filter { $0.role == .leg }.compactMap(\.stepID))
        for leg in preset.legs where !legs.contains(leg) {
            throw FormulaError(
                .unknownStep(leg), file: preset.location.file, line: preset.location.line,
                field: "\(preset.location.path).legs", "preset '\(name)' names '\(leg)', which is not a leg")
        }
        let dropped = Set(beads.filter { $0.role == .leg && !preset.legs.contains($0.stepID ?? "") }.map(\.suffix))
        return beads.filter { !dropped.contains($0.suffix) }.map { bead in
            var b = bead
            b.dependencies.removeAll { dropped.contains($0.target) }
            return b
        }
    }

    /// Drops the steps whose condition does not hold, their descendants and their gates; edges to a dropped bead are
    /// replaced by that bead's own edges (so the order of the remaining steps is kept).
    func applyConditions(_ beads: [PlannedBead], values: [String: String]) throws(FormulaError) -> [PlannedBead] {
        guard beads.contains(where: { $0.condition != nil }) else { return beads }
        var dropped: Set<String> = []
        var droppedSteps: Set<String> = []
        for bead in beads {
            if let parent = bead.parentSuffix, dropped.contains(parent) {
                dropped.insert(bead.suffix)
                if let id = bead.stepID { droppedSteps.insert(id) }
                continue
            }
            guard let text = bead.condition else { continue }
            let condition: StepCondition
            do {
                condition = try StepCondition(parsing: text)
            } catch {
                throw FormulaError(
                    .invalidValue, file: bead.origin?.file ?? file, line: bead.origin?.line,
                    field: "\(bead.sourceLocation).condition", "'\(text)': \(error.message)")
            }
            if !condition.holds(values) {
                dropped.insert(bead.suffix)
                if let id = bead.stepID { droppedSteps.insert(id) }
            }
        }
        // Gates of dropped steps go too (a gate is listed before its step, so a second pass).
        for bead in beads where bead.role == .gate && droppedSteps.contains(bead.stepID ?? "") {
            dropped.insert(bead.suffix)
        }
        guard !dropped.isEmpty else { return beads }
        var byName: [String: PlannedBead] = [:]
        for b in beads { byName[b.suffix] = b }
        func replacement(for target: String, seen: inout Set<String>) -> [PlannedDependency] {
            guard let bead = byName[target], seen.insert(target).inserted else { return [] }
            var out: [PlannedDependency] = []
            for d in bead.dependencies where d.type != .parentChild {
                if dropped.contains(d.target) { out += replacement(for: d.target, seen: &seen) } else { out.append(d) }
            }
            return out
        }
        return beads.filter { !dropped.contains($0.suffix) }.map { bead in
            var b = bead
            var edges: [PlannedDependency] = []
            for d in bead.dependencies {
                var add = [d]
                if dropped.contains(d.target) {
                    var seen: Set<String> = []
                    add = replacement(for: d.target, seen: &seen).map { PlannedDependency(d.type, $0.target) }
                }
                for e in add where e.target != b.suffix && !edges.contains(e) { edges.append(e) }
            }
            b.dependencies = edges
            return b
        }
    }
}
