import Foundation
import ReelCore

/// Token buckets that keep a client under a provider's request rates.
///
/// Replicate documents 600 creates a minute and 3000 other requests a minute; the defaults stay below both
/// (500 and 2500) with small bursts. Each request takes a token; when the bucket is empty the caller waits its turn
/// (tokens are reserved in arrival order, so waiters are served first come, first served). A caller cancelled while
/// waiting gives its token back and throws `CancellationError`.
public actor RateLimiter {
    public enum Kind: Sendable, Hashable { case create, other }

    public struct Rate: Sendable, Hashable {
        public var perMinute: Double
        public var burst: Double
        public init(perMinute: Double, burst: Double) { self.perMinute = max(0.001, perMinute); self.burst = max(1, burst) }
    }

    private struct Bucket {
        var rate: Rate
        var tokens: Double
        var updated: ContinuousClock.Instant
        mutating func refill(_ now: ContinuousClock.Instant) {
            tokens = min(rate.burst, tokens + (now - updated).seconds * rate.perMinute / 60)
            updated = now
        }
    }

    private var buckets: [Kind: Bucket]
    private let enabled: Bool

    public init(creates: Rate = Rate(perMinute: 500, burst: 10), others: Rate = Rate(perMinute: 2500, burst: 50)) {
        let now = ContinuousClock.now
        buckets = [.create: Bucket(rate: creates, tokens: creates.burst, updated: now),
                   .other: Bucket(rate: others, tokens: others.burst, updated: now)]
        enabled = true
    }

    private init(unlimited: Void) {
        buckets = [:]
        enabled = false
    }

    /// A limiter that never waits (tests, or a server with no documented limits).
    public static func unlimited() -> RateLimiter { RateLimiter(unlimited: ()) }

    /// Takes a token of `kind`, waiting until one is available.
    public func acquire(_ kind: Kind) async throws {
        try Task.checkCancellation()
        guard enabled, var bucket = buckets[kind] else { return }
        bucket.refill(.now)
        bucket.tokens -= 1
        buckets[kind] = bucket
        guard bucket.tokens < 0 else { return }
        // The deficit tells how long until this reservation is covered.
        let wait = -bucket.tokens * 60 / bucket.rate.perMinute
        do {
            try await Task.sleep(for: .seconds(wait))
        } catch {
            buckets[kind]?.tokens += 1
            throw error
        }
    }
}
