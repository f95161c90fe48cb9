import Foundation

/// Polls `condition` every `every` (20 ms) until it holds or `timeout` passes, then checks once more; returns
/// whether it held. The one copy every test target uses (a bound only for a failing test: a passing one returns
/// as soon as the condition holds).
public func eventually(
    timeout: Duration = .seconds(15), every: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: every)
    }
    return try await condition()
}

/// `eventually(timeout:)` with the bound in seconds.
public func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    try await eventually(timeout: .milliseconds(Int64(seconds * 1000)), condition)
}

/// `eventually` for a synchronous condition (one that reads a lock-guarded value), the bound in seconds.
public func eventually(_ seconds: Double = 15, sync condition: () throws -> Bool) async rethrows -> Bool {
    try await eventually(timeout: .milliseconds(Int64(seconds * 1000))) { try condition() }
}
