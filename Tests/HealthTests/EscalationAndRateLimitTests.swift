import Testing

@testable import Health

@Suite struct EscalationBookTests {
    func escalation(_ cause: String, _ category: EscalationCategory = .failed) -> Escalation {
        Escalation(cause: cause, category: category, polecat: "r/polecats/a", subject: cause, evidence: [])
    }

    @Test func twentyIdenticalFailuresYieldOneEscalation() {
        var book = EscalationBook()
        var sent = 0
        for index in 0..<20 {
            if case .send = book.raise(escalation("crash-loop:x"), at: Double(index)) { sent += 1 }
        }
        #expect(sent == 1)
        #expect(book.records["crash-loop:x"]?.count == 20)
    }

    @Test func aCauseIsSentAgainAfterTheDedupWindow() {
        var settings = HealthSettings()
        settings.escalationDedupWindow = 100
        var book = EscalationBook(settings: settings)
        #expect(book.raise(escalation("c"), at: 0) == .send(recipient: "mayor/"))
        #expect(book.raise(escalation("c"), at: 99) == .duplicate(count: 2))
        #expect(book.raise(escalation("c"), at: 100) == .send(recipient: "mayor/"))
    }

    @Test func resolvedCauseIsSentAgain() {
        var book = EscalationBook()
        _ = book.raise(escalation("c"), at: 0)
        book.resolve("c")
        #expect(book.raise(escalation("c"), at: 1) == .send(recipient: "mayor/"))
    }

    @Test func routedByCategory() {
        var settings = HealthSettings()
        settings.routes[.decision] = "overseer"
        settings.routes[.blocked] = "demo/witness"
        var book = EscalationBook(settings: settings)
        #expect(book.raise(escalation("a", .decision), at: 0) == .send(recipient: "overseer"))
        #expect(book.raise(escalation("b", .blocked), at: 0) == .send(recipient: "demo/witness"))
        #expect(book.raise(escalation("c", .lifecycle), at: 0) == .send(recipient: "mayor/"))
        #expect(book.raise(escalation("d", .failed), at: 0) == .send(recipient: "mayor/"))
    }

    @Test func rateLimitHoldsTheRestAndReleasesThemLater() {
        var settings = HealthSettings()
        settings.escalationRateLimit = 3
        settings.escalationRateWindow = 60
        var book = EscalationBook(settings: settings)
        var decisions: [EscalationBook.Decision] = []
        for index in 0..<10 { decisions.append(book.raise(escalation("cause-\(index)"), at: Double(index))) }
        #expect(decisions.filter { if case .send = $0 { true } else { false } }.count == 3)
        #expect(decisions.filter { $0 == .held }.count == 7)
        #expect(book.due(at: 30).isEmpty)
        let released = book.due(at: 61)
        #expect(released.count == 2)  // the sends at 0 and 1 have left the window by 61; the one at 2 has not
        #expect(book.due(at: 200).count == 3)
        #expect(book.due(at: 400).count == 2)
        #expect(book.due(at: 600).isEmpty)
        // Every cause was sent exactly once.
        #expect(book.all.allSatisfy { $0.sentAt != nil })
    }
}

@Suite struct RateLimitTests {
    let now: Double = 1_767_225_600  // 2026-01-01T00:00:00Z

    @Test func relativeResets() {
        #expect(RateLimitReset.parse("Try again in 30 minutes.", now: now, utcOffset: 0, fallback: 1) == now + 1800)
        #expect(RateLimitReset.parse("try again in 2 hours 5 minutes", now: now, utcOffset: 0, fallback: 1) == now + 7500)
        #expect(RateLimitReset.parse("resets in 1h 30m", now: now, utcOffset: 0, fallback: 1) == now + 5400)
        #expect(RateLimitReset.parse("retry in 45s", now: now, utcOffset: 0, fallback: 1) == now + 45)
    }

    @Test func unixBarForm() {
        #expect(RateLimitReset.parse("Claude AI usage limit reached|1767240000", now: now, utcOffset: 0, fallback: 1) == 1_767_240_000)
    }

    @Test func wallClockResets() {
        // 00:00 UTC now; "resets 3pm" is 15:00 the same day.
        #expect(RateLimitReset.parse("5-hour limit reached ∙ resets 3pm", now: now, utcOffset: 0, fallback: 1) == now + 15 * 3600)
        #expect(RateLimitReset.parse("limit will reset at 3:30 PM", now: now, utcOffset: 0, fallback: 1) == now + 15.5 * 3600)
        #expect(RateLimitReset.parse("resets 12am", now: now + 60, utcOffset: 0, fallback: 1) == now + 86400)
        // At UTC+2 it is 02:00 local; 3pm local is 13:00 UTC.
        #expect(RateLimitReset.parse("resets 3pm", now: now, utcOffset: 7200, fallback: 1) == now + 13 * 3600)
        #expect(RateLimitReset.parse("resets at 15:00", now: now, utcOffset: 0, fallback: 1) == now + 15 * 3600)
    }

    @Test func unreadableResetFallsBack() {
        #expect(RateLimitReset.parse("You've hit your usage limit.", now: now, utcOffset: 0, fallback: 3600) == now + 3600)
        #expect(RateLimitReset.parse("resets 13pm", now: now, utcOffset: 0, fallback: 10) == now + 10)
    }

    @Test func fuzzedTextNeverCrashesAndResetIsNeverInThePast() {
        var rng: UInt64 = 7
        let alphabet = Array("0123456789 :|apmhsresetin tryagain.,∙❯\u{0}é")
        for _ in 0..<5000 {
            var text = ""
            rng = rng &* 6_364_136_223_846_793_005 &+ 1
            let length = Int(rng >> 58)
            for _ in 0..<length {
                rng = rng &* 6_364_136_223_846_793_005 &+ 1
                text.append(alphabet[Int(rng >> 33) % alphabet.count])
            }
            let reset = RateLimitReset.parse(text, now: now, utcOffset: 0, fallback: 60)
            if !text.contains("|") { #expect(reset >= now) }
            _ = PaneReading.loop(in: PaneReading.lines(text), repeats: 3, maxPeriod: 5)
            _ = PaneReading.dialog(in: PaneReading.lines(text), patterns: .forRuntime("exec"), tail: 5)
        }
    }

    @Test func bookMarksExtendsAndExpires() {
        var book = RateLimitBook()
        let first = book.mark(account: "claude", until: 100, at: 0, polecat: "p", message: "m")
        let shorter = book.mark(account: "claude", until: 90, at: 1, polecat: "p", message: "m")
        let longer = book.mark(account: "claude", until: 200, at: 2, polecat: "p", message: "m")
        #expect(first && !shorter && longer)
        #expect(book.isLimited("claude", at: 150))
        #expect(!book.isLimited("codex", at: 150))
        #expect(book.active(at: 150).map(\.account) == ["claude"])
        book.expire(at: 200)
        #expect(book.active(at: 0).isEmpty)
    }
}
