import Beads

/// Benchmarks of the `Beads` core, called by `gt-bench`. Each returns a `BeadsBenchmarkResult` with the
/// median time per operation; none asserts a time. Not `Sendable`-relevant: free functions over local state.
public enum BeadsBenchmarks {
    /// `ready` on the 10,000-bead fixture (`BeadsFixtures.ledger()`), hybrid sort. Goal ≤ 5 ms.
    public static func ready10k(iterations: Int = 200) -> BeadsBenchmarkResult {
        let ledger = BeadsFixtures.ledger()
        var found = 0
        let result = measure("beads.ready10k", iterations: iterations) {
            found = ledger.ready(now: BeadsFixtures.now).count
        }
        return result.with(note: "\(found) ready of \(ledger.count)")
    }

    /// `prepareCreate` + `apply` of one bead (with a blocks edge) into the 10,000-bead fixture, no I/O.
    /// Goal ≤ 1 ms.
    public static func createInCore(iterations: Int = 1_000) -> BeadsBenchmarkResult {
        var ledger = BeadsFixtures.ledger()
        let target = ledger.ready(now: BeadsFixtures.now).first?.id
        var clock = HybridLogicalClock(node: "bench")
        var n = 0
        return measure("beads.createInCore", iterations: iterations) {
            n += 1
            let time = Timestamp(unixMillis: BeadsFixtures.now.unixMillis + Int64(n))
            var spec = NewBead(title: "Bench bead \(n)")
            if let target { spec.dependencies = [DependencyKey(dependsOnID: target, type: .blocks)] }
            do {
                let stamp = try clock.tick(wallMillis: time.unixMillis)
                let op = try ledger.prepareCreate(spec, actor: "bench", stamp: stamp, time: time)
                try ledger.apply(op)
            } catch {
                preconditionFailure("benchmark create failed: \(error)")
            }
        }
    }

    /// Decoding 10,000 JSONL lines and building the ledger (indexes and blocked set included).
    public static func import10k(iterations: Int = 5) -> BeadsBenchmarkResult {
        let text = BeadsFixtures.ledger().exportJSONL()
        return measure("beads.import10k", iterations: iterations) {
            do {
                let beads = try BeadCodec.decodeJSONL(text)
                _ = try Ledger(prefix: "bd", beads: beads)
            } catch {
                preconditionFailure("benchmark import failed: \(error)")
            }
        }
    }

    /// Encoding the 10,000-bead fixture as sorted beads JSONL.
    public static func export10k(iterations: Int = 5) -> BeadsBenchmarkResult {
        let ledger = BeadsFixtures.ledger()
        return measure("beads.export10k", iterations: iterations) { _ = ledger.exportJSONL() }
    }

    /// Every benchmark above.
    public static func all() -> [BeadsBenchmarkResult] { [ready10k(), createInCore(), import10k(), export10k()] }

    static func measure(_ name: String, iterations: Int, _ body: () -> Void) -> BeadsBenchmarkResult {
        let clock = ContinuousClock()
        var samples: [Duration] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations { samples.append(clock.measure(body)) }
        samples.sort()
        let median = samples[samples.count / 2]
        return BeadsBenchmarkResult(
            name: name, iterations: iterations, medianMillis: millis(median), minMillis: millis(samples[0]),
            maxMillis: millis(samples[samples.count - 1]), note: "")
    }

    static func millis(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

/// One benchmark's timings in milliseconds. `Sendable`: plain value.
public struct BeadsBenchmarkResult: Sendable, CustomStringConvertible {
    public var name: String
    public var iterations: Int
    public var medianMillis: Double
    public var minMillis: Double
    public var maxMillis: Double
    public var note: String

    func with(note: String) -> BeadsBenchmarkResult {
        var copy = self
        copy.note = note
        return copy
    }

    public var description: String {
        func f(_ v: Double) -> String { String(Double(Int(v * 1000)) / 1000) }
        return "\(name): median \(f(medianMillis)) ms (min \(f(minMillis)), max \(f(maxMillis)), n=\(iterations))"
            + (note.isEmpty ? "" : " \(note)")
    }
}
