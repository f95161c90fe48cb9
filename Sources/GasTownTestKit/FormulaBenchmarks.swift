import Formula
import Foundation

/// Benchmarks of the `Formula` core, called by `gt-bench formula`: parsing and cooking Gas Town's generated
/// 10-disk Towers of Hanoi (149 KB, 1,025 steps), time and memory. Figures are measured, never asserted.
public enum FormulaBenchmarks {
    /// Median milliseconds (of `iterations`) for: TOML parse only, parse into the formula model, and the whole cook
    /// (load by name, resolve, proto, molecule plan); then, for one more cook, the growth of the peak resident set
    /// (`VmHWM`, reset first through /proc/self/clear_refs).
    public static func parseAndCookHanoi(disks: Int = 10, iterations: Int = 50) throws -> [String] {
        let text = HanoiFormula.text(disks: disks)
        let bytes = Array(text.utf8)
        let name = "towers-of-hanoi-\(disks)"
        let library = FormulaLibrary(source: InMemoryFormulaSource(texts: [name: text], location: "bench"))
        var steps = 0
        let parse = try median(iterations) { _ = try TOML.parse(bytes: bytes) }
        let model = try median(iterations) { steps = try FormulaParser.parse(bytes: bytes, file: name).steps.count }
        var beads = 0
        let cook = try median(iterations) { beads = try library.cook(name).beads.count }

        let resetPeak = resetPeakRSS()
        let rssBefore = statusKiB("VmRSS:")
        let plan = try library.cook(name)
        let peak = statusKiB("VmHWM:")
        withExtendedLifetime(plan) {}
        let mb = Double(bytes.count) / 1_000_000
        var lines = [
            String(
                format: "TOML parse of towers-of-hanoi-%d (%.0f KB, %d steps): %.2f ms median (%.0f MB/s)", disks,
                mb * 1000, steps, parse, mb / (parse / 1000)),
            String(format: "TOML parse + formula model: %.2f ms median", model),
            String(
                format: "cook (load, resolve, proto, plan of %d beads): %.2f ms median (n=%d)", beads, cook,
                iterations),
        ]
        if resetPeak {
            lines.append(String(format: "peak RSS growth during one cook: %.1f MiB", Double(peak - rssBefore) / 1024))
        }
        return lines
    }

    static func median(_ iterations: Int, _ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<iterations {
            var failure: (any Error)?
            let d = clock.measure {
                do { try body() } catch { failure = error }
            }
            if let failure { throw failure }
            samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// Resets the process's peak RSS (`VmHWM`) to its current RSS (Linux ≥ 4.0); false when refused.
    static func resetPeakRSS() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do {
            try handle.write(contentsOf: Data("5".utf8))
            return true
        } catch {
            return false
        }
    }

    /// A `kB` field of /proc/self/status.
    static func statusKiB(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0") ?? 0
    }
}
