import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// The in-memory authentication cache: changes through this server's API apply at once, changes made elsewhere
/// within the cache's lifetime, and the cache is bounded and keyed by digests only.
@Suite struct APIAuthCacheTests {
    static func cache(_ server: APITestServer) throws -> AuthCache {
        try #require(server.app.storage[APIRuntimeKey.self]).authCache
    }

    @Test func revokedAndRotatedKeysStopAtOnceOnThisServer() async throws {
        try await withAPIServer { server in
            let cache = try Self.cache(server)
            // Entries must outlive the test on a loaded machine: what is checked is invalidation, not expiry.
            cache.ttl = .seconds(3600)
            let (_, key) = try await server.user()
            let second = try await server.send(.POST, "/api/keys", key: key)
            let secondKey = try #require(second.json["key"]?.stringValue)
            let secondId = try #require(second.json["id"]?.stringValue)
            let third = try await server.send(.POST, "/api/keys", key: key)
            let thirdKey = try #require(third.json["key"]?.stringValue)
            let thirdId = try #require(third.json["id"]?.stringValue)
            // Warm the cache for every key.
            for k in [key, secondKey, thirdKey] { #expect(try await server.send(.GET, "/api/projects", key: k).status == 200) }
            #expect(cache.user(digest: AuthMiddleware.digest(secondKey), kind: .apiKey) != nil)

            // A cached key sent as the session cookie is still not a session.
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", "reelsmith_session=\(secondKey)")]).isProblem(401))

            // Revoke the second key using the first: the cached second key fails on its very next request.
            #expect(try await server.send(.DELETE, "/api/keys/\(secondId)", key: key).status == 204)
            #expect(try await server.send(.GET, "/api/projects", key: secondKey).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)

            // Rotate the third: the old one fails at once, the new one works.
            let rotated = try await server.send(.POST, "/api/keys/\(thirdId)/rotate", key: key)
            #expect(rotated.status == 201)
            let newKey = try #require(rotated.json["key"]?.stringValue)
            #expect(try await server.send(.GET, "/api/projects", key: thirdKey).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", key: newKey).status == 200)
        }
    }

    @Test func signedOutSessionStopsAtOnce() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let signIn = try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#)
            #expect(signIn.status == 201)
            let setCookie = try #require(signIn.headers.first(name: "Set-Cookie"))
            let cookie = String(setCookie.split(separator: ";")[0])
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).status == 200)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).status == 200)
            #expect(try await server.send(.DELETE, "/api/session", headers: [("Cookie", cookie)]).status == 204)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).isProblem(401))
        }
    }

    @Test func changesMadeElsewhereApplyWithinTheTTL() async throws {
        try await withAPIServer(limits: ServiceLimits()) { server in
            let cache = try Self.cache(server)
            cache.ttl = .milliseconds(300)
            let (user, key) = try await server.user()
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: nil, requestsPerMinute: 1000)
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            // Another process lowers the limit (the store directly, not this server's API): applies once the entry expires.
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: nil, requestsPerMinute: 2)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            #expect(try await server.send(.GET, "/api/projects", key: key).isProblem(429))

            // Another process revokes the key: it stops working within the TTL.
            let (other, otherKey) = try await server.user()
            #expect(try await server.send(.GET, "/api/projects", key: otherKey).status == 200)
            let keyId = try #require(try await server.store.keys(userId: other.id).first?.id)
            #expect(try await server.store.revokeKey(id: keyId, userId: other.id))
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await server.send(.GET, "/api/projects", key: otherKey).isProblem(401))
        }
    }

    @Test func boundedKeyedByDigestAndRaceSafe() throws {
        // The digest is the lowercase hex SHA-256 the store keeps (FIPS 180-2 test vector).
        #expect(AuthMiddleware.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        let cache = AuthCache(ttl: .seconds(60), capacity: 3)
        let user = User(id: UUID(), name: "u", createdAt: Date())
        for i in 0..<10 {
            cache.insert(digest: AuthMiddleware.digest("rs_\(i)"), kind: .apiKey, caller: Caller(user: user, keyId: UUID()), validUntil: nil, ifGeneration: cache.generation)
            #expect(cache.count <= 3)
        }
        #expect(cache.user(digest: AuthMiddleware.digest("rs_9"), kind: .apiKey) == user)
        #expect(cache.user(digest: AuthMiddleware.digest("rs_9"), kind: .session) == nil, "a key is not a session token")

        // A lookup that started before an invalidation does not cache its answer.
        let before = cache.generation
        cache.invalidate(userId: UUID())
        cache.insert(digest: AuthMiddleware.digest("late"), kind: .apiKey, caller: Caller(user: user, keyId: UUID()), validUntil: nil, ifGeneration: before)
        #expect(cache.user(digest: AuthMiddleware.digest("late"), kind: .apiKey) == nil)

        // Never past a session's own end.
        cache.insert(digest: "s", kind: .session, caller: Caller(user: user, keyId: UUID()), validUntil: Date().addingTimeInterval(-1), ifGeneration: cache.generation)
        #expect(cache.user(digest: "s", kind: .session) == nil)

        // Invalidating a user drops all of that user's entries.
        cache.invalidate(userId: user.id)
        #expect(cache.count == 0)
    }
}
