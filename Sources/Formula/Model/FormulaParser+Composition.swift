extension FormulaDecoder {
    mutating func compose(_ table: TOMLTable) throws(FormulaError) -> Compose {
        var r = TableReader(table, path: "compose", file: file)
        var c = Compose()
        for (i, t) in (try r.tables("expand") ?? []).enumerated() {
            c.expand.append(try expandRule(t, path: "compose.expand[\(i)]", targetKey: "target"))
        }
        for (i, t) in (try r.tables("map") ?? []).enumerated() {
            c.map.append(try expandRule(t, path: "compose.map[\(i)]", targetKey: "select"))
        }
        c.aspects = try r.strings("aspects") ?? []
        c.aspectsLine = r.line("aspects")
        c.extra = r.unknownKeys()
        for key in c.extra {
            let known = ["bond_points", "hooks", "branch", "gate"].contains(key.key)
            warnings.append(
                FormulaWarning(
                    file: file, line: key.line, field: "compose.\(key.key)",
                    known ? "beads' compose.\(key.key) is kept but not applied" : "unknown key (kept, not used)"))
        }
        return c
    }

    mutating func expandRule(_ table: TOMLTable, path: String, targetKey: String) throws(FormulaError) -> ExpandRule {
        var r = TableReader(table, path: path, file: file)
        let target = try r.requiredString(targetKey, what: "an expansion rule")
        let with = try r.requiredString("with", what: "an expansion rule")
        let vars = try r.stringTable("vars") ?? [:]
        warnUnknown(r)
        return ExpandRule(target: target, with: with, vars: vars, location: r.location(path, line: table.location.line))
    }

    mutating func advice(_ table: TOMLTable, path: String) throws(FormulaError) -> AdviceRule {
        var r = TableReader(table, path: path, file: file)
        let target = try r.requiredString("target", what: "an advice rule")
        var rule = AdviceRule(target: target, location: r.location(path, line: table.location.line))
        if let before = try r.table("before") { rule.before.append(try adviceStep(before, path: "\(path).before")) }
        if let after = try r.table("after") { rule.after.append(try adviceStep(after, path: "\(path).after")) }
        if let around = try r.table("around") {
            var a = TableReader(around, path: "\(path).around", file: file)
            for (i, t) in (try a.tables("before", allowSingle: true) ?? []).enumerated() {
                rule.before.append(try adviceStep(t, path: "\(path).around.before[\(i)]"))
            }
            for (i, t) in (try a.tables("after", allowSingle: true) ?? []).enumerated() {
                rule.after.append(try adviceStep(t, path: "\(path).around.after[\(i)]"))
            }
            warnUnknown(a)
        }
        warnUnknown(r)
        return rule
    }

    mutating func adviceStep(_ table: TOMLTable, path: String) throws(FormulaError) -> AdviceStep {
        var r = TableReader(table, path: path, file: file)
        var s = AdviceStep(
            id: try r.requiredString("id", what: "an advice step"),
            location: r.location(path, line: table.location.line))
        s.title = try r.string("title") ?? ""
        s.description = try r.string("description") ?? ""
        s.type = try r.string("type")
        s.args = try r.stringTable("args") ?? [:]
        s.output = try r.table("output")
        warnUnknown(r)
        return s
    }

    mutating func leg(_ table: TOMLTable, path: String) throws(FormulaError) -> Leg {
        var r = TableReader(table, path: path, file: file)
        var leg = Leg(
            id: try r.requiredString("id", what: "a leg"), location: r.location(path, line: table.location.line))
        leg.title = try r.string("title") ?? leg.id
        leg.focus = try r.string("focus") ?? ""
        leg.description = try r.string("description") ?? ""
        leg.agent = try r.string("agent")
        leg.reviewOnly = try r.bool("review_only") ?? false
        leg.extra = r.unknownKeys()
        warnings += r.unknownKeyWarnings(leg.extra)
        return leg
    }

    mutating func presets(_ table: TOMLTable) throws(FormulaError) -> [Preset] {
        var out: [Preset] = []
        for entry in table {
            let path = "presets.\(entry.key)"
            guard case .table(let t) = entry.value else {
                throw FormulaError(
                    .wrongType, file: file, line: entry.location.line, field: path,
                    "expected a table ([\(path)]), found \(article(entry.value.typeName)) \(entry.value.typeName)")
            }
            var r = TableReader(t, path: path, file: file)
            var preset = Preset(name: entry.key, location: r.location(path, line: entry.location.line))
            preset.description = try r.string("description") ?? ""
            preset.legs = try r.strings("legs") ?? []
            warnUnknown(r)
            out.append(preset)
        }
        return out
    }

    mutating func synthesis(_ table: TOMLTable) throws(FormulaError) -> Synthesis {
        var r = TableReader(table, path: "synthesis", file: file)
        var s = Synthesis(location: r.location("synthesis", line: table.location.line))
        s.title = try r.string("title") ?? "Synthesis"
        s.description = try r.string("description") ?? ""
        s.dependsOn = try r.strings("depends_on") ?? []
        warnUnknown(r)
        return s
    }
}
