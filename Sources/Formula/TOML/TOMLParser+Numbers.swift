extension TOMLParser {
    /// An integer, float, or date/time at `pos`. The token runs over digits, letters, `_ . : + -` (and one space
    /// between a date and a time); then its shape says which type it is.
    mutating func parseNumberOrDate() throws(TOMLError) -> TOMLValue {
        let start = pos
        scanToken()
        // `1979-05-27 07:32:00`: a space may separate a full date from a time.
        if pos - start == 10, isFullDateShape(start), pos + 3 < end, bytes[pos] == Byte.space,
            Byte.isDigit(bytes[pos + 1]), Byte.isDigit(bytes[pos + 2]), bytes[pos + 3] == Byte.colon
        {
            pos += 1
            scanToken()
        }
        let stop = pos
        let length = stop - start
        if length >= 5, (0..<4).allSatisfy({ Byte.isDigit(bytes[start + $0]) }), bytes[start + 4] == Byte.minus {
            return .datetime(try parseDateTime(start, stop))
        }
        if length >= 3, Byte.isDigit(bytes[start]), Byte.isDigit(bytes[start + 1]), bytes[start + 2] == Byte.colon {
            var time = TOMLDateTime(kind: .localTime)
            let timeEnd = try parseTime(start, stop, into: &time)
            guard timeEnd == stop else {
                throw error(
                    "invalid local time: unexpected \(describe(at: timeEnd)) (a local time has no offset)",
                    atOffset: timeEnd)
            }
            return .datetime(time)
        }
        return try parseNumber(start, stop)
    }

    mutating func scanToken() {
        while pos < end {
            let c = bytes[pos]
            guard Byte.isBareKey(c) || c == Byte.dot || c == Byte.colon || c == Byte.plus else { return }
            pos += 1
        }
    }

    func isFullDateShape(_ s: Int) -> Bool {
        (0..<10).allSatisfy { i in i == 4 || i == 7 ? bytes[s + i] == Byte.minus : Byte.isDigit(bytes[s + i]) }
    }

    // MARK: Numbers

    func parseNumber(_ start: Int, _ stop: Int) throws(TOMLError) -> TOMLValue {
        func invalid(_ why: String) -> TOMLError {
            error("invalid number '\(text(start, stop))': \(why)", atOffset: start)
        }
        var i = start
        var negative = false
        let signed = bytes[i] == Byte.plus || bytes[i] == Byte.minus
        if signed {
            negative = bytes[i] == Byte.minus
            i += 1
        }
        let rest = text(i, stop)
        if rest == "inf" { return .float(negative ? -.infinity : .infinity) }
        if rest == "nan" { return .float(.nan) }
        guard i < stop else { throw invalid("a sign must be followed by digits") }
        if stop - i > 2, bytes[i] == Byte.zero,
            let radix = [UInt8(ascii: "x"): Int64(16), UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][bytes[i + 1]]
        {
            guard !signed else { throw invalid("hexadecimal, octal and binary integers cannot have a sign") }
            return .integer(try parseRadixInteger(i + 2, stop, radix: radix, invalid: invalid))
        }
        // Decimal integer part.
        let intStart = i
        i = try scanDigits(i, stop, invalid: invalid)
        let intDigits = digitCount(intStart, i)
        if intDigits > 1 && bytes[intStart] == Byte.zero {
            throw invalid("leading zeros are not allowed")
        }
        var isFloat = false
        if i < stop && bytes[i] == Byte.dot {
            isFloat = true
            i += 1
            guard i < stop, Byte.isDigit(bytes[i]) else { throw invalid("a '.' must be followed by digits") }
            i = try scanDigits(i, stop, invalid: invalid)
        }
        if i < stop && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            isFloat = true
            i += 1
            if i < stop && (bytes[i] == Byte.plus || bytes[i] == Byte.minus) { i += 1 }
            guard i < stop, Byte.isDigit(bytes[i]) else { throw invalid("an exponent needs digits") }
            i = try scanDigits(i, stop, invalid: invalid)
        }
        guard i == stop else { throw invalid("unexpected \(describe(at: i))") }
        if isFloat {
            var plain: [UInt8] = []
            plain.reserveCapacity(stop - start)
            for j in start..<stop where bytes[j] != Byte.underscore { plain.append(bytes[j]) }
            guard let value = Double(String(decoding: plain, as: UTF8.self)) else { throw invalid("not a float") }
            return .float(value)
        }
        var value: Int64 = 0
        for j in intStart..<stop where bytes[j] != Byte.underscore {
            let digit = Int64(bytes[j] - Byte.zero)
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { throw invalid("out of range for a 64-bit integer") }
            value = next
        }
        return .integer(value)
    }

    /// Digits with single underscores between them, from `i`; returns where they end.
    func scanDigits(_ from: Int, _ stop: Int, invalid: (String) -> TOMLError) throws(TOMLError) -> Int {
        var i = from
        guard i < stop, Byte.isDigit(bytes[i]) else { throw invalid("expected a digit") }
        while i < stop {
            let c = bytes[i]
            if Byte.isDigit(c) {
                i += 1
            } else if c == Byte.underscore {
                guard i + 1 < stop, Byte.isDigit(bytes[i + 1]) else {
                    throw invalid("an underscore must stand between two digits")
                }
                i += 1
            } else {
                break
            }
        }
        return i
    }

    func digitCount(_ from: Int, _ to: Int) -> Int {
        var n = 0
        for i in from..<to where bytes[i] != Byte.underscore { n += 1 }
        return n
    }

    func parseRadixInteger(
        _ from: Int, _ stop: Int, radix: Int64, invalid: (String) -> TOMLError
    ) throws(TOMLError) -> Int64 {
        var value: Int64 = 0
        var previousWasDigit = false
        for i in from..<stop {
            let c = bytes[i]
            if c == Byte.underscore {
                guard previousWasDigit, i + 1 < stop, bytes[i + 1] != Byte.underscore else {
                    throw invalid("an underscore must stand between two digits")
                }
                previousWasDigit = false
                continue
            }
            guard let digit = hexValue(c).map(Int64.init), digit < radix else {
                throw invalid("\(describe(at: i)) is not a base-\(radix) digit")
            }
            let (times, overflow1) = value.multipliedReportingOverflow(by: radix)
            let (next, overflow2) = times.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { throw invalid("out of range for a 64-bit integer") }
            value = next
            previousWasDigit = true
        }
        guard previousWasDigit else { throw invalid("expected digits after the prefix") }
        return value
    }

    // MARK: Dates and times

    /// `YYYY-MM-DD`, optionally followed by `T` (or `t`, or a space) and a time, optionally followed by `Z` or an
    /// offset.
    func parseDateTime(_ start: Int, _ stop: Int) throws(TOMLError) -> TOMLDateTime {
        guard stop - start >= 10, isFullDateShape(start) else {
            throw error("invalid date '\(text(start, stop))': expected YYYY-MM-DD", atOffset: start)
        }
        var value = TOMLDateTime(kind: .localDate)
        value.year = number(start, 4)
        value.month = number(start + 5, 2)
        value.day = number(start + 8, 2)
        guard (1...12).contains(value.month) else {
            throw error("invalid date: month \(value.month) is not 01-12", atOffset: start + 5)
        }
        guard (1...daysIn(month: value.month, year: value.year)).contains(value.day) else {
            throw error("invalid date: \(text(start, start + 10)) has no day \(value.day)", atOffset: start + 8)
        }
        var i = start + 10
        if i == stop { return value }
        let separator = bytes[i]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == Byte.space else {
            throw error(
                "invalid date: unexpected \(describe(at: i)) after the date (write 'T' before a time)",
                atOffset: i)
        }
        i += 1
        value.kind = .localDateTime
        i = try parseTime(i, stop, into: &value)
        if i == stop { return value }
        let c = bytes[i]
        if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
            value.kind = .offsetDateTime
            value.offsetMinutes = 0
            i += 1
        } else if c == Byte.plus || c == Byte.minus {
            guard stop - i == 6, Byte.isDigit(bytes[i + 1]), Byte.isDigit(bytes[i + 2]), bytes[i + 3] == Byte.colon,
                Byte.isDigit(bytes[i + 4]), Byte.isDigit(bytes[i + 5])
            else {
                throw error("invalid offset '\(text(i, stop))': expected +HH:MM or -HH:MM", atOffset: i)
            }
            let hours = number(i + 1, 2)
            let minutes = number(i + 4, 2)
            guard hours <= 23, minutes <= 59 else {
                throw error("invalid offset '\(text(i, stop))': hours must be 00-23 and minutes 00-59", atOffset: i)
            }
            value.kind = .offsetDateTime
            value.offsetMinutes = (c == Byte.minus ? -1 : 1) * (hours * 60 + minutes)
            i += 6
        }
        guard i == stop else {
            throw error("invalid date-time: unexpected \(describe(at: i))", atOffset: i)
        }
        return value
    }

    /// `HH:MM:SS` with an optional fraction, from `start`; returns where it ends.
    func parseTime(_ start: Int, _ stop: Int, into value: inout TOMLDateTime) throws(TOMLError) -> Int {
        let shape =
            stop - start >= 8 && Byte.isDigit(bytes[start]) && Byte.isDigit(bytes[start + 1])
            && bytes[start + 2] == Byte.colon && Byte.isDigit(bytes[start + 3]) && Byte.isDigit(bytes[start + 4])
            && bytes[start + 5] == Byte.colon && Byte.isDigit(bytes[start + 6]) && Byte.isDigit(bytes[start + 7])
        guard shape else {
            throw error(
                "invalid time '\(text(start, stop))': expected HH:MM:SS (seconds are required in TOML 1.0)",
                atOffset: start)
        }
        value.hour = number(start, 2)
        value.minute = number(start + 3, 2)
        value.second = number(start + 6, 2)
        guard value.hour <= 23, value.minute <= 59, value.second <= 60 else {
            throw error(
                "invalid time '\(text(start, start + 8))': hours 00-23, minutes 00-59, seconds 00-60",
                atOffset: start)
        }
        var i = start + 8
        if i < stop && bytes[i] == Byte.dot {
            i += 1
            let fractionStart = i
            var nanos = 0
            while i < stop && Byte.isDigit(bytes[i]) {
                if i - fractionStart < 9 { nanos = nanos * 10 + Int(bytes[i] - Byte.zero) }
                i += 1
            }
            guard i > fractionStart else {
                throw error("invalid time: a '.' must be followed by digits", atOffset: fractionStart)
            }
            for _ in min(9, i - fractionStart)..<9 { nanos *= 10 }
            value.nanosecond = nanos
        }
        return i
    }

    func number(_ from: Int, _ digits: Int) -> Int {
        var n = 0
        for i in from..<(from + digits) { n = n * 10 + Int(bytes[i] - Byte.zero) }
        return n
    }

    func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
