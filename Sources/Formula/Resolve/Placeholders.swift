/// The two placeholder forms of formulas, replaced by scanning UTF-8 bytes:
/// - `{{name}}`: a formula variable (letters, digits, `_`; not starting with a digit), filled when a molecule is
///   poured; an unknown name is left as written (Gas Town's step texts carry `{{…}}` meant for the agent);
/// - `{name}`, `{target.title}`, `{step.id}`: what expansions, advice and loops fill in when a formula is resolved.
///   A `{…}` inside `{{…}}` is never touched.
public enum Placeholders {
    /// `s` with every `{{name}}` whose name is in `values` replaced by its value.
    public static func substituteVariables(_ s: String, _ values: [String: String]) -> String {
        guard !values.isEmpty, s.utf8.contains(0x7B) else { return s }
        return scan(s, singles: false, single: { _ in nil }, double: { values[$0] })
    }

    /// The names of the `{{name}}` placeholders in `s`, added to `names`.
    public static func collectVariableNames(in s: String, into names: inout Set<String>) {
        guard s.utf8.contains(0x7B) else { return }
        _ = scan(
            s, singles: false, single: { _ in nil },
            double: { name in
                names.insert(name)
                return nil
            })
    }

    /// `s` with every single-brace `{name}` for which `lookup` has a value replaced.
    public static func substitutePlaceholders(_ s: String, _ lookup: (String) -> String?) -> String {
        guard s.utf8.contains(0x7B) else { return s }
        return scan(s, singles: true, single: lookup, double: { _ in nil })
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    /// One pass over `s`: `{{name}}` goes to `double`, `{name}` (name may hold dots) to `single` when `singles`.
    static func scan(
        _ s: String, singles: Bool, single: (String) -> String?, double: (String) -> String?
    ) -> String {
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            guard c == 0x7B else {
                out.append(c)
                i += 1
                continue
            }
            if i + 1 < n && bytes[i + 1] == 0x7B {
                // `{{name}}`?
                var j = i + 2
                if j < n && isNameByte(bytes[j]) && !(bytes[j] >= 0x30 && bytes[j] <= 0x39) {
                    while j < n && isNameByte(bytes[j]) { j += 1 }
                    if j + 1 < n && bytes[j] == 0x7D && bytes[j + 1] == 0x7D {
                        let name = String(decoding: bytes[(i + 2)..<j], as: UTF8.self)
                        if let value = double(name) {
                            out.append(contentsOf: value.utf8)
                        } else {
                            out.append(contentsOf: bytes[i..<(j + 2)])
                        }
                        i = j + 2
                        continue
                    }
                }
                out.append(c)
                i += 1
                continue
            }
            if singles {
                var j = i + 1
                while j < n && (isNameByte(bytes[j]) || bytes[j] == 0x2E) { j += 1 }
                if j > i + 1 && j < n && bytes[j] == 0x7D {
                    let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                    if let value = single(name) {
                        out.append(contentsOf: value.utf8)
                        i = j + 1
                        continue
                    }
                }
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
