import Foundation
import MergeQueue
import Transport

/// A rig's merge-queue settings, the `merge_queue` object of `<town>/<rig>/config.json`:
///
/// ```json
/// "merge_queue": {"gate": "make test", "gate_timeout": 1800, "batch_size": 4, "speculation_depth": 1,
///                 "gate_concurrency": 1, "flaky_retries": 1}
/// ```
///
/// Every key is optional; an absent one takes its default. No `gate` (or an empty one): requests merge once they
/// rebase cleanly (`gt mq status` says so). Set with `gt rig add … --gate CMD` and `gt rig set <rig> <key> <value>`.
/// `Sendable`: a plain value.
public struct RigMergeQueueSettings: Codable, Sendable, Equatable {
    /// The gate command, run with `/bin/sh -c` in a scratch worktree of the candidate commit.
    public var gate: String?
    /// Seconds a gate run may take before it is killed (and counts as a failure). Default 1800.
    public var gateTimeout: Int?
    /// Most requests per batch. Default 4.
    public var batchSize: Int?
    /// Batches built behind the one being gated. Default 1.
    public var speculationDepth: Int?
    /// Gate runs at once. Default 1.
    public var gateConcurrency: Int?
    /// Runs of a failing input again before its request is sent back. Default 1.
    public var flakyRetries: Int?

    enum CodingKeys: String, CodingKey {
        case gate
        case gateTimeout = "gate_timeout"
        case batchSize = "batch_size"
        case speculationDepth = "speculation_depth"
        case gateConcurrency = "gate_concurrency"
        case flakyRetries = "flaky_retries"
    }

    public init() {}

    /// The default gate timeout, in seconds.
    public static let defaultGateTimeout = 1800

    /// The gate command, nil when none is configured (absent or blank).
    public var gateCommand: String? {
        guard let gate, !gate.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return gate
    }

    /// The gate timeout as a duration.
    public var timeout: Duration { .seconds(gateTimeout ?? RigMergeQueueSettings.defaultGateTimeout) }

    /// The core's settings these make.
    public var queueSettings: MergeQueue.Settings {
        var settings = MergeQueue.Settings()
        if let batchSize { settings.batchSize = batchSize }
        if let speculationDepth { settings.speculationDepth = speculationDepth }
        if let gateConcurrency { settings.gateConcurrency = gateConcurrency }
        if let flakyRetries { settings.flakyRetries = flakyRetries }
        settings.gateConfigured = gateCommand != nil
        return settings
    }

    /// The keys `gt rig set` takes (with `-` or `_`), each with what it holds.
    public static let keys: [(key: String, help: String)] = [
        ("gate", "the gate command ('' removes it: requests then merge after a clean rebase)"),
        ("gate_timeout", "seconds a gate run may take (default 1800)"),
        ("batch_size", "most requests per batch (default 4)"),
        ("speculation_depth", "batches built behind the one being gated (default 1)"),
        ("gate_concurrency", "gate runs at once (default 1)"),
        ("flaky_retries", "runs of a failing input again before rework (default 1)"),
    ]

    /// Sets one key from text (`gt rig set`); throws naming the key and what it takes.
    public mutating func set(_ rawKey: String, to value: String) throws(TownError) {
        let key = rawKey.replacingOccurrences(of: "-", with: "_")
        func number(_ range: ClosedRange<Int>) throws(TownError) -> Int {
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw .io(
                    "bad value '\(value)' for \(key): use a whole number from \(range.lowerBound) to "
                        + "\(range.upperBound) (nothing was changed)")
            }
            return number
        }
        switch key {
        case "gate": gate = value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : value
        case "gate_timeout": gateTimeout = try number(1...604_800)
        case "batch_size": batchSize = try number(1...64)
        case "speculation_depth": speculationDepth = try number(0...8)
        case "gate_concurrency": gateConcurrency = try number(1...16)
        case "flaky_retries": flakyRetries = try number(0...5)
        default:
            throw .io(
                "unknown rig setting '\(rawKey)': use one of "
                    + RigMergeQueueSettings.keys.map(\.key).joined(separator: ", ") + " (nothing was changed)")
        }
    }
}

extension TownWorkflow {
    /// `gt rig set <rig> <key> <value>`: changes one merge-queue setting in the rig's config.json (atomic replace,
    /// read and written under an exclusive lock on `<rig>/.config.json.lock` so concurrent sets keep each other's
    /// keys; a bad key or value changes nothing). Returns the new config.
    @discardableResult
    public func setRigSetting(rig name: String, key: String, value: String) throws(TownError) -> RigConfig {
        _ = try rig(name)
        let lock = layout.rigDirectory(name) + "/.config.json.lock"
        var result: Result<RigConfig, TownError> = .failure(.io("cannot lock \(lock)"))
        do {
            try FileLock.withLock(lock) { () throws(TransportError) in
                do throws(TownError) {
                    var config = try rig(name)
                    var settings = config.mergeQueue ?? RigMergeQueueSettings()
                    try settings.set(key, to: value)
                    config.mergeQueue = settings == RigMergeQueueSettings() ? nil : settings
                    try TownJSON.write(config, to: layout.rigConfig(name))
                    result = .success(config)
                } catch {
                    result = .failure(error)
                }
            }
        } catch {
            throw .io("cannot lock \(lock): \(error)")
        }
        let config = try result.get()
        events.record("rig-set", ["rig": name, "key": key.replacingOccurrences(of: "-", with: "_"), "value": value])
        return config
    }
}
