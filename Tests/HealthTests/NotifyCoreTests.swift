import Foundation
import Testing

@testable import Health

/// `NotifyCore` (pure): which events.jsonl events are notifications, which rules they match, and the escalations'
/// deduplication and rate limit applied per (rule, event key); notify.json parsing and its refusals.
@Suite("Notify core")
struct NotifyCoreTests {
    let done: [String: String] = [
        "type": "done", "rig": "demo", "polecat": "ace", "bead": "de-1", "merge_request": "de-mr-1", "ts": "t1",
    ]
    let dialog: [String: String] = [
        "type": "escalation", "cause": "dialog:demo/polecats/ace:de-1:e1", "category": "blocked",
        "agent": "demo/polecats/ace",
    ]

    @Test func eventsAreClassified() throws {
        #expect(NotifyEvent.classify(done)?.kind == .done)
        #expect(NotifyEvent.classify(done)?.agent == "demo/polecats/ace")
        #expect(NotifyEvent.classify(done)?.key == "de-1:de-mr-1")
        #expect(NotifyEvent.classify(dialog)?.kind == .needsInput)
        #expect(NotifyEvent.classify(dialog)?.rig == "demo")
        var crash = dialog
        crash["cause"] = "crash-loop:demo/polecats/ace:de-1:e1:work"
        #expect(NotifyEvent.classify(crash)?.kind == .escalation)
        #expect(
            NotifyEvent.classify(["type": "mq-merged", "merge_request": "de-mr-1", "rig": "demo"])?.kind == .merged)
        #expect(NotifyEvent.classify(["type": "convoy_landed", "convoy": "hq-cv-1"])?.key == "hq-cv-1")
        #expect(NotifyEvent.classify(["type": "sling", "bead": "de-1"]) == nil)
        // Its own events are never notifications (no loop).
        #expect(NotifyEvent.classify(["type": "notification", "kind": "done"]) == nil)
        #expect(NotifyEvent.classify(["type": "notify_run", "rule": "x"]) == nil)
    }

    @Test func rulesMatchKindRigAndAgent() throws {
        let event = try #require(NotifyEvent.classify(done))
        #expect(NotifyRule(name: "a", on: [.done], dashboard: true).matches(event))
        #expect(!NotifyRule(name: "a", on: [.merged], dashboard: true).matches(event))
        #expect(!NotifyRule(name: "a", on: [.done], rig: "other", dashboard: true).matches(event))
        #expect(NotifyRule(name: "a", on: [.done], agent: "demo/polecats/*", dashboard: true).matches(event))
        #expect(!NotifyRule(name: "a", on: [.done], agent: "demo/polecats/bo", dashboard: true).matches(event))
        let test = try #require(
            NotifyEvent.classify(["type": "notify_test", "rule": "a", "kind": "merged", "ts": "1"]))
        #expect(NotifyRule(name: "a", on: [.done], dashboard: true).matches(test))
        #expect(!NotifyRule(name: "b", on: [.merged], dashboard: true).matches(test))
    }

    @Test func aMatchingEventGivesEachActionOnceThenDuplicatesAreSuppressed() {
        var core = NotifyCore(
            settings: NotifySettings(rules: [
                NotifyRule(
                    name: "desk", on: [.done, .needsInput], run: ["notify-send", "gt"], mail: "overseer",
                    dashboard: true),
                NotifyRule(name: "other", on: [.merged], dashboard: true),
            ]))
        let first = core.onEvent(done, at: 100)
        #expect(first.count == 3)
        guard case .run(let rule, let argv, let event) = first[0] else {
            Issue.record("expected a run first: \(first)")
            return
        }
        #expect(rule == "desk" && argv == ["notify-send", "gt"] && event.kind == .done)
        #expect(first.contains(.mail(rule: "desk", to: "overseer", event: event)))
        #expect(first.contains(.dashboard(rule: "desk", event: event)))
        // The same event again within the window: counted, nothing sent.
        #expect(core.onEvent(done, at: 200) == [.suppressed(rule: "desk", event: event, count: 2)])
        // After the window it is sent again.
        #expect(core.onEvent(done, at: 100 + 3601).count == 3)
        // Another key is another notification.
        var second = done
        second["bead"] = "de-2"
        #expect(core.onEvent(second, at: 300).count == 3)
        // Records past their window are pruned (the book stays small); held ones are kept.
        _ = core.onTick(at: 100 + 3601 + 3601)
        #expect(core.book.records.isEmpty, "\(core.book.records.keys)")
        // Events no rule wants give nothing.
        #expect(core.onEvent(["type": "sling"], at: 300).isEmpty)
    }

    @Test func theRateLimitHoldsAndSendsLaterNeverDrops() {
        var settings = NotifySettings(rules: [NotifyRule(name: "d", on: [.done], dashboard: true)])
        settings.rateLimit = 2
        settings.rateWindow = 60
        var core = NotifyCore(settings: settings)
        func event(_ bead: String) -> [String: String] {
            var fields = done
            fields["bead"] = bead
            return fields
        }
        #expect(core.onEvent(event("a"), at: 0).count == 1)
        #expect(core.onEvent(event("b"), at: 1).count == 1)
        let third = core.onEvent(event("c"), at: 2)
        guard case .held(let rule, let held) = third.first, third.count == 1 else {
            Issue.record("expected held: \(third)")
            return
        }
        #expect(rule == "d" && held.fields["bead"] == "c")
        #expect(core.onTick(at: 30).isEmpty)
        let later = core.onTick(at: 61)
        #expect(later.count == 1)
        if case .dashboard(_, let event)? = later.first {
            #expect(event.fields["bead"] == "c")
        } else {
            Issue.record("expected the held one: \(later)")
        }
        #expect(core.onTick(at: 62).isEmpty)
    }

    @Test func theFileIsParsedAndBadFilesAreRefusedWithWhatToFix() throws {
        let good = Data(
            #"""
            {"dedup_window": 60, "rate_limit": 5, "command_timeout": 2,
             "rules": [{"name": "desk", "on": ["done", "convoy-landed"], "rig": "demo", "run": ["/bin/echo", "hi"]},
                       {"name": "inbox", "on": ["needs-input"], "mail": "overseer", "dashboard": true}]}
            """#.utf8)
        let settings = try NotifySettings.parse(good, file: "notify.json")
        #expect(settings.rules.count == 2 && settings.dedupWindow == 60 && settings.rateLimit == 5)
        #expect(settings.rules[0].on == [.done, .convoyLanded] && settings.rules[0].run == ["/bin/echo", "hi"])
        // What the writer writes reads back as the same settings.
        let written = try JSONSerialization.data(withJSONObject: settings.jsonObject)
        #expect(try NotifySettings.parse(written, file: "notify.json") == settings)

        let cases: [(String, String)] = [
            ("not json", "is not a JSON object"),
            (#"{"rulez": []}"#, #"unknown key "rulez""#),
            (#"{"rules": [{"name": "a", "on": ["finished"], "dashboard": true}]}"#, "unknown event 'finished'"),
            (#"{"rules": [{"name": "a", "on": ["done"]}]}"#, "does nothing"),
            (#"{"rules": [{"name": "a", "on": ["done"], "run": "notify-send"}]}"#, "must be an array of strings"),
            (
                #"{"rules": [{"name": "a", "on": ["done"], "dashboard": true}, {"name": "a", "on": ["done"], "dashboard": true}]}"#,
                "two rules are named 'a'"
            ),
            (#"{"rate_limit": -1}"#, "must be a number ≥ 0"),
            (#"{"rules": [{"name": "a b", "on": ["done"], "dashboard": true}]}"#, "must be 1–64 letters"),
        ]
        for (text, expected) in cases {
            #expect(throws: NotifyFileError.self) { try NotifySettings.parse(Data(text.utf8), file: "n.json") }
            do {
                _ = try NotifySettings.parse(Data(text.utf8), file: "n.json")
            } catch {
                #expect(error.description.hasPrefix("n.json: ") && error.description.contains(expected), "\(error)")
            }
        }
    }
}
