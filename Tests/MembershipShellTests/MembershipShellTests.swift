import Foundation
import GasTownTestKit
import Membership
import Node
import Testing
import Transport
import Wire

@Suite(.serialized) struct MembershipShellTests {
    @Test func fourNodesJoinThroughOneSeedAndConverge() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(4)
            for name in cluster.names {
                let traffic = cluster[name].shell.traffic
                #expect(traffic.messagesSent > 0 && traffic.messagesReceived > 0, "\(name) exchanged nothing")
                #expect(traffic.decodeErrors == 0)
            }
        }
    }

    @Test func aCrashedNodeIsMarkedFailedByEveryoneWithinTheBound() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(4)
            let bound = cluster.settings.detectionBound(members: 4)
            let start = Date()
            await cluster.crash("n2")
            let survivors = ["n0", "n1", "n3"]
            let detected = await eventually(bound) {
                for name in survivors where await cluster.status(of: "n2", seenBy: name) != .dead { return false }
                return true
            }
            #expect(detected, "not every survivor marked n2 failed within \(bound) s")
            #expect(Date().timeIntervalSince(start) <= bound)
            // The survivors stay (or, after a moment's suspicion on a loaded machine, are again) alive to each other.
            #expect(await eventually(5) { await cluster.allSeeAlive(Set(survivors)) })
        }
    }

    @Test func metadataChangesReachEveryone() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(3)
            try await cluster["n1"].shell.updateMetadata { metadata in
                metadata.freeSlots = 7
                metadata.runningAgents = 2
                metadata.labels.region = "eu-west"
                metadata.labels.custom["tier"] = "gold"
                metadata.rigs = ["gastown", "beads"]
                metadata.runtimes = ["claude", "exec"]
                metadata.softwareVersion = "9.9.9"
            }
            try await cluster["n1"].shell.setDraining(true)
            let seen = await eventually(5) {
                for observer in ["n0", "n2"] {
                    guard let md = await cluster[observer].shell.member(named: "n1")?.metadata,
                        md.freeSlots == 7, md.labels.region == "eu-west", md.labels.custom["tier"] == "gold",
                        md.rigs == ["gastown", "beads"], md.runtimes == ["claude", "exec"],
                        md.softwareVersion == "9.9.9", md.draining, md.runningAgents == 2
                    else { return false }
                }
                return true
            }
            #expect(seen, "n1's metadata did not reach every member")
        }
    }

    @Test func aGracefulLeaveIsSeenAsLeft() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(3)
            let events = await cluster["n0"].shell.events()
            let leaver = cluster["n2"]
            await leaver.leaveAndStop()
            #expect(await leaver.shell.phase == .left)
            let seen = await eventually(3) {
                let a = await cluster.status(of: "n2", seenBy: "n0")
                let b = await cluster.status(of: "n2", seenBy: "n1")
                return a == .left && b == .left
            }
            #expect(seen, "the leave was not seen as left by every member")
            // n0's event stream saw the snapshot and then n2 leaving.
            var sawLeft = false
            for await event in events {
                if case .changed(let member, let previous) = event, member.name == "n2", member.status == .left {
                    #expect(previous == .alive)
                    sawLeft = true
                    break
                }
            }
            #expect(sawLeft)
        }
    }

    @Test func aRestartedNodeRejoinsWithAHigherIncarnation() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(3)
            let oldAddress = cluster["n2"].address
            await cluster.crash("n2")
            let dead = await eventually(cluster.settings.detectionBound(members: 3)) {
                await cluster.status(of: "n2", seenBy: "n0") == .dead
            }
            try #require(dead)
            let oldIncarnation = try #require(await cluster["n0"].shell.member(named: "n2")?.incarnation)
            // A new life at incarnation 0 on another port: it refutes its own death with a higher incarnation.
            _ = oldAddress
            let seed = cluster["n0"].address.description
            try await cluster.start("n2", seeds: [seed])
            let back = await eventually(5) {
                for observer in ["n0", "n1"] {
                    guard let m = await cluster[observer].shell.member(named: "n2"), m.status == .alive,
                        m.incarnation > oldIncarnation
                    else { return false }
                }
                return true
            }
            #expect(back, "n2 did not rejoin alive with an incarnation above \(oldIncarnation)")
        }
    }

    /// n1 starts before its seed n0 serves membership; with a 30 s reconnect interval it would wait that long,
    /// but the shell asks the seeds again after 1 s, 2 s, 4 s… while it knows no one.
    @Test func aNodeStartedBeforeItsSeedJoinsSoonAfterTheSeedStarts() async throws {
        var settings = MembershipShellSettings.fastForTests
        settings.protocolSettings.reconnectInterval = .seconds(30)
        settings.protocolSettings.pushPullInterval = .seconds(30)
        try await LoopbackCluster.with(settings: settings) { cluster in
            let seed = try await cluster.listen("n0")
            try await cluster.start("n1", seeds: [seed.address.description])
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(await cluster["n1"].shell.members.count == 1, "n1 joined a seed that was not running")
            await seed.shell.start(seeds: [])
            let joined = await eventually(6) { await cluster.allSeeAlive(["n0", "n1"]) }
            #expect(joined, "n1 did not join within 6 s of its seed starting")
        }
    }

    @Test func eventsStartWithASnapshotThenReportFailures() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(3)
            let events = await cluster["n0"].shell.events()
            await cluster.crash("n1")
            let reader = Task { () -> (Set<String>, Bool) in
                var snapshot = Set<String>()
                for await event in events {
                    if case .changed(let member, let previous) = event {
                        if previous == nil { snapshot.insert(member.name) }
                        if member.name == "n1" && member.status == .dead { return (snapshot, true) }
                    }
                }
                return (snapshot, false)
            }
            let bound = cluster.settings.detectionBound(members: 3)
            let n0 = cluster["n0"].shell
            let timeout = Task {
                try await Task.sleep(nanoseconds: UInt64(bound * 1e9))
                await n0.stop()
            }
            let (snapshot, failed) = await reader.value
            timeout.cancel()
            #expect(snapshot == ["n0", "n1", "n2"])
            #expect(failed, "n0's event stream never reported n1 failed")
        }
    }

    @Test func aMessageClaimingAnotherSenderIsDropped() async throws {
        try await LoopbackCluster.with { cluster in
            try await cluster.startConverged(2)
            let forged = Membership.Message.gossip(
                from: Membership.Node(name: "n1", address: "127.0.0.1:1"),
                gossip: [.dead(name: "n1", incarnation: 99, from: "n1")])
            // Delivered as if it came over n0's own authenticated link, not n1's: dropped.
            await cluster["n0"].shell.receive(forged.encode(), from: try NodeName("mallory"))
            #expect(await cluster.status(of: "n1", seenBy: "n0") == .alive)
            // Garbage is counted, not fatal.
            await cluster["n0"].shell.receive([0xFF, 0x00, 0x01], from: try NodeName("n1"))
            #expect(cluster["n0"].shell.traffic.decodeErrors == 1)
        }
    }
}

