/// Reads a `*.formula.toml` file into a `Formula`: TOML 1.0 first (syntax errors name line and column), then the
/// formula's fields (type errors name the line and field). Unknown keys are kept and reported as warnings.
public enum FormulaParser {
    /// Parses formula text. `file` is how errors name it (`shiny.formula.toml`).
    public static func parse(
        _ text: String, file: String, settings: TOMLSettings = TOMLSettings()
    ) throws(FormulaError) -> Formula {
        try parse(bytes: Array(text.utf8), file: file, settings: settings)
    }

    /// Parses formula bytes (UTF-8).
    public static func parse(
        bytes: [UInt8], file: String, settings: TOMLSettings = TOMLSettings()
    ) throws(FormulaError) -> Formula {
        let table: TOMLTable
        do {
            table = try TOML.parse(bytes: bytes, settings: settings)
        } catch {
            throw FormulaError.syntax(error, file: file)
        }
        return try decode(table, file: file)
    }

    /// Reads a parsed TOML document as a formula.
    public static func decode(_ table: TOMLTable, file: String) throws(FormulaError) -> Formula {
        var decoder = FormulaDecoder(file: file)
        return try decoder.formula(table)
    }
}

/// The field-by-field reading of a formula document. Collects warnings as it goes.
struct FormulaDecoder {
    let file: String
    var warnings: [FormulaWarning] = []

    init(file: String) { self.file = file }

