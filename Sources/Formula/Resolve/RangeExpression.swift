/// A loop `range` as beads writes it: `start..end`, each side an integer expression with `+ - * / ^` (power),
/// parentheses, unary minus, and `{name}` variables (`1..2^{disks}`).
enum RangeExpression {
    struct Failure: Error {
        var message: String
    }

    /// The inclusive bounds.
    static func evaluate(_ text: String, variables: [String: String]) throws(Failure) -> (Int, Int) {
        let filled = Placeholders.substitutePlaceholders(text) { variables[$0] }
        guard let dots = filled.range(of: "..") else { throw Failure(message: "expected start..end") }
        let start = try value(of: String(filled[..<dots.lowerBound]))
        let end = try value(of: String(filled[dots.upperBound...]))
        return (start, end)
    }

    static func value(of text: String) throws(Failure) -> Int {
        var parser = Parser(tokens: Array(text.unicodeScalars))
        let v = try parser.sum()
        parser.skipSpaces()
        guard parser.index == parser.tokens.count else {
            if parser.tokens[parser.index] == "{" {
                throw Failure(message: "no value for variable in '\(text.trimmedOfSpaces)'")
            }
            throw Failure(message: "unexpected '\(parser.tokens[parser.index])' in '\(text.trimmedOfSpaces)'")
        }
        return v
    }

    /// Precedence climbing over scalars; integers overflow-checked.
    struct Parser {
        let tokens: [Unicode.Scalar]
        var index = 0

        mutating func skipSpaces() {
            while index < tokens.count && tokens[index] == " " { index += 1 }
        }

        mutating func peek() -> Unicode.Scalar? {
            skipSpaces()
            return index < tokens.count ? tokens[index] : nil
        }

        mutating func sum() throws(Failure) -> Int {
            var v = try product()
            while let op = peek(), op == "+" || op == "-" {
                index += 1
                let rhs = try product()
                let (r, overflow) = op == "+" ? v.addingReportingOverflow(rhs) : v.subtractingReportingOverflow(rhs)
                guard !overflow else { throw Failure(message: "number too large") }
                v = r
            }
            return v
        }

        mutating func product() throws(Failure) -> Int {
            var v = try power()
            while let op = peek(), op == "*" || op == "/" {
                index += 1
                let rhs = try power()
                if op == "/" {
                    guard rhs != 0 else { throw Failure(message: "division by zero") }
                    v /= rhs
                } else {
                    let (r, overflow) = v.multipliedReportingOverflow(by: rhs)
                    guard !overflow else { throw Failure(message: "number too large") }
                    v = r
                }
            }
            return v
        }

        mutating func power() throws(Failure) -> Int {
            let base = try unary()
            guard peek() == "^" else { return base }
            index += 1
            let exponent = try power()
            guard exponent >= 0 else { throw Failure(message: "negative exponent") }
            var r = 1
            for _ in 0..<min(exponent, 64) {
                let (next, overflow) = r.multipliedReportingOverflow(by: base)
                guard !overflow else { throw Failure(message: "number too large") }
                r = next
            }
            return exponent > 64 && abs(base) > 1 ? Int.max : r
        }

        mutating func unary() throws(Failure) -> Int {
            if peek() == "-" {
                index += 1
                return -(try unary())
            }
            return try atom()
        }

        mutating func atom() throws(Failure) -> Int {
            guard let c = peek() else { throw Failure(message: "expected a number") }
            if c == "(" {
                index += 1
                let v = try sum()
                guard peek() == ")" else { throw Failure(message: "expected ')'") }
                index += 1
                return v
            }
            var digits = ""
            while index < tokens.count, tokens[index].value >= 0x30, tokens[index].value <= 0x39 {
                digits.unicodeScalars.append(tokens[index])
                index += 1
            }
            guard let v = Int(digits) else {
                throw Failure(message: c == "{" ? "no value for a variable" : "expected a number, found '\(c)'")
            }
            return v
        }
    }
}

extension String {
    var trimmedOfSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
