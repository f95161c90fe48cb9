extension Resolver {
    /// beads' `ApplyLoops`: a step with `[steps.loop]` becomes its body repeated. Iteration `n` of loop `L` names its
    /// steps `L.iter<n>.<id>`; needs between body steps stay inside the iteration; each iteration's first step needs
    /// the previous iteration's last. A `range` loop sets `{var}` in titles and descriptions. An `until` loop expands
    /// once, its condition and `max` put in the first step's metadata under `loop` for the runtime.
    /// Departing from beads, which drops them: the loop step's own needs go to the first iteration's entry steps, and
    /// steps that needed the loop step need the last iteration's last step.
    mutating func expandLoops(_ steps: [Step], formula: Formula) throws(FormulaError) -> [Step] {
        guard Self.containsLoop(steps) else { return steps }
        var result: [Step] = []
        var renames: [String: String] = [:]
        for step in steps {
            guard let loop = step.loop else {
                var s = step
                s.children = try expandLoops(step.children, formula: formula)
                result.append(s)
                continue
            }
            let iterations = try loopIterations(step, loop, formula: formula)
            var expanded: [Step] = []
            var previousLast: String?
            for (n, value) in iterations.enumerated() {
                var iteration = Self.iterate(step, loop, number: n + 1, value: value)
                iteration = try expandLoops(iteration, formula: formula)
                guard !iteration.isEmpty else { continue }
                if let previousLast, !iteration[0].needs.contains(previousLast) {
                    iteration[0].needs.append(previousLast)
                }
                previousLast = iteration[iteration.count - 1].id
                expanded += iteration
            }
            if let until = loop.until, !expanded.isEmpty {
                var meta = expanded[0].metadata ?? TOMLTable()
                var loopTable = TOMLTable()
                loopTable.set("until", .string(until))
                loopTable.set("max", .integer(Int64(loop.max ?? 0)))
                meta.set("loop", .table(loopTable))
                expanded[0].metadata = meta
            }
            expanded = Self.propagateNeeds(of: step, to: expanded)
            if let last = expanded.last?.id { renames[step.id] = last }
            result += expanded
        }
        return renames.isEmpty ? result : Self.renameNeeds(result, renames)
    }

    /// Points every need on a key of `renames` at its value, children included.
    static func renameNeeds(_ steps: [Step], _ renames: [String: String]) -> [Step] {
        steps.map { step in
            var s = step
            s.needs = s.needs.map { renames[$0] ?? $0 }
            s.dependsOn = s.dependsOn.map { renames[$0] ?? $0 }
            s.children = renameNeeds(step.children, renames)
            return s
        }
    }

    static func containsLoop(_ steps: [Step]) -> Bool {
        steps.contains { $0.loop != nil || containsLoop($0.children) }
    }

    /// The value of each iteration (`nil` for count and until loops).
    mutating func loopIterations(_ step: Step, _ loop: Loop, formula: Formula) throws(FormulaError) -> [Int?] {
        let limit = settings.maxLoopIterations
        if let count = loop.count {
            guard count <= limit else {
                throw FormulaError(
                    .limitExceeded, file: step.origin.file, line: step.line(of: "loop"),
                    field: "\(step.origin.path).loop.count", "\(count) iterations is more than the limit of \(limit)")
            }
            return Array(repeating: nil, count: count)
        }
        if let range = loop.range {
            var values: [String: String] = [:]
            for v in formula.vars { if let d = v.defaultValue { values[v.name] = d } }
            for (k, v) in variables { values[k] = v }
            let bounds: (Int, Int)
            do {
                bounds = try RangeExpression.evaluate(range, variables: values)
            } catch {
                throw FormulaError(
                    .invalidValue, file: step.origin.file, line: step.line(of: "loop"),
                    field: "\(step.origin.path).loop.range", "'\(range)': \(error.message)")
            }
            let (start, end) = bounds
            guard end >= start else {
                throw FormulaError(
                    .invalidValue, file: step.origin.file, line: step.line(of: "loop"),
                    field: "\(step.origin.path).loop.range", "'\(range)' ends (\(end)) before it starts (\(start))")
            }
            guard end - start < limit else {
                throw FormulaError(
                    .limitExceeded, file: step.origin.file, line: step.line(of: "loop"),
                    field: "\(step.origin.path).loop.range",
                    "'\(range)' is \(end - start + 1) iterations, more than the limit of \(limit)")
            }
            return (start...end).map { $0 }
        }
        return [nil]
    }

    /// One iteration of `loop`'s body.
    static func iterate(_ step: Step, _ loop: Loop, number: Int, value: Int?) -> [Step] {
        let bodyIDs = Set(allIDs(loop.body))
        let prefix = "\(step.id).iter\(number)."
        var loopVars: [String: String] = [:]
        if let name = loop.variable, let value { loopVars[name] = String(value) }
        func rename(_ list: [Step]) -> [Step] {
            list.map { body in
                var s = body
                s.id = prefix + body.id
                s.needs = body.needs.map { bodyIDs.contains($0) ? prefix + $0 : $0 }
                s.dependsOn = body.dependsOn.map { bodyIDs.contains($0) ? prefix + $0 : $0 }
                if !loopVars.isEmpty {
                    s.title = Placeholders.substitutePlaceholders(body.title) { loopVars[$0] }
                    s.description = Placeholders.substitutePlaceholders(body.description) { loopVars[$0] }
                    for (k, v) in loopVars { s.expandVars[k] = v }
                }
                s.origin.path = "\(body.origin.path).iter\(number)"
                s.children = rename(body.children)
                return s
            }
        }
        return rename(loop.body)
    }
}
