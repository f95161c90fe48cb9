import Testing

@testable import Health

/// The emergency stop's core: pauses while frozen, resumes (and forgets the health tracks) at a thaw, re-pauses on
/// a restarted node, resumes a node's sessions after a thaw it missed, and never runs the health rules frozen.
@Suite struct FreezeGateTests {
    @Test func neverFrozenDoesNothing() {
        var gate = FreezeGate()
        for _ in 0..<3 {
            let (directives, rules) = gate.onPatrol(frozen: false, version: 0, sessions: ["a", "b"])
            #expect(directives.isEmpty)
            #expect(rules)
        }
    }

    @Test func freezePausesEachSessionOnceAndThawResumesThem() {
        var gate = FreezeGate()
        #expect(gate.onPatrol(frozen: false, version: 0, sessions: ["b", "a"]).directives.isEmpty)
        let first = gate.onPatrol(frozen: true, version: 1, sessions: ["b", "a"])
        #expect(first.directives == [.pause("a"), .pause("b")])
        #expect(!first.healthRules)
        let again = gate.onPatrol(frozen: true, version: 1, sessions: ["a", "b"])
        #expect(again.directives.isEmpty && !again.healthRules)
        #expect(gate.paused == ["a", "b"])
        let thaw = gate.onPatrol(frozen: false, version: 2, sessions: ["a", "b"])
        #expect(thaw.directives == [.resume("a"), .resume("b"), .forget("a"), .forget("b")])
        #expect(thaw.healthRules)
        #expect(gate.paused.isEmpty && gate.appliedVersion == 2)
        #expect(gate.onPatrol(frozen: false, version: 2, sessions: ["a", "b"]).directives.isEmpty)
    }

    @Test func aSessionAppearingWhileFrozenIsPausedAndOneGoneIsDropped() {
        var gate = FreezeGate()
        _ = gate.onPatrol(frozen: true, version: 1, sessions: ["a"])
        let next = gate.onPatrol(frozen: true, version: 1, sessions: ["c"])
        #expect(next.directives == [.pause("c")])
        #expect(gate.paused == ["c"])
        let thaw = gate.onPatrol(frozen: false, version: 2, sessions: ["c"])
        #expect(thaw.directives == [.resume("c"), .forget("c")])
    }

    @Test func aRestartedNodeThatMissedTheThawResumesEverySession() {
        // The node was frozen (its sessions stopped), went down, and the thaw happened meanwhile.
        var gate = FreezeGate()
        let (directives, rules) = gate.onPatrol(frozen: false, version: 2, sessions: ["x", "y"])
        #expect(directives == [.resume("x"), .resume("y"), .forget("x"), .forget("y")])
        #expect(rules)
        #expect(gate.onPatrol(frozen: false, version: 2, sessions: ["x", "y"]).directives.isEmpty)
    }

    @Test func aRestartedNodeStillFrozenPausesEverySessionAgain() {
        var gate = FreezeGate()
        let (directives, rules) = gate.onPatrol(frozen: true, version: 5, sessions: ["x", "y"])
        #expect(directives == [.pause("x"), .pause("y")])
        #expect(!rules)
    }

    /// Seeded random sequences: the health rules run exactly when not frozen; after any thaw nothing stays paused;
    /// every session paused is resumed before the gate forgets it, unless it went away.
    @Test func randomSequencesKeepTheInvariants() {
        var seed: UInt64 = 0x5eed_f00d
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        for _ in 0..<200 {
            var gate = FreezeGate()
            var version = 0
            var frozen = false
            var stopped: Set<String> = []
            for _ in 0..<30 {
                if next() % 3 == 0 {
                    frozen.toggle()
                    version += 1
                }
                let sessions = ["a", "b", "c", "d"].filter { _ in next() % 4 != 0 }
                stopped.formIntersection(sessions)
                let (directives, rules) = gate.onPatrol(frozen: frozen, version: version, sessions: sessions)
                #expect(rules == !frozen)
                for directive in directives {
                    switch directive {
                    case .pause(let name): stopped.insert(name)
                    case .resume(let name): stopped.remove(name)
                    case .forget(let name): #expect(!stopped.contains(name))
                    }
                }
                if frozen { #expect(stopped == Set(sessions)) } else { #expect(stopped.isEmpty) }
            }
        }
    }
}