@Suite(.serialized) struct MembershipBulkTrafficTests {
    /// n0 streams 4 MiB frames to n1 on their general link for a few seconds, faster than n1 handles them
    /// (300 ms each), so the general link backs up by seconds; the probes between them go on the dedicated
    /// membership link, so neither ever suspects the other. (Were probes queued behind the bulk frames, their
    /// acks would be seconds late and n0 would suspect n1.)
    @Test func aPeerBusyWithLargeFramesIsNeverSuspected() async throws {
        // Probe timeout 300 ms: CPU-heavy TLS on two cores must not be mistaken for a slow link, while a probe
        // queued behind seconds of bulk frames still would be.
        var settings = MembershipShellSettings.fastForTests
        settings.protocolSettings.probeInterval = .milliseconds(600)
        settings.protocolSettings.probeTimeout = .milliseconds(300)
        try await LoopbackCluster.with(settings: settings) { cluster in
            // Two members only: no third member could answer an indirect probe for a slow link.
            try await cluster.startConverged(2)
            let watched = [("n0", "n1"), ("n1", "n0")]
            var streams: [(String, String, AsyncStream<MembershipEvent>)] = []
            for (observer, subject) in watched {
                streams.append((observer, subject, await cluster[observer].shell.events()))
            }
            let watchers = streams.map { observer, subject, events in
                Task { () -> [String] in
                    var seen: [String] = []
                    for await event in events {
                        if case .changed(let member, _) = event, member.name == subject, member.status != .alive {
                            seen.append("\(observer) saw \(subject) \(member.status)")
                        }
                    }
                    return seen
                }
            }
            let manager = cluster["n0"].manager
            let peer = try NodeName("n1")
            await manager.addPeer(peer, at: cluster["n1"].address, purposes: [.general])
            let frame = [UInt8](repeating: 0xAB, count: 4 << 20)
            let deadline = Date().addingTimeInterval(4)
            var sent = 0
            while Date() < deadline {
                try await manager.send(LoopbackCluster.bulk, body: frame, to: peer)
                sent += 1
            }
            #expect(sent >= 4, "the bulk sender hardly sent anything")
            // Let any suspicion that started during the burst run out, then stop the shells to end the streams.
            try await Task.sleep(nanoseconds: 1_000_000_000)
            #expect(await cluster.status(of: "n1", seenBy: "n0") == .alive)
            #expect(await cluster.status(of: "n0", seenBy: "n1") == .alive)
            await cluster["n0"].shell.stop()
            await cluster["n1"].shell.stop()
            for watcher in watchers {
                let seen = await watcher.value
                #expect(seen.isEmpty, "\(seen)")
            }
        }
    }
}
