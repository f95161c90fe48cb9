/// Glob patterns over step IDs, as beads' `MatchGlob`: `*` (any run of characters), `?` (one), `[abc]`, `[a-z]`,
/// `[!x]`, and `\` to escape. `implement` matches only itself; `*.implement` any step ending in `.implement`;
/// `shiny.*` any step starting with `shiny.`; `*` every step.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        match(Array(pattern.unicodeScalars)[...], Array(text.unicodeScalars)[...])
    }

    static func match(_ p: ArraySlice<Unicode.Scalar>, _ t: ArraySlice<Unicode.Scalar>) -> Bool {
        var p = p
        var t = t
        while let c = p.first {
            switch c {
            case "*":
                let rest = p.dropFirst()
                if rest.isEmpty { return true }
                var suffix = t
                while true {
                    if match(rest, suffix) { return true }
                    guard !suffix.isEmpty else { return false }
                    suffix = suffix.dropFirst()
                }
            case "?":
                guard !t.isEmpty else { return false }
                p = p.dropFirst()
                t = t.dropFirst()
            case "[":
                guard let ch = t.first, let (matched, rest) = matchClass(p.dropFirst(), ch) else { return false }
                guard matched else { return false }
                p = rest
                t = t.dropFirst()
            default:
                var literal = c
                var rest = p.dropFirst()
                if c == "\\", let escaped = rest.first {
                    literal = escaped
                    rest = rest.dropFirst()
                }
                guard t.first == literal else { return false }
                p = rest
                t = t.dropFirst()
            }
        }
        return t.isEmpty
    }

    /// A `[…]` class after its `[`: whether `ch` is in it, and the pattern after `]`; nil if unterminated.
    static func matchClass(
        _ p: ArraySlice<Unicode.Scalar>, _ ch: Unicode.Scalar
    ) -> (Bool, ArraySlice<Unicode.Scalar>)? {
        var p = p
        var negate = false
        if let first = p.first, first == "!" || first == "^" {
            negate = true
            p = p.dropFirst()
        }
        var matched = false
        var first = true
        while let c = p.first {
            if c == "]" && !first { return (matched != negate, p.dropFirst()) }
            first = false
            var low = c
            p = p.dropFirst()
            if low == "\\", let escaped = p.first {
                low = escaped
                p = p.dropFirst()
            }
            var high = low
            if p.first == "-", let h = p.dropFirst().first, h != "]" {
                high = h
                p = p.dropFirst(2)
            }
            if ch.value >= low.value && ch.value <= high.value { matched = true }
        }
        return nil
    }
}

extension Resolver {
    /// beads' `ApplyAdvice`: for each step present before (inserted steps are never advised themselves) whose ID
    /// matches a rule's `target`, and which the aspect's pointcuts admit: the rule's before-steps go in front of it,
    /// chained, the step needs the last of them; its after-steps follow it, the first needing the step, chained.
    /// Steps that needed the advised step still need it (not its after-steps). `{step.id}` and `{step.title}` name
    /// the advised step. Children are advised the same way.
    func applyAdvice(_ rules: [AdviceRule], pointcuts: [Pointcut], aspect: String, to steps: [Step]) -> [Step] {
        let original = Set(Self.allIDs(steps))
        return advise(steps, rules: rules, pointcuts: pointcuts, aspect: aspect, original: original)
    }

    func advise(
        _ steps: [Step], rules: [AdviceRule], pointcuts: [Pointcut], aspect: String, original: Set<String>
    ) -> [Step] {
        var result: [Step] = []
        result.reserveCapacity(steps.count)
        for step in steps {
            guard original.contains(step.id) else {
                result.append(step)
                continue
            }
            var before: [Step] = []
            var after: [Step] = []
            if pointcuts.isEmpty || pointcuts.contains(where: { Self.admits($0, step) }) {
                for rule in rules where Glob.matches(rule.target, step.id) {
                    before += rule.before.map { Self.adviceStep($0, for: step, aspect: aspect) }
                    after += rule.after.map { Self.adviceStep($0, for: step, aspect: aspect) }
                }
            }
            for i in before.indices.dropFirst() where !before[i].needs.contains(before[i - 1].id) {
                before[i].needs.append(before[i - 1].id)
            }
            var advised = step
            if let last = before.last, !advised.needs.contains(last.id) { advised.needs.append(last.id) }
            advised.children = advise(
                step.children, rules: rules, pointcuts: pointcuts, aspect: aspect, original: original)
            for i in after.indices {
                let previous = i == 0 ? step.id : after[i - 1].id
                if !after[i].needs.contains(previous) { after[i].needs.append(previous) }
            }
            result += before
            result.append(advised)
            result += after
        }
        return result
    }

    /// beads' `MatchPointcut`: every field the pointcut sets must match.
    static func admits(_ pointcut: Pointcut, _ step: Step) -> Bool {
        if let glob = pointcut.glob, !Glob.matches(glob, step.id) { return false }
        if let type = pointcut.type, step.type != type { return false }
        if let label = pointcut.label, !step.labels.contains(label) { return false }
        return true
    }

    static func adviceStep(_ advice: AdviceStep, for target: Step, aspect: String) -> Step {
        let lookup: (String) -> String? = { name in
            switch name {
            case "step.id": return target.id
            case "step.title": return target.title
            default: return nil
            }
        }
        func fill(_ s: String) -> String { Placeholders.substitutePlaceholders(s, lookup) }
        var s = Step(id: fill(advice.id), origin: advice.location)
        s.title = advice.title.isEmpty ? s.id : fill(advice.title)
        s.description = fill(advice.description)
        s.type = advice.type
        s.sourceFormula = aspect
        return s
    }
}
