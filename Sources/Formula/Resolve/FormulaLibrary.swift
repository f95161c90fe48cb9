/// Formulas by name over a `FormulaSource`: load (parse one file), resolve (apply `extends`, loops, advice,
/// expansions and aspects, as `bd cook` does), and cook (a molecule plan ready to write to the ledger).
///
/// Resolution order, beads' `loadAndResolveFormula`: `extends` (parents merged in order, the child overriding steps
/// by ID and variables by name), loops, the formula's own `[[advice]]`, inline `expand` on steps, `compose.expand`
/// then `compose.map`, then each of `compose.aspects`. See docs/formulas.md.
/// `Sendable`: a source and settings, both `Sendable`.
public struct FormulaLibrary: Sendable {
    public var source: any FormulaSource
    public var settings: FormulaSettings

    public init(source: any FormulaSource, settings: FormulaSettings = FormulaSettings()) {
        self.source = source
        self.settings = settings
    }

    /// Parses formula `name` (nothing resolved).
    public func load(_ name: String) throws(FormulaError) -> Formula {
        var resolver = Resolver(library: self, variables: [:])
        return try resolver.load(name, from: nil)
    }

    /// Loads and resolves formula `name`. `variables` are only needed for loops whose `range` uses them.
    public func resolve(_ name: String, variables: [String: String] = [:]) throws(FormulaError) -> Formula {
        var resolver = Resolver(library: self, variables: variables)
        return try resolver.resolve(try resolver.load(name, from: nil))
    }

    /// Resolves an already parsed formula against this library.
    public func resolve(_ formula: Formula, variables: [String: String] = [:]) throws(FormulaError) -> Formula {
        var resolver = Resolver(library: self, variables: variables)
        return try resolver.resolve(formula)
    }

    /// Resolves formula `name` and cooks it into its proto (template beads, `{{variables}}` left in place).
    public func proto(_ name: String, variables: [String: String] = [:]) throws(FormulaError) -> Proto {
        try Proto.cook(try resolve(name, variables: variables), settings: settings)
    }

    /// Resolves formula `name`, cooks it and instantiates it with `options`: the molecule to write.
    public func cook(_ name: String, options: CookOptions = CookOptions()) throws(FormulaError) -> MoleculePlan {
        try proto(name, variables: options.variables).instantiate(options)
    }
}

/// Where a formula was named from, for "not found" and "wrong type" errors.
struct FormulaReference {
    var file: String
    var line: Int?
    var field: String
}

/// One resolution: a cache of parsed formulas, the `extends` chain, and the variables loops may use.
/// Not `Sendable`-relevant: lives inside one library call.
struct Resolver {
    let library: FormulaLibrary
    let variables: [String: String]
    var cache: [String: Formula] = [:]

    init(library: FormulaLibrary, variables: [String: String]) {
        self.library = library
        self.variables = variables
    }

    var settings: FormulaSettings { library.settings }

    /// Parses `name` from the source (cached).
    mutating func load(_ name: String, from reference: FormulaReference?) throws(FormulaError) -> Formula {
        if let cached = cache[name] { return cached }
        guard let text = library.source.formula(named: name) else {
            let searched = library.source.locations.joined(separator: ", ")
            throw FormulaError(
                .notFound(name), file: reference?.file ?? "\(name).formula.toml", line: reference?.line,
                field: reference?.field ?? "",
                "formula '\(name)' not found (searched: \(searched.isEmpty ? "no locations" : searched))")
        }
        var formula = try FormulaParser.parse(bytes: text.bytes, file: text.file, settings: settings.toml)
        if formula.name != name {
            formula.warnings.append(
                FormulaWarning(
                    file: text.file, line: 1, field: "formula",
                    "the file is found as '\(name)' but names itself '\(formula.name)'"))
        }
        cache[name] = formula
        return formula
    }

    /// The whole pipeline on `formula`.
    mutating func resolve(_ formula: Formula) throws(FormulaError) -> Formula {
        var f = try mergeExtends(formula, chain: [])
        f.steps = try expandLoops(f.steps, formula: f)
        if !f.advice.isEmpty {
            f.steps = applyAdvice(f.advice, pointcuts: f.pointcuts, aspect: f.name, to: f.steps)
        }
        f.steps = try applyInlineExpansions(f.steps, depth: 0)
        f.steps = try applyComposeExpansions(f)
        for (i, name) in f.compose.aspects.enumerated() {
            let reference = FormulaReference(
                file: f.file, line: f.compose.aspectsLine, field: "compose.aspects[\(i)]")
            let aspect = try load(name, from: reference)
            guard aspect.type == .aspect else {
                throw FormulaError(
                    .wrongFormulaType(name), file: reference.file, line: reference.line, field: reference.field,
                    "'\(name)' is a \(aspect.type.rawValue) formula, not an aspect (type = \"aspect\")")
            }
            f.warnings += aspect.warnings
            f.steps = applyAdvice(aspect.advice, pointcuts: aspect.pointcuts, aspect: aspect.name, to: f.steps)
        }
        try checkUniqueIDs(f.steps, in: f)
        return f
    }

    func checkUniqueIDs(_ steps: [Step], in f: Formula) throws(FormulaError) {
        var seen: [String: FormulaSourceLocation] = [:]
        func visit(_ list: [Step]) throws(FormulaError) {
            for s in list {
                if let other = seen[s.id] {
                    throw FormulaError(
                        .duplicateStep(s.id), file: s.origin.file, line: s.origin.line, field: "\(s.origin.path).id",
                        "two steps of '\(f.name)' have the ID '\(s.id)' once composed (the other is \(other.path) "
                            + "of \(other.file)); rename one")
                }
                seen[s.id] = s.origin
                try visit(s.children)
            }
        }
        try visit(steps)
    }

