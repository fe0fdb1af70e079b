import Foundation
import Testing
import Fluent
import ReelCore
import ReelTestSupport
@testable import ReelStore

/// Issue 14, item 1, in the store: a session belongs to the key that signed it in, and ends with it.
@Suite("Session keys") struct SessionKeyStoreTests {
    @Test(arguments: Backend.allCases)
    func revokingOrRotatingAKeyEndsItsSessions(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let (alice, key) = try await store.createUser(name: "alice")
            let first = try #require(try await store.authenticateKey(key))
            #expect(first.user == alice)
            let (second, secondKey) = try await store.createKey(userId: alice.id)
            #expect(try await store.authenticateKey(secondKey)?.keyId == second.id)

            let a = try await store.createSession(userId: alice.id, keyId: first.keyId, ttl: .seconds(3600))
            let b = try await store.createSession(userId: alice.id, keyId: second.id, ttl: .seconds(3600))
            let bInfo = try #require(try await store.session(token: b)?.session)
            #expect(bInfo.keyId == second.id && bInfo.userId == alice.id)
            #expect(try await store.credentialIsLive(keyId: second.id, sessionId: bInfo.id))

            #expect(try await store.revokeKey(id: second.id, userId: alice.id))
            #expect(try await store.session(token: b) == nil)
            #expect(try await SessionModel.query(on: store.db).filter(\.$keyId == second.id).count() == 0, "its rows are gone")
            #expect(try await store.credentialIsLive(keyId: second.id, sessionId: nil) == false)
            #expect(try await store.session(token: a)?.user == alice, "another key's session lives on")

            let rotated = try #require(try await store.rotateKey(id: first.keyId, userId: alice.id))
            #expect(try await store.session(token: a) == nil)
            #expect(try await store.sessions(userId: alice.id, limit: 10, cursor: nil).items.isEmpty)
            #expect(try await store.authenticateKey(rotated.key)?.keyId == rotated.info.id)
        }
    }

    @Test(arguments: Backend.allCases)
    func sessionsAreListedNewestFirstAndEndedById(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let (alice, key) = try await store.createUser(name: "alice")
            let (bob, _) = try await store.createUser(name: "bob")
            let keyId = try #require(try await store.authenticateKey(key)?.keyId)
            var tokens: [String] = []
            for _ in 0..<3 { tokens.append(try await store.createSession(userId: alice.id, keyId: keyId, ttl: .seconds(3600))) }
            _ = try await store.createSession(userId: alice.id, keyId: keyId, ttl: .seconds(-1))   // expired: not listed

            // A session from before sessions had keys: treated as ended, not listed.
            let legacy = SessionModel()
            legacy.id = UUID(); legacy.userId = alice.id; legacy.tokenHash = ServiceStore.sha256Hex("rss_legacy")
            legacy.createdAt = Date().timeIntervalSince1970; legacy.expiresAt = legacy.createdAt + 3600
            try await legacy.create(on: store.db)
            #expect(try await store.session(token: "rss_legacy") == nil)

            let page1 = try await store.sessions(userId: alice.id, limit: 2, cursor: nil)
            let page2 = try await store.sessions(userId: alice.id, limit: 2, cursor: page1.nextCursor)
            let listed = page1.items + page2.items
            #expect(listed.count == 3 && page2.nextCursor == nil)
            #expect(listed.map(\.createdAt) == listed.map(\.createdAt).sorted(by: >))
            var ids: [UUID] = []
            for token in tokens { ids.append(try #require(try await store.session(token: token)?.session.id)) }
            #expect(Set(listed.map(\.id)) == Set(ids))

            #expect(try await store.deleteSession(id: ids[0], userId: bob.id) == false, "not bob's")
            #expect(try await store.deleteSession(id: ids[0], userId: alice.id))
            #expect(try await store.session(token: tokens[0]) == nil)
            #expect(try await store.credentialIsLive(keyId: keyId, sessionId: ids[0]) == false)
            #expect(try await store.deleteSession(token: tokens[1]) == ids[1])
            #expect(try await store.sessions(userId: alice.id, limit: 10, cursor: nil).items.map(\.id) == [ids[2]])
        }
    }
}
