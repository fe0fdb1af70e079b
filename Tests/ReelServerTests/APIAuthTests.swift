import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// Keys, sessions, rate limits and the error shape.
@Suite struct APIAuthTests {
    static let protectedRoutes: [(HTTPMethod, String)] = [
        (.GET, "/api/projects"), (.POST, "/api/projects"), (.GET, "/api/keys"), (.POST, "/api/keys"),
        (.GET, "/api/jobs/\(UUID().uuidString)"), (.GET, "/api/projects/\(UUID().uuidString)/events"),
        (.GET, "/ws/projects/\(UUID().uuidString)"), (.POST, "/api/assets/upload"),
    ]

    @Test func missingWrongAndRevokedKeysAre401Problems() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            for (method, path) in Self.protectedRoutes {
                let missing = try await server.send(method, path)
                #expect(missing.isProblem(401), "\(method) \(path) without a key: \(missing.status) \(missing.text)")
                #expect(missing.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
                let wrong = try await server.send(method, path, key: "rs_wrong" + String(repeating: "x", count: 40))
                #expect(wrong.isProblem(401), "\(method) \(path) with a wrong key: \(wrong.status)")
            }
            let malformed = try await server.send(.GET, "/api/projects", headers: [("Authorization", "Basic abc")])
            #expect(malformed.isProblem(401))

            // Revoke the key it is using (through the API): the next request fails.
            let keys = try await server.send(.GET, "/api/keys", key: key)
            #expect(keys.status == 200)
            let keyId = try #require(keys.json["items"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(keys.json["items"]?.arrayValue?.first?["key"] == nil, "a listed key never shows its secret")
            let revoke = try await server.send(.DELETE, "/api/keys/\(keyId)", key: key)
            #expect(revoke.status == 204)
            let after = try await server.send(.GET, "/api/projects", key: key)
            #expect(after.isProblem(401))
        }
    }

    @Test func keysCreateRotateRevokeAndOwnership() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let (_, otherKey) = try await server.user()
            let created = try await server.send(.POST, "/api/keys", key: key)
            #expect(created.status == 201)
            let newKey = try #require(created.json["key"]?.stringValue)
            let newId = try #require(created.json["id"]?.stringValue)
            #expect(newKey.hasPrefix("rs_"))
            #expect(try await server.send(.GET, "/api/projects", key: newKey).status == 200)

            // Another user can neither rotate nor revoke it.
            #expect(try await server.send(.POST, "/api/keys/\(newId)/rotate", key: otherKey).isProblem(404))
            #expect(try await server.send(.DELETE, "/api/keys/\(newId)", key: otherKey).isProblem(404))
            #expect(try await server.send(.DELETE, "/api/keys/not-a-uuid", key: key).isProblem(404))

            let rotated = try await server.send(.POST, "/api/keys/\(newId)/rotate", key: key)
            #expect(rotated.status == 201)
            let rotatedKey = try #require(rotated.json["key"]?.stringValue)
            #expect(rotatedKey != newKey)
            #expect(try await server.send(.GET, "/api/projects", key: newKey).isProblem(401))
            #expect(try await server.send(.GET, "/api/projects", key: rotatedKey).status == 200)

            let list = try await server.send(.GET, "/api/keys", key: key)
            let items = try #require(list.json["items"]?.arrayValue)
            #expect(items.count == 3)
            #expect(items.contains { $0["id"]?.stringValue == newId && $0["revokedAt"]?.stringValue != nil })
            #expect(list.json["nextCursor"] == .null)
        }
    }

    @Test func sessionCookieSignsInAndOut() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            #expect(try await server.send(.POST, "/api/session", json: #"{"key": "rs_nope"}"#).isProblem(401))
            #expect(try await server.send(.POST, "/api/session", json: #"{"key": 5}"#).isProblem(400))

            let signIn = try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#)
            #expect(signIn.status == 201)
            #expect(signIn.json["userId"]?.stringValue == user.id.uuidString)
            let setCookie = try #require(signIn.headers.first(name: "Set-Cookie"))
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.lowercased().contains("samesite=strict"))
            let token = try #require(setCookie.split(separator: ";").first.map(String.init))
            #expect(token.hasPrefix("reelsmith_session="))

            let withCookie = try await server.send(.GET, "/api/projects", headers: [("Cookie", token)])
            #expect(withCookie.status == 200)
            // A wrong Authorization header is not rescued by a good cookie.
            let mixed = try await server.send(.GET, "/api/projects", key: "rs_wrong", headers: [("Cookie", token)])
            #expect(mixed.isProblem(401))

            let signOut = try await server.send(.DELETE, "/api/session", headers: [("Cookie", token)])
            #expect(signOut.status == 204)
            #expect(signOut.headers.first(name: "Set-Cookie")?.contains("reelsmith_session=") == true)
            #expect(try await server.send(.GET, "/api/projects", headers: [("Cookie", token)]).isProblem(401))
        }
    }

    @Test func requestsPerMinuteLimitAnswers429WithRetryAfter() async throws {
        try await withAPIServer(limits: ServiceLimits(requestsPerMinuteOverride: 3)) { server in
            let (_, key) = try await server.user()
            let (_, other) = try await server.user()
            for _ in 0..<3 { #expect(try await server.send(.GET, "/api/projects", key: key).status == 200) }
            let limited = try await server.send(.GET, "/api/projects", key: key)
            #expect(limited.isProblem(429))
            let retry = try #require(limited.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect(retry >= 1 && retry <= 60)
            // The limit is per key.
            #expect(try await server.send(.GET, "/api/projects", key: other).status == 200)
        }
        // Without an override the user's own limit applies.
        try await withAPIServer(limits: ServiceLimits()) { server in
            let (user, key) = try await server.user()
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: nil, requestsPerMinute: 2)
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            #expect(try await server.send(.GET, "/api/projects", key: key).status == 200)
            #expect(try await server.send(.GET, "/api/projects", key: key).isProblem(429))
        }
    }

    @Test func errorsAreProblemsNeverStackTraces() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let unknown = try await server.send(.GET, "/api/nothing-here", key: key)
            #expect(unknown.isProblem(404))
            #expect(try await server.send(.GET, "/nowhere").isProblem(404))
            let wrongMethod = try await server.send(.PUT, "/healthz")
            #expect(wrongMethod.isProblem(405))
            #expect(wrongMethod.headers.first(name: "Allow") == "GET")
            let upload = try await server.send(.GET, "/api/assets/upload", key: key)
            #expect(upload.isProblem(405), "the literal path wins over /api/assets/{assetId}")
            #expect(upload.headers.first(name: "Allow") == "POST")
            #expect(try await server.send(.TRACE, "/api/projects/\(UUID())", key: key).headers.first(name: "Allow") == "DELETE, GET, PATCH")
            let malformed = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "x",,}"#)
            #expect(malformed.isProblem(400))
            #expect(try await server.send(.POST, "/api/projects", key: key, json: "").isProblem(400))
            #expect(try await server.send(.POST, "/api/projects", key: key, json: "[1,2]").isProblem(400))
            let wrongType = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": 12}"#)
            #expect(wrongType.isProblem(400))
            let big = String(repeating: "a", count: 200_000)
            let tooLarge = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "\#(big)"}"#)
            #expect(tooLarge.isProblem(413))
            for r in [unknown, malformed, wrongType, tooLarge] {
                #expect(!r.text.contains("Swift"), "no internals in \(r.text)")
                #expect(!r.text.contains(server.directory))
            }
        }
    }
}