    // MARK: extends

    /// Merges the parents named by `extends` (each resolved the same way first) under `formula`.
    mutating func mergeExtends(_ formula: Formula, chain: [String]) throws(FormulaError) -> Formula {
        if chain.contains(formula.name) {
            let cycle = chain + [formula.name]
            throw FormulaError(
                .circularExtends(cycle), file: formula.file, line: nil, field: "extends",
                "circular extends: \(cycle.joined(separator: " -> ")); a formula cannot extend itself")
        }
        guard !formula.extends.isEmpty else { return formula }
        var merged = Formula(name: formula.name, file: formula.file)
        for (i, parentName) in formula.extends.enumerated() {
            let reference = FormulaReference(file: formula.file, line: nil, field: "extends[\(i)]")
            let parent = try mergeExtends(try load(parentName, from: reference), chain: chain + [formula.name])
            Self.inherit(parent, into: &merged)
        }
        Self.override(with: formula, into: &merged)
        return merged
    }

    /// Adds a parent's definitions under what is merged so far (an earlier parent keeps a name it already defines).
    static func inherit(_ parent: Formula, into merged: inout Formula) {
        for v in parent.vars where merged.variable(v.name) == nil { merged.vars.append(v) }
        merged.steps = mergeByID(merged.steps, parent.steps)
        merged.compose = mergeCompose(merged.compose, parent.compose)
        merged.advice += parent.advice
        merged.pointcuts += parent.pointcuts
        if merged.description.isEmpty { merged.description = parent.description }
        for input in parent.inputs where !merged.inputs.contains(where: { $0.name == input.name }) {
            merged.inputs.append(input)
        }
        merged.legs = mergeLegs(merged.legs, parent.legs)
        for p in parent.presets where !merged.presets.contains(where: { $0.name == p.name }) {
            merged.presets.append(p)
        }
        merged.synthesis = merged.synthesis ?? parent.synthesis
        for p in parent.prompts where !merged.prompts.contains(where: { $0.name == p.name }) {
            merged.prompts.append(p)
        }
        merged.output = merged.output ?? parent.output
        merged.phase = merged.phase ?? parent.phase
        merged.pour = merged.pour || parent.pour
        merged.agent = merged.agent ?? parent.agent
        merged.reviewOnly = merged.reviewOnly || parent.reviewOnly
        merged.squash = merged.squash ?? parent.squash
        merged.warnings += parent.warnings
    }

    /// Puts the child's own definitions over the merged parents.
    static func override(with child: Formula, into merged: inout Formula) {
        for v in child.vars {
            if let i = merged.vars.firstIndex(where: { $0.name == v.name }) {
                merged.vars[i] = v
            } else {
                merged.vars.append(v)
            }
        }
        merged.steps = mergeByID(merged.steps, child.steps)
        merged.template = child.template
        merged.compose = mergeCompose(merged.compose, child.compose)
        merged.advice += child.advice
        merged.pointcuts += child.pointcuts
        if !child.description.isEmpty { merged.description = child.description }
        merged.version = child.version
        merged.type = child.type
        for input in child.inputs {
            if let i = merged.inputs.firstIndex(where: { $0.name == input.name }) {
                merged.inputs[i] = input
            } else {
                merged.inputs.append(input)
            }
        }
        merged.legs = mergeLegs(merged.legs, child.legs)
        for p in child.presets {
            if let i = merged.presets.firstIndex(where: { $0.name == p.name }) {
                merged.presets[i] = p
            } else {
                merged.presets.append(p)
            }
        }
        merged.synthesis = child.synthesis ?? merged.synthesis
        for p in child.prompts {
            if let i = merged.prompts.firstIndex(where: { $0.name == p.name }) {
                merged.prompts[i] = p
            } else {
                merged.prompts.append(p)
            }
        }
        merged.output = child.output ?? merged.output
        merged.phase = child.phase ?? merged.phase
        merged.pour = child.pour || merged.pour
        merged.agent = child.agent ?? merged.agent
        merged.reviewOnly = child.reviewOnly || merged.reviewOnly
        merged.analysisAspects = child.analysisAspects
        merged.squash = child.squash ?? merged.squash
        merged.extra = child.extra
        merged.warnings = child.warnings + merged.warnings
    }

    /// beads' `mergeSteps`: a step whose ID is already there replaces it in place; others are appended.
    static func mergeByID(_ base: [Step], _ overlay: [Step]) -> [Step] {
        var result = base
        var index: [String: Int] = [:]
        for (i, s) in result.enumerated() { index[s.id] = i }
        for s in overlay {
            if let i = index[s.id] {
                result[i] = s
            } else {
                index[s.id] = result.count
                result.append(s)
            }
        }
        return result
    }

    static func mergeLegs(_ base: [Leg], _ overlay: [Leg]) -> [Leg] {
        var result = base
        for leg in overlay {
            if let i = result.firstIndex(where: { $0.id == leg.id }) { result[i] = leg } else { result.append(leg) }
        }
        return result
    }

    static func mergeCompose(_ base: Compose, _ overlay: Compose) -> Compose {
        var c = base
        c.expand += overlay.expand
        c.map += overlay.map
        for a in overlay.aspects where !c.aspects.contains(a) { c.aspects.append(a) }
        c.extra += overlay.extra
        if c.aspectsLine == nil { c.aspectsLine = overlay.aspectsLine }
        return c
    }
}
