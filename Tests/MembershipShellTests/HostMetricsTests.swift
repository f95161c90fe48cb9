import Foundation
import GasTownTestKit
import Node
import Testing

@Suite struct HostMetricsTests {
    @Test func parsesLoadAverage() {
        #expect(HostMetrics.parseLoadAverage("0.52 0.58 0.59 1/345 12345\n") == 0.52)
        #expect(HostMetrics.parseLoadAverage("12.00 1 1 1/1 1") == 12)
        #expect(HostMetrics.parseLoadAverage("") == nil)
        #expect(HostMetrics.parseLoadAverage("nan 1 1") == nil)
        #expect(HostMetrics.parseLoadAverage("-1 0 0") == nil)
    }

    @Test func parsesAvailableMemoryPreferringMemAvailable() {
        let text = "MemTotal:       8000000 kB\nMemFree:         100 kB\nMemAvailable:    2000 kB\n"
        #expect(HostMetrics.parseAvailableMemory(text) == 2000 * 1024)
        #expect(HostMetrics.parseAvailableMemory("MemFree: 3 kB\n") == 3 * 1024)
        #expect(HostMetrics.parseAvailableMemory("Nothing: here\n") == nil)
        #expect(HostMetrics.parseAvailableMemory("MemAvailable: 99999999999999999999 kB\n") == nil)
    }

    @Test func readsThisHost() {
        let metrics = HostMetrics.read()
        #expect(metrics.freeMemoryBytes > 0)
        #expect(metrics.loadAverage >= 0)
    }

    /// Seeded random and mutated procfs text must never crash the parsers.
    @Test func parsersSurviveRandomAndMutatedInput() {
        var rng = SplitMix64(seed: 0x5EED)
        let samples = [
            "0.52 0.58 0.59 1/345 12345\n", "MemTotal: 8 kB\nMemFree: 1 kB\nMemAvailable: 2 kB\n",
        ]
        for round in 0..<2000 {
            var bytes = Array(samples[round % 2].utf8)
            if round % 3 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0..<(1 + rng.next() % 4) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let load = HostMetrics.parseLoadAverage(text) { #expect(load >= 0 && load.isFinite) }
            _ = HostMetrics.parseAvailableMemory(text)
        }
    }
}

@Suite struct HostMetricsPublishingTests {
    @Test func onlyChangesBeyondTheThresholdsAreWorthGossiping() {
        let settings = MembershipShellSettings()
        let last = HostMetrics(loadAverage: 1.0, freeMemoryBytes: 1000)
        #expect(!HostMetrics(loadAverage: 1.4, freeMemoryBytes: 1000).differsEnough(from: last, settings: settings))
        #expect(HostMetrics(loadAverage: 1.5, freeMemoryBytes: 1000).differsEnough(from: last, settings: settings))
        #expect(HostMetrics(loadAverage: 0.5, freeMemoryBytes: 1000).differsEnough(from: last, settings: settings))
        // On a busy host the step is a fraction of the load: 8 → 9.5 is noise, 8 → 10 is news.
        let busy = HostMetrics(loadAverage: 8, freeMemoryBytes: 1000)
        #expect(!HostMetrics(loadAverage: 9.5, freeMemoryBytes: 1000).differsEnough(from: busy, settings: settings))
        #expect(HostMetrics(loadAverage: 10, freeMemoryBytes: 1000).differsEnough(from: busy, settings: settings))
        #expect(!HostMetrics(loadAverage: 1, freeMemoryBytes: 1100).differsEnough(from: last, settings: settings))
        #expect(HostMetrics(loadAverage: 1, freeMemoryBytes: 1101).differsEnough(from: last, settings: settings))
        #expect(HostMetrics(loadAverage: 1, freeMemoryBytes: 899).differsEnough(from: last, settings: settings))
    }
}
