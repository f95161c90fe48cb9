import Beads

extension ProtoCooker {
    /// Convoy legs: parallel steps under the root, as Gas Town's `gt formula run` creates them.
    mutating func addLegs() throws(FormulaError) {
        for leg in formula.legs {
            try claim(leg.id, suffix: leg.id, origin: leg.location)
            var bead = PlannedBead(suffix: leg.id, role: .leg, title: leg.title, issueType: .task)
            bead.stepID = leg.id
            bead.description = leg.description
            var metadata: [JSONMember] = []
            if !leg.focus.isEmpty { metadata.append(JSONMember("focus", .string(leg.focus))) }
            if let agent = leg.agent ?? formula.agent { metadata.append(JSONMember("agent", .string(agent))) }
            if leg.reviewOnly || formula.reviewOnly { metadata.append(JSONMember("review_only", .bool(true))) }
            bead.metadata = metadata
            bead.isTemplate = true
            bead.sourceFormula = formula.name
            bead.sourceLocation = leg.location.path
            bead.origin = leg.location
            bead.dependencies = [PlannedDependency(.parentChild, "")]
            append(bead)
        }
    }

    /// The synthesis: blocked by the legs it names (all legs when it names none).
    mutating func addSynthesis() throws(FormulaError) {
        guard let synthesis = formula.synthesis else { return }
        try claim("synthesis", suffix: "synthesis", origin: synthesis.location)
        var bead = PlannedBead(suffix: "synthesis", role: .synthesis, title: synthesis.title, issueType: .task)
        bead.stepID = "synthesis"
        bead.description = synthesis.description
        bead.isTemplate = true
        bead.sourceFormula = formula.name
        bead.sourceLocation = "synthesis"
        bead.origin = synthesis.location
        bead.dependencies = [PlannedDependency(.parentChild, "")]
        let legs = synthesis.dependsOn.isEmpty ? formula.legs.map(\.id) : synthesis.dependsOn
        for leg in legs {
            guard formula.legs.contains(where: { $0.id == leg }), let target = suffixes[leg] else {
                throw FormulaError(
                    .unknownStep(leg), file: synthesis.location.file,
                    line: synthesis.location.line, field: "synthesis.depends_on",
                    "the synthesis depends on '\(leg)', which is not a leg of '\(formula.name)' (legs: "
                        + formula.legs.map(\.id).joined(separator: ", ") + ")")
            }
            bead.dependencies.append(PlannedDependency(.blocks, target))
        }
        append(bead)
    }

    /// The beads with each one after every bead it depends on (a stable depth-first order: beads already in order
    /// stay where they are). A cycle is an error naming the steps around it.
    static func dependencyOrder(_ beads: [PlannedBead]) throws(FormulaError) -> [PlannedBead] {
        var index: [String: Int] = [:]
        for (i, b) in beads.enumerated() { index[b.suffix] = i }
        let edges: [[Int]] = beads.map { bead in bead.dependencies.compactMap { index[$0.target] } }
        var state = [UInt8](repeating: 0, count: beads.count)  // 0 new, 1 on the path, 2 done
        var order: [Int] = []
        order.reserveCapacity(beads.count)
        var path: [(node: Int, next: Int)] = []
        for start in beads.indices where state[start] == 0 {
            state[start] = 1
            path.append((start, 0))
            while let top = path.last {
                if top.next < edges[top.node].count {
                    path[path.count - 1].next += 1
                    let target = edges[top.node][top.next]
                    if state[target] == 0 {
                        state[target] = 1
                        path.append((target, 0))
                    } else if state[target] == 1 {
                        let from = path.firstIndex { $0.node == target }!
                        throw cycleError(path[from...].map { beads[$0.node] }, closedBy: beads[top.node])
                    }
                } else {
                    state[top.node] = 2
                    order.append(top.node)
                    path.removeLast()
                }
            }
        }
        return order.map { beads[$0] }
    }

    /// `cycle` holds beads where each depends on the next and the last (`closing`) on the first.
    static func cycleError(_ cycle: [PlannedBead], closedBy closing: PlannedBead) -> FormulaError {
        let names = cycle.map { $0.stepID ?? ($0.suffix.isEmpty ? "(root)" : $0.suffix) }
        let origin = closing.origin
        let field = origin.map { "\($0.path).needs" } ?? "steps"
        return FormulaError(
            .cycle(names + [names[0]]), file: origin?.file ?? "", line: closing.needsLine ?? origin?.line, field: field,
            "the steps wait for each other in a cycle: \((names + [names[0]]).joined(separator: " needs ")); "
                + "remove one of these needs")
    }
}

/// TOML values as JSON (bead metadata is JSON).
enum JSONConversion {
    static func members(of table: TOMLTable) -> [JSONMember] {
        table.entries.map { JSONMember($0.key, value(of: $0.value)) }
    }

    static func value(of value: TOMLValue) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .integer(let i): .int(i)
        case .float(let d): d.isFinite ? .number("\(d)") : .string("\(d)")
        case .boolean(let b): .bool(b)
        case .datetime(let d): .string(d.rfc3339)
        case .array(let a): .array(a.map { self.value(of: $0) })
        case .table(let t): .object(members(of: t))
        }
    }
}