    mutating func formula(_ table: TOMLTable) throws(FormulaError) -> Formula {
        var r = TableReader(table, path: "", file: file)
        let name = try r.requiredString("formula", what: "a formula")
        var f = Formula(name: name, file: file)
        f.description = try r.string("description") ?? ""
        f.version = try r.int("version") ?? 1
        let typeName = try r.string("type")
        f.extends = try r.strings("extends") ?? []
        if let vars = try r.table("vars") { f.vars = try variables(vars) }
        f.steps = try steps(try r.tables("steps") ?? [], path: "steps", formula: name)
        f.template = try steps(try r.tables("template") ?? [], path: "template", formula: name)
        if let compose = try r.table("compose") { f.compose = try self.compose(compose) }
        for (i, t) in (try r.tables("advice") ?? []).enumerated() {
            f.advice.append(try advice(t, path: "advice[\(i)]"))
        }
        for (i, t) in (try r.tables("pointcuts") ?? []).enumerated() {
            var p = TableReader(t, path: "pointcuts[\(i)]", file: file)
            f.pointcuts.append(
                Pointcut(glob: try p.string("glob"), type: try p.string("type"), label: try p.string("label")))
            warnUnknown(p)
        }
        if let inputs = try r.table("inputs") { f.inputs = try self.inputs(inputs) }
        for (i, t) in (try r.tables("legs") ?? []).enumerated() { f.legs.append(try leg(t, path: "legs[\(i)]")) }
        for (i, t) in (try r.tables("aspects") ?? []).enumerated() {
            f.analysisAspects.append(try leg(t, path: "aspects[\(i)]"))
        }
        if let presets = try r.table("presets") { f.presets = try self.presets(presets) }
        if let synthesis = try r.table("synthesis") { f.synthesis = try self.synthesis(synthesis) }
        f.phase = try r.string("phase")
        f.pour = try r.bool("pour") ?? false
        if let prompts = try r.table("prompts") {
            for entry in prompts {
                guard case .string(let text) = entry.value else {
                    throw FormulaError(
                        .wrongType, file: file, line: entry.location.line, field: "prompts.\(entry.key)",
                        "expected a string, found \(article(entry.value.typeName)) \(entry.value.typeName)")
                }
                f.prompts.append(Prompt(name: entry.key, text: text))
            }
        }
        if let output = try r.table("output") {
            var o = TableReader(output, path: "output", file: file)
            f.output = OutputSpec(
                directory: try o.string("directory") ?? "", legPattern: try o.string("leg_pattern") ?? "",
                synthesis: try o.string("synthesis") ?? "")
            warnUnknown(o)
        }
        f.agent = try r.string("agent")
        f.reviewOnly = try r.bool("review_only") ?? false
        f.squash = try r.table("squash")
        f.extra = r.unknownKeys()
        warnings += r.unknownKeyWarnings(f.extra)
        f.type = try formulaType(typeName, inferredFrom: f, reader: r)
        try checkStepIDs(f.steps, field: "steps")
        try checkStepIDs(f.template, field: "template")
        f.warnings = warnings.enumerated().sorted {
            ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset)
        }
        .map(\.element)
        return f
    }

    func formulaType(
        _ name: String?, inferredFrom f: Formula, reader r: TableReader
    ) throws(FormulaError) -> FormulaType {
        if let name {
            guard let type = FormulaType(rawValue: name) else {
                throw r.invalid(
                    "type", "'\(name)' is not a formula type; use workflow, expansion, aspect or convoy")
            }
            return type
        }
        if !f.extends.isEmpty || !f.steps.isEmpty { return .workflow }
        if !f.legs.isEmpty { return .convoy }
        if !f.template.isEmpty { return .expansion }
        if !f.advice.isEmpty || !f.analysisAspects.isEmpty { return .aspect }
        return .workflow
    }

    // MARK: Variables and inputs

    mutating func variables(_ table: TOMLTable) throws(FormulaError) -> [VariableDefinition] {
        var out: [VariableDefinition] = []
        for entry in table {
            let path = "vars.\(entry.key)"
            var v = VariableDefinition(
                name: entry.key, location: FormulaSourceLocation(file: file, path: path, line: entry.location.line))
            switch entry.value {
            case .string(let s):
                v.defaultValue = s
            case .table(let t):
                var r = TableReader(t, path: path, file: file)
                v.description = try r.string("description") ?? ""
                v.defaultValue = try r.scalarText("default")
                v.required = try r.bool("required") ?? false
                v.allowedValues = try r.strings("enum") ?? []
                v.pattern = try r.string("pattern")
                v.type = try r.string("type")
                if let type = v.type, !["string", "int", "bool"].contains(type) {
                    throw r.invalid("type", "'\(type)' is not a variable type; use string, int or bool")
                }
                if v.required && v.defaultValue != nil {
                    warnings.append(
                        FormulaWarning(
                            file: file, line: entry.location.line, field: path,
                            "both required and a default: the default is used when no value is given"))
                }
                warnUnknown(r)
            default:
                throw FormulaError(
                    .wrongType, file: file, line: entry.location.line, field: path,
                    "expected a default value (a string) or a table, found \(article(entry.value.typeName)) "
                        + entry.value.typeName)
            }
            out.append(v)
        }
        return out
    }

    mutating func inputs(_ table: TOMLTable) throws(FormulaError) -> [Input] {
        var out: [Input] = []
        for entry in table {
            let path = "inputs.\(entry.key)"
            guard case .table(let t) = entry.value else {
                throw FormulaError(
                    .wrongType, file: file, line: entry.location.line, field: path,
                    "expected a table ([\(path)]), found \(article(entry.value.typeName)) \(entry.value.typeName)")
            }
            var r = TableReader(t, path: path, file: file)
            var input = Input(name: entry.key, location: r.location(path, line: entry.location.line))
            input.description = try r.string("description") ?? ""
            input.type = try r.string("type")
            input.required = try r.bool("required") ?? false
            input.requiredUnless = try r.strings("required_unless") ?? []
            input.defaultValue = try r.scalarText("default")
            warnUnknown(r)
            out.append(input)
        }
        for input in out {
            for other in input.requiredUnless where !out.contains(where: { $0.name == other }) {
                throw FormulaError(
                    .invalidValue, file: file, line: input.location.line,
                    field: "\(input.location.path).required_unless",
                    "names '\(other)', which is not an input of this formula")
            }
        }
        return out
    }

    // MARK: Steps

    mutating func steps(_ tables: [TOMLTable], path: String, formula: String) throws(FormulaError) -> [Step] {
        var out: [Step] = []
        out.reserveCapacity(tables.count)
        for (i, t) in tables.enumerated() { out.append(try step(t, path: "\(path)[\(i)]", formula: formula)) }
        return out
    }

    mutating func step(_ table: TOMLTable, path: String, formula: String) throws(FormulaError) -> Step {
        var r = TableReader(table, path: path, file: file)
        let id = try r.requiredString("id", what: "a step")
        guard !id.isEmpty else { throw r.invalid("id", "a step ID cannot be empty") }
        var s = Step(id: id, origin: r.location(path, line: table.location.line))
        s.sourceFormula = formula
        s.title = try r.string("title") ?? ""
        s.description = try r.string("description") ?? ""
        s.notes = try r.string("notes") ?? ""
        s.type = try r.string("type")
        s.priority = try r.int("priority")
        if let p = s.priority, !(0...4).contains(p) {
            throw r.invalid("priority", "\(p) is not a priority; use 0 (highest) to 4")
        }
        s.labels = try r.strings("labels") ?? []
        s.metadata = try r.table("metadata")
        s.needs = try r.strings("needs") ?? []
        s.dependsOn = try r.strings("depends_on") ?? []
        s.waitsFor = try r.string("waits_for")
        s.assignee = try r.string("assignee") ?? ""
        s.expand = try r.string("expand")
        s.expandVars = try r.stringTable("expand_vars") ?? [:]
        s.condition = try r.string("condition")
        s.children = try steps(try r.tables("children") ?? [], path: "\(path).children", formula: formula)
        if let gate = try r.table("gate") { s.gate = try self.gate(gate, path: "\(path).gate") }
        if let loop = try r.table("loop") { s.loop = try self.loop(loop, path: "\(path).loop", formula: formula) }
        s.onComplete = try r.table("on_complete")
        s.acceptance = try r.string("acceptance") ?? ""
        s.parallel = try r.bool("parallel") ?? false
        s.interactive = try r.bool("interactive") ?? false
        if s.title.isEmpty && s.expand == nil && s.loop == nil {
            throw FormulaError(
                .missingField, file: file, line: table.location.line, field: "\(path).title",
                "step '\(id)' needs a title (only a step with `expand` or `loop` may leave it out)")
        }
        s.extra = r.unknownKeys()
        warnings += r.unknownKeyWarnings(s.extra)
        s.fieldLines = r.keyLines
        return s
    }

    mutating func gate(_ table: TOMLTable, path: String) throws(FormulaError) -> Gate {
        var r = TableReader(table, path: path, file: file)
        var g = Gate(type: try r.requiredString("type", what: "a gate"))
        let awaitID = try r.string("await_id")
        let id = try r.string("id")
        g.awaitID = awaitID ?? id
        g.timeout = try r.string("timeout")
        if let timeout = g.timeout, GoDuration.nanoseconds(timeout) == nil {
            throw r.invalid("timeout", "'\(timeout)' is not a duration; write it like 30m, 24h or 1h30m")
        }
        g.condition = try r.string("condition")
        g.extra = r.unknownKeys()
        warnings += r.unknownKeyWarnings(g.extra)
        return g
    }

    mutating func loop(_ table: TOMLTable, path: String, formula: String) throws(FormulaError) -> Loop {
        var r = TableReader(table, path: path, file: file)
        var l = Loop()
        l.count = try r.int("count")
        l.until = try r.string("until")
        l.max = try r.int("max")
        l.range = try r.string("range")
        l.variable = try r.string("var")
        l.body = try steps(try r.tables("body") ?? [], path: "\(path).body", formula: formula)
        let kinds = [l.count != nil, l.until != nil, l.range != nil].filter { $0 }.count
        guard !l.body.isEmpty else {
            throw FormulaError(
                .missingField, file: file, line: r.tableLine, field: "\(path).body", "a loop needs a body")
        }
        guard kinds == 1 else {
            throw FormulaError(
                .invalidValue, file: file, line: r.tableLine, field: path,
                "a loop needs exactly one of count, until or range")
        }
        if let count = l.count, count < 1 { throw r.invalid("count", "a loop count must be at least 1") }
        if l.until != nil && (l.max ?? 0) < 1 {
            throw FormulaError(
                .missingField, file: file, line: r.tableLine, field: "\(path).max",
                "a loop with `until` needs `max` (at least 1) so it cannot run forever")
        }
        warnUnknown(r)
        return l
    }

    /// Step IDs are unique across a list and its children (and loop bodies).
    func checkStepIDs(_ steps: [Step], field: String) throws(FormulaError) {
        var seen: [String: FormulaSourceLocation] = [:]
        func visit(_ list: [Step]) throws(FormulaError) {
            for s in list {
                if let first = seen[s.id] {
                    throw FormulaError(
                        .duplicateStep(s.id), file: s.origin.file, line: s.origin.line, field: "\(s.origin.path).id",
                        "duplicate step ID '\(s.id)' (first at \(first.path), line \(first.line ?? 0))")
                }
                seen[s.id] = s.origin
                try visit(s.children)
            }
        }
        try visit(steps)
    }

    /// Warns about the keys `r` did not read (used where the unknown keys are not kept on the model).
    mutating func warnUnknown(_ r: TableReader) {
        warnings += r.unknownKeyWarnings(r.unknownKeys(), kept: false)
    }
}
