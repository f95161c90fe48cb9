/// Text made safe to print: control characters a terminal would act on (ESC sequences that move the cursor,
/// retitle the window or hide text; carriage returns that overwrite a line) are shown as escapes instead. Bead
/// fields are free text and may arrive from anywhere (a remote ledger, an import), so every line `Console` prints
/// goes through `escaped`, and one-line fields (titles, IDs, labels) through `oneLine` as well. `--json` output is
/// never changed (it is exact JSON). A namespace; `Sendable` trivially.
public enum TerminalText {
    /// `text` with C0 control characters other than newline and tab shown as `\xNN` (carriage return as `\r`),
    /// DEL as `\x7f`, and C1 control characters (U+0080–U+009F, e.g. the CSI U+009B) as `\u0080`–`\u009f`.
    /// Returns `text` itself when it holds none (a byte scan).
    public static func escaped(_ text: String) -> String {
        guard needsEscaping(text, keepLineBreaks: true) else { return text }
        return escape(text, keepLineBreaks: true)
    }

    /// `escaped`, and newline and tab too (`\n`, `\t`): for a field printed on one line, where a newline would
    /// fake a line of output.
    public static func oneLine(_ text: String) -> String {
        guard needsEscaping(text, keepLineBreaks: false) else { return text }
        return escape(text, keepLineBreaks: false)
    }

    static func needsEscaping(_ text: String, keepLineBreaks: Bool) -> Bool {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte < 0x20 && !(keepLineBreaks && (byte == 0x0A || byte == 0x09)) { return true }
            if byte == 0x7F { return true }
            // U+0080–U+009F are encoded C2 80 – C2 9F.
            if previous == 0xC2 && (0x80...0x9F).contains(byte) { return true }
            previous = byte
        }
        return false
    }

    static func escape(_ text: String, keepLineBreaks: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x0A where keepLineBreaks, 0x09 where keepLineBreaks: out.unicodeScalars.append(scalar)
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0x0D: out += "\\r"
            case 0x00..<0x20, 0x7F: out += "\\x" + hex(v, digits: 2)
            case 0x80...0x9F: out += "\\u" + hex(v, digits: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The first argument after the program name that is not valid UTF-8, described with its bad bytes shown as
    /// `\xNN` (and what to do), or nil when every one is.
    public static func invalidUTF8Argument(_ raw: [[UInt8]]) -> String? {
        for (i, bytes) in raw.enumerated().dropFirst() where String(validating: bytes, as: UTF8.self) == nil {
            return "argument \(i) (\(showingInvalidBytes(bytes))) is not valid UTF-8: text is stored as UTF-8, "
                + "so convert it first (e.g. with iconv -f latin1 -t utf-8); nothing was changed"
        }
        return nil
    }

    /// Bytes as text: valid UTF-8 as it is (escaped like `oneLine`), every byte that is not part of a valid
    /// sequence as `\xNN`.
    public static func showingInvalidBytes(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0x6 ? 2 : lead >> 4 == 0xE ? 3 : lead >> 3 == 0x1E ? 4 : 0
            if length > 0, i + length <= bytes.count,
                let text = String(validating: bytes[i..<(i + length)], as: UTF8.self)
            {
                out += oneLine(text)
                i += length
            } else {
                out += "\\x" + hex(UInt32(lead), digits: 2)
                i += 1
            }
        }
        return out
    }

    /// Decodes `bytes` as UTF-8, or describes where they are not (1-based line and byte offset, the bad bytes).
    public static func decodeUTF8(_ bytes: [UInt8]) -> Result<String, InvalidUTF8> {
        if let text = String(validating: bytes, as: UTF8.self) { return .success(text) }
        var line = 1
        var start = 0
        for (index, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if String(validating: raw, as: UTF8.self) == nil {
                line = index + 1
                start = raw.startIndex
                let shown = showingInvalidBytes(Array(raw.prefix(80)))
                return .failure(InvalidUTF8(line: line, offset: start, shown: shown))
            }
        }
        return .failure(InvalidUTF8(line: line, offset: start, shown: ""))
    }

    /// Where bytes are not UTF-8. `Sendable`: plain value.
    public struct InvalidUTF8: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var offset: Int
        public var shown: String
        public var description: String {
            "line \(line) (from byte \(offset)) is not valid UTF-8: \(shown); convert the file to UTF-8 first "
                + "(e.g. with iconv -f latin1 -t utf-8)"
        }
    }
}
