import Foundation

/// Polls `condition` every 50 ms until it holds or `seconds` pass; true when it held. For tests that wait on another
/// process or a background worker (never to assert a timing).
@discardableResult
public func waitUntil(seconds: Double = 120, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
