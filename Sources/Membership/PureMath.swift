/// The little math the membership core needs, without the platform's C library (the pure core touches no OS
/// module): the natural logarithm for Lifeguard's suspicion timeout, and the decimal digit count memberlist takes
/// as `ceil(log10(n))` for the retransmit limit.
enum PureMath {
    /// ln(2), to full double precision.
    static let ln2 = 0.693_147_180_559_945_309_417_232_121_458

    /// The natural logarithm of `x` (> 0; 0 or less gives -infinity, NaN stays NaN): `x = m × 2^e` with `m` in
    /// [1, 2), `ln x = e × ln 2 + 2 atanh((m − 1) / (m + 1))`, the series summed until it no longer changes
    /// (|z| ≤ 1/3, so about 20 terms); within a few ulp of the C library's `log`.
    static func log(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x <= 0 { return -.infinity }
        if x.isInfinite { return x }
        let m = x.significand
        let e = Double(x.exponent)
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while true {
            let next = sum + term / k
            if next == sum { break }
            sum = next
            term *= z2
            k += 2
        }
        return e * ln2 + 2 * sum
    }

    /// ln(10), to full double precision.
    static let ln10 = 2.302_585_092_994_045_684_017_991_454_684

    /// log₂ of `x` (> 0): `x = m × 2^e`, `e + ln m / ln 2`, so exact at powers of two (where `ceil` and `floor`
    /// of it matter).
    static func log2(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return log(x) }
        return Double(x.exponent) + log(x.significand) / ln2
    }

    /// log₁₀ of `x` (> 0): `x = r × 10^d` with `r` in [1, 10) for `x` ≥ 1, `d + ln r / ln 10`, so exact at powers of
    /// ten (where `floor` of it matters).
    static func log10(_ x: Double) -> Double {
        guard x >= 1, x.isFinite else { return log(x) / ln10 }
        var d = 0.0
        var power = 1.0
        while power * 10 <= x, d < 22 {
            power *= 10
            d += 1
        }
        return d + log(x / power) / ln10
    }

    /// `ceil(log10(n))` for `n` ≥ 1, exactly (the smallest `d` with `10^d ≥ n`); 0 for `n` ≤ 1.
    static func ceilLog10(_ n: Int) -> Int {
        var digits = 0
        var power = 1
        while power < n {
            if power > Int.max / 10 { return digits + 1 }
            power *= 10
            digits += 1
        }
        return digits
    }
}
