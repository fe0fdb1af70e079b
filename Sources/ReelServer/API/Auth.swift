import Crypto
import Foundation
import ReelCore
import ReelStore
import Synchronization
import Vapor

/// The caller of a request, once authenticated.
struct Caller: Sendable {
    var user: User
    /// The rate-limit bucket: the SHA-256 of the credential (API key or session token), never the secret itself.
    var bucket: String
    /// The session token when the caller came with the cookie.
    var sessionToken: String?
}

private struct CallerKey: StorageKey { typealias Value = Caller }

extension Request {
    /// The authenticated caller; routes behind `AuthMiddleware` always have one.
    var caller: Caller {
        get throws {
            guard let caller = storage[CallerKey.self] else { throw Problem.unauthorized }
            return caller
        }
    }
    var user: User { get throws { try caller.user } }
}

/// Name of the HttpOnly cookie `POST /api/session` sets.
let sessionCookieName = "reelsmith_session"

/// Finds the caller from `Authorization: Bearer KEY` or the session cookie, and applies the per-key rate limit.
/// Callers are remembered for a few seconds in `AuthCache` (by the SHA-256 of the credential), so most requests do not
/// pay a database round trip for authentication.
struct AuthMiddleware: AsyncMiddleware {
    let store: ServiceStore
    let limiter: RateLimiter
    let limits: ServiceLimits
    let cache: AuthCache

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let caller = try await authenticate(request)
        let perMinute = limits.requestsPerMinuteOverride ?? caller.user.requestsPerMinute
        if let wait = limiter.take(bucket: caller.bucket, perMinute: perMinute) {
            throw Problem(.tooManyRequests, "rate-limited",
                          "more than \(perMinute) requests per minute with this key; retry after \(wait) s",
                          headers: ["Retry-After": String(wait)])
        }
        request.storage[CallerKey.self] = caller
        return try await next.respond(to: request)
    }

    func authenticate(_ request: Request) async throws -> Caller {
        if let authorization = request.headers.first(name: .authorization) {
            // A header that is there but wrong is a failure even when a cookie is sent too: no silent fallback.
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw Problem.unauthorized }
            let key = parts[1].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.count <= 256 else { throw Problem.unauthorized }
            let digest = Self.digest(key)
            if let user = cache.user(digest: digest, kind: .apiKey) { return Caller(user: user, bucket: digest, sessionToken: nil) }
            let generation = cache.generation
            guard let user = try await store.authenticate(key: key) else { throw Problem.unauthorized }
            cache.insert(digest: digest, kind: .apiKey, user: user, validUntil: nil, ifGeneration: generation)
            return Caller(user: user, bucket: digest, sessionToken: nil)
        }
        if let token = request.cookies[sessionCookieName]?.string, !token.isEmpty, token.count <= 256 {
            let digest = Self.digest(token)
            if let user = cache.user(digest: digest, kind: .session) { return Caller(user: user, bucket: digest, sessionToken: token) }
            let generation = cache.generation
            if let session = try await store.session(token: token) {
                // Never past the session's own expiry, even within the cache's TTL.
                cache.insert(digest: digest, kind: .session, user: session.user, validUntil: session.expiresAt,
                             ifGeneration: generation)
                return Caller(user: session.user, bucket: digest, sessionToken: token)
            }
        }
        throw Problem.unauthorized
    }

    /// Lowercase hex SHA-256 of the secret: the same text the store keeps as the key's hash.
    static func digest(_ secret: String) -> String { ContentHash.sha256(text: secret) }
}

/// Recently authenticated callers, by the SHA-256 hex of their API key or session token (never the secret itself), for
/// `ttl` (5 s by default). Consistency:
/// - on THIS server, revoking or rotating a key, and signing out, drop the affected entries at once (the account
///   routes call `invalidate`), and a lookup that raced with such a change is not cached (the generation check);
/// - changes made elsewhere (another server process, `reelsmith users revoke/limits` on the command line) are seen
///   within `ttl`: until then a revoked key still works here, and a user's new limits apply once the entry expires.
/// Bounded to `capacity` entries: when full, expired entries go, and if none had, everything does.
final class AuthCache: Sendable {
    /// Which table the credential was found in: an API key sent as the session cookie (or the reverse) must not be
    /// accepted just because its digest is cached.
    enum Kind: Sendable { case apiKey, session }
    private struct Entry { var kind: Kind; var user: User; var expires: ContinuousClock.Instant }
    private struct State {
        var entries: [String: Entry] = [:]
        var ttl: Duration
        /// Bumped by every invalidation; a lookup started before one does not cache its (possibly stale) answer.
        var generation: UInt64 = 0
    }
    private let state: Mutex<State>
    private let capacity: Int

    init(ttl: Duration = .seconds(5), capacity: Int = 10_000) {
        state = Mutex(State(ttl: ttl))
        self.capacity = capacity
    }

    /// How long an entry lives; settable so tests need not wait 5 s. Zero turns the cache off.
    var ttl: Duration {
        get { state.withLock { $0.ttl } }
        set { state.withLock { $0.ttl = newValue; $0.entries = [:]; $0.generation &+= 1 } }
    }

    var generation: UInt64 { state.withLock { $0.generation } }

    var count: Int { state.withLock { $0.entries.count } }

    /// The cached user for the credential's digest, if its entry has not expired.
    func user(digest: String, kind: Kind) -> User? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let e = s.entries[digest], e.kind == kind else { return nil }
            guard now < e.expires else { s.entries[digest] = nil; return nil }
            return e.user
        }
    }

    /// Remembers the user for `ttl` (or until `validUntil`, when sooner), unless an invalidation happened since
    /// `generation` was read.
    func insert(digest: String, kind: Kind, user: User, validUntil: Date?, ifGeneration generation: UInt64) {
        let now = ContinuousClock.now
        state.withLock { s in
            guard s.generation == generation, s.ttl > .zero else { return }
            var lifetime = s.ttl
            if let validUntil {
                let left = validUntil.timeIntervalSinceNow
                guard left > 0 else { return }
                lifetime = min(lifetime, .seconds(left))
            }
            if s.entries.count >= capacity {
                s.entries = s.entries.filter { now < $0.value.expires }
                if s.entries.count >= capacity { s.entries = [:] }
            }
            s.entries[digest] = Entry(kind: kind, user: user, expires: now + lifetime)
        }
    }

    /// Forgets every credential of the user (a key revoked or rotated: which entry is that key's is not known here,
    /// and these are rare).
    func invalidate(userId: UUID) {
        state.withLock { s in
            s.generation &+= 1
            s.entries = s.entries.filter { $0.value.user.id != userId }
        }
    }

    /// Forgets one credential (a session signed out).
    func invalidate(digest: String) {
        state.withLock { s in
            s.generation &+= 1
            s.entries[digest] = nil
        }
    }
}

/// A token bucket per credential, in memory: each key may make `perMinute` requests a minute, in bursts up to that.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: ContinuousClock.Instant }
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    /// Takes one token; nil when allowed, else the seconds to wait (for `Retry-After`).
    func take(bucket key: String, perMinute: Int) -> Int? {
        guard perMinute > 0 else { return 60 }
        let capacity = Double(perMinute)
        let ratePerSecond = capacity / 60
        let now = clock.now
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * ratePerSecond)
            bucket.updated = now
            defer {
                buckets[key] = bucket
                // Forget idle keys now and then so the table does not grow without bound.
                if buckets.count > 10_000 { buckets = buckets.filter { $0.value.updated.duration(to: now) < .seconds(120) } }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / ratePerSecond).rounded(.up)))
        }
    }
}
