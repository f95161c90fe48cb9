extension Resolver {
    /// `compose.expand` (each target by ID) then `compose.map` (every step whose ID matches a glob).
    mutating func applyComposeExpansions(_ f: Formula) throws(FormulaError) -> [Step] {
        var steps = f.steps
        var expanded: Set<String> = []
        for (i, rule) in f.compose.expand.enumerated() {
            guard !expanded.contains(rule.target) else { continue }
            guard let target = Self.findStep(rule.target, in: steps) else {
                throw FormulaError(
                    .unknownStep(rule.target), file: rule.location.file, line: rule.location.line,
                    field: "compose.expand[\(i)].target",
                    "no step '\(rule.target)' to expand (steps: \(Self.allIDs(steps).joined(separator: ", ")))")
            }
            let reference = FormulaReference(
                file: rule.location.file, line: rule.location.line, field: "compose.expand[\(i)].with")
            let expansion = try expansionFormula(rule.with, reference: reference)
            let replacement = try expand(target, with: expansion, vars: rule.vars, depth: 0)
            steps = Self.replace(rule.target, with: replacement, in: steps)
            expanded.insert(rule.target)
        }
        for (i, rule) in f.compose.map.enumerated() {
            let reference = FormulaReference(
                file: rule.location.file, line: rule.location.line, field: "compose.map[\(i)].with")
            let expansion = try expansionFormula(rule.with, reference: reference)
            for id in Self.allIDs(steps) where Glob.matches(rule.target, id) && !expanded.contains(id) {
                guard let target = Self.findStep(id, in: steps) else { continue }
                let replacement = try expand(target, with: expansion, vars: rule.vars, depth: 0)
                steps = Self.replace(id, with: replacement, in: steps)
                expanded.insert(id)
            }
        }
        return steps
    }

    /// Steps with `expand = "<formula>"` are replaced by that expansion (recursively, up to the depth limit).
    mutating func applyInlineExpansions(_ steps: [Step], depth: Int) throws(FormulaError) -> [Step] {
        guard Self.containsInlineExpansion(steps) else { return steps }
        var result = steps
        var i = 0
        while i < result.count {
            let step = result[i]
            guard let name = step.expand else {
                result[i].children = try applyInlineExpansions(step.children, depth: depth)
                i += 1
                continue
            }
            guard depth < settings.maxExpansionDepth else {
                throw FormulaError(
                    .limitExceeded, file: step.origin.file, line: step.line(of: "expand"),
                    field: "\(step.origin.path).expand",
                    "expansions nested deeper than \(settings.maxExpansionDepth) levels (does '\(name)' expand "
                        + "itself?)")
            }
            let reference = FormulaReference(
                file: step.origin.file, line: step.line(of: "expand"), field: "\(step.origin.path).expand")
            let expansion = try expansionFormula(name, reference: reference)
            let replacement = try applyInlineExpansions(
                try expand(step, with: expansion, vars: step.expandVars, depth: 0), depth: depth + 1)
            result = Self.replace(step.id, with: replacement, in: result)
            i += replacement.count
        }
        return result
    }

    static func containsInlineExpansion(_ steps: [Step]) -> Bool {
        steps.contains { $0.expand != nil || containsInlineExpansion($0.children) }
    }

    mutating func expansionFormula(_ name: String, reference: FormulaReference) throws(FormulaError) -> Formula {
        let expansion = try load(name, from: reference)
        guard expansion.type == .expansion, !expansion.template.isEmpty else {
            throw FormulaError(
                .wrongFormulaType(name), file: reference.file, line: reference.line, field: reference.field,
                expansion.type == .expansion
                    ? "expansion formula '\(name)' has no [[template]] steps"
                    : "'\(name)' is a \(expansion.type.rawValue) formula, not an expansion (type = \"expansion\" "
                        + "with [[template]] steps)")
        }
        return expansion
    }

    /// The template steps of `expansion` for `target`: `{target}`, `{target.id}`, `{target.title}`,
    /// `{target.description}` and the expansion's `{variables}` filled in; the steps that need nothing inside the
    /// expansion take the target's own needs.
    func expand(
        _ target: Step, with expansion: Formula, vars: [String: String], depth: Int
    ) throws(FormulaError) -> [Step] {
        var values: [String: String] = [:]
        for v in expansion.vars { if let d = v.defaultValue { values[v.name] = d } }
        for (k, v) in vars { values[k] = v }
        let steps = try Self.instantiateTemplate(
            expansion.template, target: target, values: values, depth: depth, limit: settings.maxExpansionDepth)
        return Self.propagateNeeds(of: target, to: steps)
    }

    static func instantiateTemplate(
        _ template: [Step], target: Step, values: [String: String], depth: Int, limit: Int
    ) throws(FormulaError) -> [Step] {
        let lookup: (String) -> String? = { name in
            switch name {
            case "target", "target.id": return target.id
            case "target.title": return target.title
            case "target.description": return target.description
            default: return values[name]
            }
        }
        func fill(_ s: String) -> String { Placeholders.substitutePlaceholders(s, lookup) }
        var out: [Step] = []
        for t in template {
            guard depth <= limit else {
                throw FormulaError(
                    .limitExceeded, file: t.origin.file, line: t.origin.line, field: t.origin.path,
                    "template children nested deeper than \(limit) levels")
            }
            var s = t
            s.id = fill(t.id)
            s.title = fill(t.title)
            s.description = fill(t.description)
            s.acceptance = fill(t.acceptance)
            s.notes = fill(t.notes)
            s.assignee = fill(t.assignee)
            s.labels = t.labels.map(fill)
            s.needs = t.needs.map(fill)
            s.dependsOn = t.dependsOn.map(fill)
            s.waitsFor = t.waitsFor.map(fill)
            s.condition = t.condition.map(fill)
            s.children = try instantiateTemplate(
                t.children, target: target, values: values, depth: depth + 1, limit: limit)
            out.append(s)
        }
        return out
    }

    /// beads' `propagateTargetDeps`: expansion steps whose needs point at no other expansion step inherit the
    /// target's `needs` and `depends_on` (in front of their own).
    static func propagateNeeds(of target: Step, to steps: [Step]) -> [Step] {
        guard !target.needs.isEmpty || !target.dependsOn.isEmpty else { return steps }
        let ids = Set(steps.map(\.id))
        return steps.map { s in
            var s = s
            if !s.needs.contains(where: ids.contains) && !s.dependsOn.contains(where: ids.contains) {
                s.needs = target.needs + s.needs.filter { !target.needs.contains($0) }
                s.dependsOn = target.dependsOn + s.dependsOn.filter { !target.dependsOn.contains($0) }
            }
            return s
        }
    }

    /// Replaces the step `id` (anywhere, children included) by `replacement`, and points every `needs` and
    /// `depends_on` that named it at the replacement's last step.
    static func replace(_ id: String, with replacement: [Step], in steps: [Step]) -> [Step] {
        let last = replacement.last?.id
        func rewrite(_ list: [Step]) -> [Step] {
            var out: [Step] = []
            out.reserveCapacity(list.count + replacement.count)
            for s in list {
                if s.id == id {
                    out += replacement
                    continue
                }
                var s = s
                if let last {
                    s.needs = s.needs.map { $0 == id ? last : $0 }
                    s.dependsOn = s.dependsOn.map { $0 == id ? last : $0 }
                }
                s.children = rewrite(s.children)
                out.append(s)
            }
            return out
        }
        return rewrite(steps)
    }

    static func findStep(_ id: String, in steps: [Step]) -> Step? {
        for s in steps {
            if s.id == id { return s }
            if let found = findStep(id, in: s.children) { return found }
        }
        return nil
    }

    /// Every step ID, depth first, in order.
    static func allIDs(_ steps: [Step]) -> [String] {
        var out: [String] = []
        func visit(_ list: [Step]) {
            for s in list {
                out.append(s.id)
                visit(s.children)
            }
        }
        visit(steps)
        return out
    }
}
