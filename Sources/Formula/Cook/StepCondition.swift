/// A step's `condition`, evaluated when a molecule is instantiated (beads' `EvaluateStepCondition`):
/// `{{var}}` (the value is truthy), `!{{var}}` (it is not), `{{var}} == value`, `{{var}} != value` (the value may be
/// quoted). Falsy values: empty, `false`, `0`, `no`, `off` (any case); a variable with no value is empty.
/// `Sendable`: plain value.
public enum StepCondition: Sendable, Hashable {
    case truthy(String)
    case falsy(String)
    case equals(String, String)
    case notEquals(String, String)

    /// Why a condition could not be read.
    public struct Failure: Error, Sendable {
        public var message: String
    }

    public init(parsing text: String) throws(Failure) {
        let s = text.trimmedOfSpaces
        func variable(_ t: Substring) -> (String, Substring)? {
            guard t.hasPrefix("{{"), let close = t.range(of: "}}") else { return nil }
            let name = t[t.index(t.startIndex, offsetBy: 2)..<close.lowerBound]
            guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39),
                name.utf8.allSatisfy(Placeholders.isNameByte)
            else { return nil }
            return (String(name), t[close.upperBound...])
        }
        if s.hasPrefix("!"), let (name, rest) = variable(Substring(s).dropFirst()), rest.isEmpty {
            self = .falsy(name)
            return
        }
        guard let (name, rest) = variable(Substring(s)) else {
            throw Failure(message: "expected {{var}}, !{{var}}, {{var}} == value or {{var}} != value")
        }
        let tail = String(rest).trimmedOfSpaces
        if tail.isEmpty {
            self = .truthy(name)
            return
        }
        guard tail.hasPrefix("==") || tail.hasPrefix("!=") else {
            throw Failure(message: "expected == or != after {{\(name)}}")
        }
        var value = String(tail.dropFirst(2)).trimmedOfSpaces
        guard !value.isEmpty else { throw Failure(message: "expected a value after \(tail.prefix(2))") }
        if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
            value = String(value.dropFirst().dropLast())
        }
        self = tail.hasPrefix("==") ? .equals(name, value) : .notEquals(name, value)
    }

    /// Whether the step is kept.
    public func holds(_ values: [String: String]) -> Bool {
        switch self {
        case .truthy(let name): Self.isTruthy(values[name] ?? "")
        case .falsy(let name): !Self.isTruthy(values[name] ?? "")
        case .equals(let name, let value): (values[name] ?? "") == value
        case .notEquals(let name, let value): (values[name] ?? "") != value
        }
    }

    public static func isTruthy(_ value: String) -> Bool {
        !["", "false", "0", "no", "off"].contains(value.lowercased())
    }
}
