extension TOMLParser {
    /// Checks the whole document is valid UTF-8 (no overlong forms, surrogates, or scalars above U+10FFFF), so the
    /// rest of the parser can turn byte ranges into strings without checks. The common all-ASCII stretch is a tight
    /// loop.
    func validateUTF8() throws(TOMLError) {
        var i = 0
        while i < end {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            let length: Int
            let minimum: UInt32
            var scalar: UInt32
            switch b0 {
            case 0xC2...0xDF:
                length = 2
                minimum = 0x80
                scalar = UInt32(b0 & 0x1F)
            case 0xE0...0xEF:
                length = 3
                minimum = 0x800
                scalar = UInt32(b0 & 0x0F)
            case 0xF0...0xF4:
                length = 4
                minimum = 0x1_0000
                scalar = UInt32(b0 & 0x07)
            default:
                throw invalidUTF8(at: i)
            }
            guard i + length <= end else { throw invalidUTF8(at: i) }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { throw invalidUTF8(at: i) }
                scalar = scalar << 6 | UInt32(b & 0x3F)
            }
            guard scalar >= minimum, scalar <= 0x10_FFFF, !(0xD800...0xDFFF).contains(scalar) else {
                throw invalidUTF8(at: i)
            }
            i += length
        }
    }

    func invalidUTF8(at offset: Int) -> TOMLError {
        // The parser has not moved yet, so count lines from the start.
        var line = 1
        var lineStart = 0
        for i in 0..<offset where bytes[i] == Byte.lf {
            line += 1
            lineStart = i + 1
        }
        var column = 1
        for i in lineStart..<offset where bytes[i] & 0xC0 != 0x80 { column += 1 }
        return TOMLError(
            "invalid UTF-8 (byte 0x\(hex(UInt32(bytes[offset]), width: 2))); a TOML document must be UTF-8",
            at: TOMLLocation(line: line, column: column))
    }
}
