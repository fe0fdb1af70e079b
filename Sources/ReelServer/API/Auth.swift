import Crypto
import Foundation
import ReelCore
import ReelStore
import Synchronization
import Vapor

/// The caller of a request, once authenticated.
struct Caller: Sendable {
    var user: User
    /// The API key the request came with, or the key that signed the session in.
    var keyId: UUID
    /// The session, when the caller came with the cookie.
    var session: SessionInfo?
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

    /// The client's address, for the per-address limits: the peer's IP address, or with `trustForwardedFor` the last
    /// entry of `X-Forwarded-For` (the one the proxy in front of us wrote; earlier entries are the client's to forge).
    /// IPv6 addresses count by their /64 network: one host usually holds a whole /64 and could rotate through it.
    func clientAddress(trustForwardedFor: Bool) -> String {
        if trustForwardedFor, let forwarded = headers[.xForwardedFor].last,
           let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty, last.count <= 64 {
            return Self.addressBucket(last)
        }
        return Self.addressBucket(remoteAddress?.ipAddress ?? "unknown")
    }

    /// An IPv6 address's /64 network (`2001:db8:1:2::/64`); anything else as it is.
    static func addressBucket(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        let octets = withUnsafeBytes(of: &bytes) { Array($0) }
        // An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is one host: keep it whole.
        if octets[0..<10].allSatisfy({ $0 == 0 }) && octets[10] == 0xff && octets[11] == 0xff { return address }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(octets[$0]) << 8 | UInt16(octets[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}

/// Name of the HttpOnly cookie `POST /api/session` sets.
let sessionCookieName = "reelsmith_session"

/// Finds the caller from `Authorization: Bearer KEY` or the session cookie, and applies the per-user rate limit (all of
/// a user's keys and sessions share one budget). Callers are remembered for a few seconds in `AuthCache` (by the
/// SHA-256 of the credential), so most requests do not pay a database round trip for authentication. A credential that
/// is not in the cache is looked up only while the client's address has failed-authentication budget left
/// (`AddressThrottle`).
struct AuthMiddleware: AsyncMiddleware {
    let store: ServiceStore
    let limiter: RateLimiter
    let limits: ServiceLimits
    let cache: AuthCache

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let caller = try await authenticate(request)
        let perMinute = limits.requestsPerMinuteOverride ?? caller.user.requestsPerMinute
        if let wait = limiter.take(bucket: "user:" + caller.user.id.uuidString, perMinute: perMinute) {
            throw Problem(.tooManyRequests, "rate-limited",
                          "more than \(perMinute) requests per minute for this user (all of its keys and sessions together); retry after \(wait) s",
                          headers: ["Retry-After": String(wait)])
        }
        request.storage[CallerKey.self] = caller
        return try await next.respond(to: request)
    }

    func authenticate(_ request: Request) async throws -> Caller {
        let throttle = AddressThrottle(limiter: limiter, limits: limits,
                                       address: request.clientAddress(trustForwardedFor: limits.trustForwardedFor))
        if let authorization = request.headers.first(name: .authorization) {
            // A header that is there but wrong is a failure even when a cookie is sent too: no silent fallback.
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw throttle.failed() }
            let key = parts[1].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.count <= 256 else { throw throttle.failed() }
            let digest = Self.digest(key)
            if let caller = cache.caller(digest: digest, kind: .apiKey) { return caller }
            try throttle.check()
            let generation = cache.generation
            guard let (user, keyId) = try await store.authenticateKey(key) else { throw throttle.failed() }
            let caller = Caller(user: user, keyId: keyId, session: nil)
            cache.insert(digest: digest, kind: .apiKey, caller: caller, validUntil: nil, ifGeneration: generation)
            return caller
        }
        if let token = request.cookies[sessionCookieName]?.string {
            guard !token.isEmpty, token.count <= 256 else { throw throttle.failed() }
            let digest = Self.digest(token)
            if let caller = cache.caller(digest: digest, kind: .session) { return caller }
            try throttle.check()
            let generation = cache.generation
            guard let (user, session) = try await store.session(token: token) else { throw throttle.failed() }
            let caller = Caller(user: user, keyId: session.keyId, session: session)
            // Never past the session's own expiry, even within the cache's TTL.
            cache.insert(digest: digest, kind: .session, caller: caller, validUntil: session.expiresAt, ifGeneration: generation)
            return caller
        }
        throw Problem.unauthorized
    }

    /// Lowercase hex SHA-256 of the secret: the same text the store keeps as the key's hash.
    static func digest(_ secret: String) -> String { ContentHash.sha256(text: secret) }
}

/// The per-client-address limits on trying credentials: failed authentications (any route) and sign-ins.
struct AddressThrottle {
    let limiter: RateLimiter
    let limits: ServiceLimits
    let address: String

