import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReelCore
@testable import ReelServer
import ReelStore
import Testing
import Vapor

/// Issue 14, items 1 and 5: sessions belong to the key that made them, revocation ends sessions and live streams, a
/// session mints keys only when fresh, rate limits hold per user, and sign-ins and failed authentications are limited
/// per client address.
@Suite struct HardeningSessionTests {
    /// Signs in with `key`; answers the `name=value` of the session cookie.
    static func signIn(_ server: APITestServer, key: String, headers: [(String, String)] = []) async throws -> String {
        let r = try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#, headers: headers)
        #expect(r.status == 201, "sign-in: \(r.status) \(r.text)")
        return try #require(r.headers.first(name: "Set-Cookie")?.split(separator: ";").first.map(String.init))
    }

    /// Opens the project's SSE stream and waits for the server's greeting, so the stream is known to be running; the
    /// task reads on and answers true when the server ends the stream.
    static func openEvents(_ server: APITestServer, project: UUID, headers: [(String, String)]) async throws -> Task<Bool, any Error> {
        var request = HTTPClientRequest(url: "\(server.base)/api/projects/\(project)/events")
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        let (greeted, signal) = AsyncStream.makeStream(of: Void.self)
        let reader = Task {
            defer { signal.finish() }
            var text = ""
            for try await chunk in response.body where text.count < 4096 {
                text += String(buffer: chunk)
                if text.contains(": connected") { signal.yield() }
            }
            return true
        }
        for await _ in greeted { break }
        return reader
    }

    /// True when the server ends the stream (fails instead of hanging: a guard, not a timing).
    static func ends(_ reader: Task<Bool, any Error>) async throws -> Bool {
        try await APIEventTests.guarded { try await reader.value }
    }

