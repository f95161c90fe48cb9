import Foundation
import GasTownTestKit
import Testing

@testable import Membership

/// The membership core's own logarithm (no C library in the pure core) against the platform's.
@Suite struct PureMathTests {
    @Test func naturalLogMatchesTheCLibraryWithinAFewUlp() {
        var rng = SplitMix64(seed: 0x106)
        var inputs: [Double] = [1, 2, 3, 10, 0.5, 1e-300, 1e300, 4, 5, 6, 7, 8, 9]
        for _ in 0..<2000 { inputs.append(Double.random(in: 1e-6...1e6, using: &rng)) }
        for x in inputs {
            let ours = PureMath.log(x)
            let theirs = Foundation.log(x)
            #expect(abs(ours - theirs) <= 4 * theirs.magnitude.ulp + 4 * Double.ulpOfOne, "log(\(x))")
        }
        #expect(PureMath.log(1) == 0)
        #expect(PureMath.log(0) == -.infinity)
        #expect(PureMath.log(-1) == -.infinity)
        #expect(PureMath.log(.nan).isNaN)
    }

    @Test func log2AndLog10AreExactAtPowersAndCloseElsewhere() {
        for e in 0..<60 { #expect(PureMath.log2(Double(1 << e)) == Double(e)) }
        var power = 1.0
        for d in 0..<20 {
            #expect(PureMath.log10(power) == Double(d))
            power *= 10
        }
        for n in 1...5000 {
            let x = Double(n)
            #expect(abs(PureMath.log2(x) - Foundation.log2(x)) <= 1e-14 * max(1, Foundation.log2(x)), "log2(\(n))")
            #expect(abs(PureMath.log10(x) - Foundation.log10(x)) <= 1e-14 * max(1, Foundation.log10(x)), "log10(\(n))")
        }
    }

    @Test func membershipScalingIsTheLibraryFormula() {
        let settings = Membership.Settings()
        for n in 1...2000 {
            let scale = max(1.0, Foundation.log10(Double(n)))
            let ms =
                Double(settings.suspicionMultiplier) * (scale * 1000).rounded(.down)
                * Double(settings.probeInterval.nanoseconds) / 1e9
            #expect(settings.minSuspicionTimeout(members: n) == .milliseconds(Int64(ms.rounded(.down))), "n=\(n)")
            let pushPull: Duration
            if n <= settings.pushPullScaleThreshold {
                pushPull = settings.pushPullInterval
            } else {
                let mult =
                    (Foundation.log2(Double(n)) - Foundation.log2(Double(settings.pushPullScaleThreshold))).rounded(.up)
                    + 1
                pushPull = settings.pushPullInterval * Int(mult)
            }
            #expect(settings.scaledPushPullInterval(members: n) == pushPull, "n=\(n)")
            #expect(
                settings.retransmitLimit(members: n)
                    == settings.retransmitMultiplier * Int(Foundation.log10(Double(n + 1)).rounded(.up)))
        }
    }

    @Test func ceilLog10IsExact() {
        for n in 0...100_000 {
            let expected = n <= 1 ? 0 : Int(Foundation.log10(Double(n)).rounded(.up))
            #expect(PureMath.ceilLog10(n) == expected, "ceilLog10(\(n))")
        }
        #expect(PureMath.ceilLog10(Int.max) == 19)
    }

    /// Lifeguard's formula with the C library's log (rounded as the core rounds it); log 3 / log 9 is 0.5, so
    /// c=2 of k=8 is exactly 17.5 s, not 17.499 s (what the bare series' ulp gave).
    @Test func suspicionTimeoutsAreTheLibraryFormula() {
        let settings = Membership.Settings()
        #expect(
            settings.suspicionTimeout(confirmations: 2, expected: 8, min: .seconds(5), max: .seconds(30))
                == .milliseconds(17_500))
        for k in 1...10 {
            for c in 0...k {
                let frac = (Foundation.log(Double(c) + 1) / Foundation.log(Double(k) + 1) * 1e12).rounded() / 1e12
                let raw = 30.0 - frac * (30.0 - 5.0)
                let expected = Duration.milliseconds(Int64((raw * 1000).rounded(.down)))
                #expect(
                    settings.suspicionTimeout(confirmations: c, expected: k, min: .seconds(5), max: .seconds(30))
                        == max(expected, .seconds(5)), "c=\(c) k=\(k)")
            }
        }
    }
}