    /// Throws 429 while the address has used up its failed-authentication budget: its credentials are then not looked
    /// up at all, so guessing costs the guesser time, not us database reads.
    func check() throws {
        if let wait = limiter.peek(bucket: "auth-failed:" + address, perMinute: limits.failedAuthenticationsPerMinute) {
            throw Problem(.tooManyRequests, "too-many-failed-authentications",
                          "too many failed authentications from this address; retry after \(wait) s",
                          headers: ["Retry-After": String(wait)])
        }
    }

    /// Counts a failed authentication of the address; answers the 401 to throw.
    func failed() -> Problem {
        _ = limiter.take(bucket: "auth-failed:" + address, perMinute: limits.failedAuthenticationsPerMinute)
        return Problem.unauthorized
    }

    /// Counts a sign-in attempt of the address; throws 429 beyond `signInsPerMinute`.
    func signIn() throws {
        if let wait = limiter.take(bucket: "sign-in:" + address, perMinute: limits.signInsPerMinute) {
            throw Problem(.tooManyRequests, "too-many-sign-ins",
                          "more than \(limits.signInsPerMinute) sign-ins per minute from this address; retry after \(wait) s",
                          headers: ["Retry-After": String(wait)])
        }
    }
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
    private struct Entry { var kind: Kind; var caller: Caller; var expires: ContinuousClock.Instant }
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

    /// The cached caller for the credential's digest, if its entry has not expired.
    func caller(digest: String, kind: Kind) -> Caller? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let e = s.entries[digest], e.kind == kind else { return nil }
            guard now < e.expires else { s.entries[digest] = nil; return nil }
            return e.caller
        }
    }

    /// The cached caller's user.
    func user(digest: String, kind: Kind) -> User? { caller(digest: digest, kind: kind)?.user }

    /// Remembers the caller for `ttl` (or until `validUntil`, when sooner), unless an invalidation happened since
    /// `generation` was read.
    func insert(digest: String, kind: Kind, caller: Caller, validUntil: Date?, ifGeneration generation: UInt64) {
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
            s.entries[digest] = Entry(kind: kind, caller: caller, expires: now + lifetime)
        }
    }

    /// Forgets every credential of the user (a key revoked or rotated, a session ended by id: these are rare, so
    /// dropping the user's other entries too costs little).
    func invalidate(userId: UUID) {
        state.withLock { s in
            s.generation &+= 1
            s.entries = s.entries.filter { $0.value.caller.user.id != userId }
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

/// Token buckets by name, in memory: each bucket (a user, a client address for sign-ins or failed authentications)
/// may take `perMinute` tokens a minute, in bursts up to that.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: ContinuousClock.Instant }
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()
    /// A time that stands still instead of the clock's: tests pin it, so that a slow machine cannot refill a bucket
    /// between two requests of one test.
    private let pinned = Mutex<ContinuousClock.Instant?>(nil)

    /// Reads `instant` as the time from now on (nil: the clock again).
    func pinTime(at instant: ContinuousClock.Instant?) { pinned.withLock { $0 = instant } }

    /// Takes one token; nil when allowed, else the seconds to wait (for `Retry-After`).
    func take(bucket key: String, perMinute: Int) -> Int? { refill(key, perMinute: perMinute, take: true) }

    /// Like `take`, without taking: nil while the bucket has a token left.
    func peek(bucket key: String, perMinute: Int) -> Int? { refill(key, perMinute: perMinute, take: false) }

    private func refill(_ key: String, perMinute: Int, take: Bool) -> Int? {
        guard perMinute > 0 else { return 60 }
        let capacity = Double(perMinute)
        let ratePerSecond = capacity / 60
        let now = pinned.withLock { $0 } ?? clock.now
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
                if take { bucket.tokens -= 1 }
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / ratePerSecond).rounded(.up)))
        }
    }
}