    /// A WebSocket to the project's stream; its messages and whether it closed arrive on the returned stream.
    static func openSocket(_ server: APITestServer, project: UUID, headers: [(String, String)]) async throws -> AsyncStream<String?> {
        let (messages, continuation) = AsyncStream.makeStream(of: String?.self)
        var h = HTTPHeaders()
        for (n, v) in headers { h.add(name: n, value: v) }
        try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                    headers: h, on: MultiThreadedEventLoopGroup.singleton) { ws in
            ws.onText { _, text in continuation.yield(text) }
            ws.onClose.whenComplete { _ in continuation.yield(nil); continuation.finish() }
        }.get()
        return messages
    }

    /// True once the socket has closed.
    static func closes(_ messages: AsyncStream<String?>) async throws -> Bool {
        try await APIEventTests.guarded {
            for await message in messages where message == nil { return true }
            return true
        }
    }

    @Test func revokingAKeyEndsItsSessionsAndLiveStreamsAtOnce() async throws {
        // Streams re-check their credentials only hourly here, and live past the test's 60 s wait (then end, so a
        // failing run does not hang): only the close that the revoke itself makes can end them in time.
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.streamCredentialCheckSeconds = 3600
        limits.maxStreamSeconds = 90
        try await withAPIServer(limits: limits) { server in
            let (user, key) = try await server.user()
            let (secondInfo, second) = try await server.store.createKey(userId: user.id)
            let project = try await server.project(key: key)
            let cookie = try await Self.signIn(server, key: second)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).status == 200)

            // Streams on the key's session (SSE) and on the key itself (WebSocket), then the key is revoked.
            let sse = try await Self.openEvents(server, project: project, headers: [("Cookie", cookie)])
            let socket = try await Self.openSocket(server, project: project, headers: [("Authorization", "Bearer \(second)")])
            #expect(try await server.send(.DELETE, "/api/keys/\(secondInfo.id)", key: key).status == 204)

            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", key: second).isProblem(401))
            #expect(try await Self.ends(sse), "the session's event stream is closed by the server")
            #expect(try await Self.closes(socket), "the key's WebSocket is closed by the server")
            // The user's other key is untouched.
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            #expect(try await server.send(.GET, "/api/sessions", key: key).json["items"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func rotatingAKeyEndsItsSessions() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let (second, secondKey) = try await server.store.createKey(userId: user.id)
            let cookie = try await Self.signIn(server, key: secondKey)
            let other = try await Self.signIn(server, key: key)
            #expect(try await server.send(.POST, "/api/keys/\(second.id)/rotate", key: key).status == 201)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", other)]).status == 200,
                    "a session of another key lives on")
        }
    }

    @Test func revocationOnAnotherServerEndsStreamsAtTheNextCheck() async throws {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.streamCredentialCheckSeconds = 0.2
        try await withAPIServer(limits: limits) { server in
            let (user, key) = try await server.user()
            let (second, secondKey) = try await server.store.createKey(userId: user.id)
            let project = try await server.project(key: key)
            let cookie = try await Self.signIn(server, key: key)
            let bySession = try await Self.openEvents(server, project: project, headers: [("Cookie", cookie)])
            let byKey = try await Self.openEvents(server, project: project, headers: [("Authorization", "Bearer \(secondKey)")])
            // Straight in the database, as another server or `reelsmith users revoke` would: this server's caches and
            // stream registry hear nothing of it.
            #expect(try await server.store.revokeKey(id: second.id, userId: user.id))
            #expect(try await Self.ends(byKey))
            let sessionId = try #require(try await server.store.sessions(userId: user.id, limit: 10, cursor: nil).items.first?.id)
            #expect(try await server.store.deleteSession(id: sessionId, userId: user.id))
            #expect(try await Self.ends(bySession))
        }
    }

    @Test func usersListAndEndTheirSessions() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let (_, otherKey) = try await server.user()
            let project = try await server.project(key: key)
            let first = try await Self.signIn(server, key: key)
            let second = try await Self.signIn(server, key: key)

            let list = try await server.send(.GET, "/api/sessions", headers: [("Cookie", first)])
            #expect(list.status == 200)
            let items = try #require(list.json["items"]?.arrayValue)
            #expect(items.count == 2)
            let keyId = try #require(try await server.store.keys(userId: user.id).first?.id)
            for item in items {
                guard case .object(let o) = item else { Issue.record("not an object"); continue }
                #expect(Set(o.keys) == ["id", "keyId", "createdAt", "expiresAt", "lastUsedAt", "current"])
                #expect(o["keyId"]?.stringValue == keyId.uuidString)
            }
            // Neither token nor its hash appears.
            for cookie in [first, second] {
                let token = String(cookie.dropFirst("reelsmith_session=".count))
                #expect(!list.text.contains(token) && !list.text.contains(AuthMiddleware.digest(token)))
            }
            #expect(items.filter { $0["current"] == .bool(true) }.count == 1)
            let paged = try await server.send(.GET, "/api/sessions?limit=1", key: key)
            #expect(paged.json["items"]?.arrayValue?.count == 1 && paged.json["nextCursor"]?.stringValue != nil)

            // End the second session from the first: its cookie and its stream stop.
            let secondId = try #require(items.first { $0["current"] != .bool(true) }?["id"]?.stringValue)
            let stream = try await Self.openEvents(server, project: project, headers: [("Cookie", second)])
            #expect(try await server.send(.DELETE, "/api/sessions/\(secondId)", key: otherKey).isProblem(404),
                    "another user's session is as missing as an ended one")
            #expect(try await server.send(.DELETE, "/api/sessions/\(secondId)", headers: [("Cookie", first)]).status == 204)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", second)]).isProblem(401))
            #expect(try await Self.ends(stream))
            #expect(try await server.send(.DELETE, "/api/sessions/\(secondId)", headers: [("Cookie", first)]).isProblem(404))
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", first)]).status == 200)

            // Signing out ends the session's streams too.
            let own = try await Self.openEvents(server, project: project, headers: [("Cookie", first)])
            #expect(try await server.send(.DELETE, "/api/session", headers: [("Cookie", first)]).status == 204)
            #expect(try await Self.ends(own))
        }
    }

    @Test func aSessionMintsKeysOnlyRightAfterSigningIn() async throws {
        var stale = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        stale.freshSignInWindow = .zero
        try await withAPIServer(limits: stale) { server in
            let (user, key) = try await server.user()
            let cookie = try await Self.signIn(server, key: key)
            let keyId = try #require(try await server.store.keys(userId: user.id).first?.id)
            let create = try await server.send(.POST, "/api/keys", headers: [("Cookie", cookie)])
            #expect(create.isProblem(403))
            #expect(create.text.contains("sign in again"))
            #expect(try await server.send(.POST, "/api/keys/\(keyId)/rotate", headers: [("Cookie", cookie)]).isProblem(403))
            #expect(try await server.store.keys(userId: user.id).count == 1, "nothing was minted")
            // The session may still read and revoke; the key itself may mint.
            #expect(try await server.send(.GET, "/api/keys", headers: [("Cookie", cookie)]).status == 200)
            #expect(try await server.send(.POST, "/api/keys", key: key).status == 201)
        }
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let cookie = try await Self.signIn(server, key: key)
            #expect(try await server.send(.POST, "/api/keys", headers: [("Cookie", cookie)]).status == 201,
                    "a session signed in just now may")
        }
    }

    @Test func theRequestBudgetIsPerUserHoweverManyKeys() async throws {
        try await withAPIServer(limits: ServiceLimits()) { server in
            // Time stands still for the limiter: on a loaded machine 15 s between two requests would refill a token.
            try #require(server.app.storage[APIRuntimeKey.self]).limiter.pinTime(at: .now)
            let (user, key) = try await server.user()
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: nil, requestsPerMinute: 4)
            var keys = [key]
            for _ in 0..<4 { keys.append(try await server.store.createKey(userId: user.id).key) }
            let statuses = try await keys.asyncMap { try await server.send(.GET, "/api/projects", key: $0).status }
            #expect(statuses == [200, 200, 200, 200, 429], "five keys share one budget of 4 a minute")
            let cookie = try await Self.signIn(server, key: key)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", cookie)]).isProblem(429))
            let (_, other) = try await server.user()
            #expect(try await server.send(.GET, "/api/projects", key: other).status == 200, "another user has its own")
        }
    }

    @Test func signInsAreLimitedPerAddress() async throws {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.signInsPerMinute = 3
        limits.trustForwardedFor = true
        try await withAPIServer(limits: limits) { server in
            let (_, key) = try await server.user()
            let from = [("X-Forwarded-For", "198.51.100.7, 203.0.113.9")]
            for _ in 0..<3 { _ = try await Self.signIn(server, key: key, headers: from) }
            let limited = try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#, headers: from)
            #expect(limited.isProblem(429))
            #expect(limited.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 >= 1 && $0 <= 60 } == true)
            // Another client address (the last X-Forwarded-For entry, written by the proxy) has its own budget.
            _ = try await Self.signIn(server, key: key, headers: [("X-Forwarded-For", "203.0.113.9, 203.0.113.10")])
        }
    }

    @Test func ipv6ClientsCountByTheirSlash64() {
        #expect(Request.addressBucket("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64")
        #expect(Request.addressBucket("2001:0db8:0001:0002:bbbb:cccc:dddd:eeee") == "2001:db8:1:2::/64")
        #expect(Request.addressBucket("2001:db8:1:3::1") == "2001:db8:1:3::/64")
        #expect(Request.addressBucket("::ffff:192.0.2.7") == "::ffff:192.0.2.7")
        #expect(Request.addressBucket("192.0.2.7") == "192.0.2.7")
        #expect(Request.addressBucket("not an address") == "not an address")
    }

    @Test func failedAuthenticationsAreLimitedPerAddress() async throws {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.failedAuthenticationsPerMinute = 3
        try await withAPIServer(limits: limits) { server in
            try #require(server.app.storage[APIRuntimeKey.self]).authCache.ttl = .seconds(600)
            let (_, key) = try await server.user()
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)   // known, and cached
            let wrong = "rs_" + String(repeating: "x", count: 43)
            #expect(try await server.send(.GET, "/api/projects", key: wrong).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", "reelsmith_session=rss_nope")]).isProblem(401))
            #expect(try await server.send(.POST, "/api/session", json: #"{"key": "\#(wrong)"}"#).isProblem(401))

            let limited = try await server.send(.GET, "/api/projects", key: wrong)
            #expect(limited.isProblem(429))
            #expect(limited.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 >= 1 && $0 <= 60 } == true)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", "reelsmith_session=rss_nope")]).isProblem(429))
            #expect(try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#).isProblem(429),
                    "no key is checked from this address for now")
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200,
                    "a credential already proven (cached) is not locked out by someone else's guessing")
            // Sending nothing is not a failed authentication.
            #expect(try await server.send(.GET, "/api/projects").isProblem(401))
        }
    }
}

private extension Array {
    /// The results of `transform` on each element, one after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
