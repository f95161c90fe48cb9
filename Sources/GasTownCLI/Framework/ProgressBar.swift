import Foundation
import Git

/// One progress bar's line, and when to draw it again: a pure value (no I/O, no clock: the caller passes the
/// time). `TerminalProgressBar` draws it on stderr, only when stderr is a terminal.
///
/// `label [██████████░░░░░░░░░░░░░░]  42%  1234/2938 objects, 3.1 MiB`
///
/// `Sendable`: a plain value.
public struct ProgressBar: Sendable, Equatable {
    /// What is going on (`cloning webapp`).
    public var label: String
    /// Cells of the bar.
    public var width: Int
    /// Least time between two redraws, in milliseconds (the last state is always drawn).
    public var intervalMilliseconds: Int
    /// When the line was last drawn (milliseconds on the caller's clock), and what it was.
    public private(set) var lastDrawn: (at: Int, line: String)?

    public init(label: String, width: Int = 24, intervalMilliseconds: Int = 100) {
        self.label = label
        self.width = max(1, width)
        self.intervalMilliseconds = intervalMilliseconds
    }

    public static func == (a: ProgressBar, b: ProgressBar) -> Bool {
        a.label == b.label && a.width == b.width && a.intervalMilliseconds == b.intervalMilliseconds
            && a.lastDrawn?.at == b.lastDrawn?.at && a.lastDrawn?.line == b.lastDrawn?.line
    }

    /// The line for `done` of `total` things (`unit`), with an optional `detail` after it. A `total` of 0 or less
    /// (not known yet) shows the count alone; `done` is clamped to 0…total.
    public func line(done: Int, total: Int, unit: String, detail: String = "") -> String {
        let suffix = detail.isEmpty ? "" : ", \(detail)"
        guard total > 0 else { return "\(label)  \(max(0, done)) \(unit)\(suffix)" }
        let done = min(max(0, done), total)
        let filled = done * width / total
        let percent = done * 100 / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let pad = String(repeating: " ", count: max(0, 3 - String(percent).count))
        return "\(label) [\(bar)] \(pad)\(percent)%  \(done)/\(total) \(unit)\(suffix)"
    }

    /// The line to draw now (`now`: milliseconds on the caller's clock), or nil when it would be the same as the
    /// last one or come sooner than `intervalMilliseconds` after it. `final` (the work is done) always draws a
    /// changed line, whatever the time.
    public mutating func draw(
        done: Int, total: Int, unit: String, detail: String = "", now: Int, final: Bool = false
    ) -> String? {
        let text = line(done: done, total: total, unit: unit, detail: detail)
        if let last = lastDrawn {
            if last.line == text { return nil }
            if !final && now - last.at < intervalMilliseconds { return nil }
        }
        lastDrawn = (now, text)
        return text
    }

    /// Bytes as people read them: `512 B`, `3.1 KiB`, `12.0 MiB`, `1.2 GiB`.
    public static func bytes(_ count: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        guard count >= 1024 else { return "\(max(0, count)) B" }
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: "%.1f %@", value, units[unit])
    }

    /// Whether a bar is shown at all: only on a terminal, and never with `--json` (CI and pipes get none).
    public static func enabled(stderrIsTerminal: Bool, jsonMode: Bool) -> Bool { stderrIsTerminal && !jsonMode }
}

/// A `ProgressBar` drawn in place on stderr (`\r`, the line, erase to its end), for a git transfer: objects
/// received, then deltas resolved. Made only when `ProgressBar.enabled` says so (`make(label:console:)`); `finish`
/// ends the line. Called from a git thread: its state is behind a lock.
///
/// `Sendable`: its mutable state is guarded by `lock`.
public final class TerminalProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var bar: ProgressBar
    private var drawn = false
    private let sink: any OutputSink
    private let start = ContinuousClock.now

    init(label: String, sink: any OutputSink) {
        bar = ProgressBar(label: label)
        self.sink = sink
    }

    /// A bar on the console's stderr when it is a terminal and not in `--json` mode; otherwise nil.
    public static func make(label: String, console: Console) -> TerminalProgressBar? {
        let terminal = (console.stderr as? FileDescriptorSink).map { isatty($0.descriptor) != 0 } ?? false
        guard ProgressBar.enabled(stderrIsTerminal: terminal, jsonMode: console.jsonMode) else { return nil }
        return TerminalProgressBar(label: TerminalText.escaped(label), sink: console.stderr)
    }

    /// Draws `done` of `total` if it is time to.
    public func update(done: Int, total: Int, unit: String, detail: String = "", final: Bool = false) {
        let elapsed = ContinuousClock.now - start
        let now = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        lock.withLock {
            guard let text = bar.draw(done: done, total: total, unit: unit, detail: detail, now: now, final: final)
            else { return }
            drawn = true
            sink.write("\r" + text + "\u{1B}[K")
        }
    }

    /// Ends the bar's line (if anything was drawn), so what follows starts on a line of its own.
    public func finish() {
        lock.withLock {
            if drawn { sink.write("\n") }
            drawn = false
        }
    }
}

/// The bars of one command's git transfers (`gt rig add`: the bare clone, then the Refinery's copy), one after
/// another: a new one ends the line of the one before. None at all off a terminal or with `--json`.
///
/// `Sendable`: its mutable state is guarded by `lock`.
public final class TransferProgressBars: @unchecked Sendable {
    private let lock = NSLock()
    private let console: Console
    private var current: TerminalProgressBar?

    public init(console: Console) { self.console = console }

    /// An observer drawing the transfer called `label`, or nil when no bar is shown.
    public func observer(_ label: String) -> GitTransferObserver? {
        guard let bar = TerminalProgressBar.make(label: label, console: console) else { return nil }
        lock.withLock {
            current?.finish()
            current = bar
        }
        return GitTransferObserver { progress in
            // Objects first (with the bytes received), then the deltas resolved from them.
            if progress.totalDeltas == 0 || progress.receivedObjects < progress.totalObjects {
                bar.update(
                    done: progress.receivedObjects, total: progress.totalObjects, unit: "objects",
                    detail: ProgressBar.bytes(progress.receivedBytes),
                    final: progress.totalDeltas == 0 && progress.receivedObjects == progress.totalObjects)
            } else {
                bar.update(
                    done: progress.indexedDeltas, total: progress.totalDeltas, unit: "deltas",
                    final: progress.indexedDeltas == progress.totalDeltas)
            }
        }
    }

    /// Ends the last bar's line.
    public func finish() {
        lock.withLock {
            current?.finish()
            current = nil
        }
    }
}
