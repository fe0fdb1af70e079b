import Foundation
import Fluent
import ReelCore

// Users, API keys and web sessions. Keys and session tokens are shown once and stored only as SHA-256 hex, looked up
// by that hash through a unique index: no slow password hash per request (the tokens are 256-bit random, so a fast
// hash is enough).

extension ServiceStore {
    /// Makes a user and a first API key; the key is returned once and never stored. A taken name → `ReelError(.badInput)`.
    public func createUser(name: String) async throws -> (user: User, key: String) {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 100 else { throw ReelError(.badInput, "a user name must be 1 to 100 characters") }
        let key = Self.randomToken(prefix: "rs_")
        let now = Self.now
        let user = UserModel()
        user.id = UUID(); user.name = trimmed; user.createdAt = now; user.budget = nil
        user.maxConcurrentJobs = 2; user.requestsPerMinute = 120
        do {
            try await write { db in
                if try await UserModel.query(on: db).filter(\.$name == trimmed).first() != nil {
                    throw ReelError(.badInput, "a user named '\(trimmed)' already exists")
                }
                try await user.create(on: db)
                try await Self.makeKeyModel(userId: user.id!, key: key, now: now).create(on: db)
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw ReelError(.badInput, "a user named '\(trimmed)' already exists")
        }
        return (user.value, key)
    }

    static func makeKeyModel(userId: UUID, key: String, now: Double) -> APIKeyModel {
        let m = APIKeyModel()
        m.id = UUID(); m.userId = userId; m.keyHash = sha256Hex(key); m.prefix = String(key.prefix(8)); m.createdAt = now
        return m
    }

    /// All users, oldest first.
    public func users() async throws -> [User] {
        try await UserModel.query(on: db).sort(\.$createdAt).sort(\.$name).all().map(\.value)
    }

    public func user(named name: String) async throws -> User? {
        try await UserModel.query(on: db).filter(\.$name == name).first()?.value
    }

    public func user(id: UUID) async throws -> User? {
        try await UserModel.find(id, on: db)?.value
    }

    /// Sets the user's limits; a nil argument leaves that limit as it is, except `budget`, where nil means unlimited.
    public func setLimits(userId: UUID, budget: Double?, maxConcurrentJobs: Int?, requestsPerMinute: Int?) async throws {
        guard let user = try await UserModel.find(userId, on: db) else { throw ReelError(.badInput, "no such user") }
        if let b = budget, !(b.isFinite && b >= 0) { throw ReelError(.badInput, "a budget must be zero or more USD") }
        if let m = maxConcurrentJobs, m < 0 { throw ReelError(.badInput, "maxConcurrentJobs must be zero or more") }
        if let r = requestsPerMinute, r < 1 { throw ReelError(.badInput, "requestsPerMinute must be 1 or more") }
        user.budget = budget
        if let m = maxConcurrentJobs { user.maxConcurrentJobs = m }
        if let r = requestsPerMinute { user.requestsPerMinute = r }
        try await user.update(on: db)
    }

    /// A new key for the user, returned once.
    public func createKey(userId: UUID) async throws -> (info: APIKeyInfo, key: String) {
        guard try await UserModel.find(userId, on: db) != nil else { throw ReelError(.badInput, "no such user") }
        let key = Self.randomToken(prefix: "rs_")
        let model = Self.makeKeyModel(userId: userId, key: key, now: Self.now)
        try await model.create(on: db)
        return (model.value, key)
    }

    /// The user's keys, revoked ones too, oldest first.
    public func keys(userId: UUID) async throws -> [APIKeyInfo] {
        try await APIKeyModel.query(on: db).filter(\.$userId == userId).sort(\.$createdAt).all().map(\.value)
    }

    /// Revokes one of the user's keys and ends the sessions it signed in, in one transaction; false when the user has no
    /// such key (or it was revoked already).
    public func revokeKey(id: UUID, userId: UUID) async throws -> Bool {
        let now = Self.now
        return try await write { db in
            guard let key = try await APIKeyModel.query(on: db).filter(\.$id == id).filter(\.$userId == userId).first(),
                  key.revokedAt == nil else { return false }
            key.revokedAt = now
            try await key.update(on: db)
            try await SessionModel.query(on: db).filter(\.$keyId == id).delete()
            return true
        }
    }

    /// Revokes the key, ends the sessions it signed in and makes a new key for the same user, in one transaction; nil
    /// when the user has no such live key.
    public func rotateKey(id: UUID, userId: UUID) async throws -> (info: APIKeyInfo, key: String)? {
        let key = Self.randomToken(prefix: "rs_")
        let now = Self.now
        return try await write { db -> APIKeyInfo? in
            guard let old = try await APIKeyModel.query(on: db).filter(\.$id == id).filter(\.$userId == userId).first(),
                  old.revokedAt == nil else { return nil }
            old.revokedAt = now
            try await old.update(on: db)
            try await SessionModel.query(on: db).filter(\.$keyId == id).delete()
            let new = Self.makeKeyModel(userId: userId, key: key, now: now)
            try await new.create(on: db)
            return new.value
        }.map { ($0, key) }
    }

    /// The user a live key belongs to; nil for an unknown or revoked key. Notes the key's last use (at most once a minute).
    public func authenticate(key: String) async throws -> User? {
        try await authenticateKey(key)?.user
    }

    /// The user a live key belongs to and the key's id; nil for an unknown or revoked key. Notes the key's last use
    /// (at most once a minute).
    public func authenticateKey(_ key: String) async throws -> (user: User, keyId: UUID)? {
        guard key.hasPrefix("rs_"), key.count <= 200 else { return nil }
        let hash = Self.sha256Hex(key)
        // One indexed query (key by its hash, joined to its user): this runs on every API request, so a second
        // round trip for the user would be paid on each one.
        guard let model = try await APIKeyModel.query(on: db).filter(\.$keyHash == hash)
            .join(UserModel.self, on: \APIKeyModel.$userId == \UserModel.$id).first(),
              model.revokedAt == nil, let keyId = model.id else {
            return nil
        }
        let now = Self.now
        if (model.lastUsedAt ?? 0) < now - 60 {
            try await APIKeyModel.query(on: db).filter(\.$id == keyId).set(\.$lastUsedAt, to: now).update()
        }
        return (try model.joined(UserModel.self).value, keyId)
    }

    /// A web session for the user, signed in with the key `keyId` and valid for `ttl`: an opaque token (stored hashed)
    /// for an HttpOnly cookie. Revoking or rotating that key ends the session.
    public func createSession(userId: UUID, keyId: UUID, ttl: Duration) async throws -> String {
        let token = Self.randomToken(prefix: "rss_")
        let now = Self.now
        let s = SessionModel()
        s.id = UUID(); s.userId = userId; s.keyId = keyId; s.tokenHash = Self.sha256Hex(token); s.createdAt = now
        s.expiresAt = now + ttl.seconds
        try await s.create(on: db)
        // Sweep expired sessions now and then.
        if Int.random(in: 0..<50) == 0 {
            try await SessionModel.query(on: db).filter(\.$expiresAt < now).delete()
        }
        return token
    }

    /// The user of a live session; nil for an unknown or expired token, or one whose key was revoked.
    public func sessionUser(token: String) async throws -> User? {
        try await session(token: token)?.user
    }

    /// The user of a live session and the session; nil for an unknown or expired token, or when the key that signed it
    /// in is revoked (or the session predates keys on sessions). Notes the session's last use (at most once a minute).
    /// (The server caches the answer briefly, never past `expiresAt`.)
    public func session(token: String) async throws -> (user: User, session: SessionInfo)? {
        guard token.count <= 200 else { return nil }
        let hash = Self.sha256Hex(token)
        // One indexed query, as for API keys: the web UI's every request comes this way. The inner join on a live key
        // is what makes a revoked key's sessions fail even if a sign-in raced with the revocation.
        guard let s = try await SessionModel.query(on: db).filter(\.$tokenHash == hash)
            .join(UserModel.self, on: \SessionModel.$userId == \UserModel.$id)
            .join(APIKeyModel.self, on: \SessionModel.$keyId == \APIKeyModel.$id)
            .filter(APIKeyModel.self, \.$revokedAt == nil)
            .first(),
              s.expiresAt > Self.now, let info = s.info else {
            return nil
        }
        let now = Self.now
        if (s.lastUsedAt ?? 0) < now - 60 {
            try await SessionModel.query(on: db).filter(\.$id == info.id).set(\.$lastUsedAt, to: now).update()
        }
        return (try s.joined(UserModel.self).value, info)
    }

    /// The user's live sessions, newest first (ended, expired and revoked-key sessions are not listed).
    public func sessions(userId: UUID, limit: Int, cursor: String?) async throws -> Page<SessionInfo> {
        let query = SessionModel.query(on: try db).filter(\.$userId == userId).filter(\.$expiresAt > Self.now)
            .join(APIKeyModel.self, on: \SessionModel.$keyId == \APIKeyModel.$id)
            .filter(APIKeyModel.self, \.$revokedAt == nil)
        let (rows, next) = try await Self.newestFirst(query, limit: limit, cursor: cursor, createdAt: \.$createdAt, id: \.$id)
        return Page(items: rows.compactMap(\.info), nextCursor: next)
    }

    /// Ends one of the user's sessions; false when the user has no such session.
    public func deleteSession(id: UUID, userId: UUID) async throws -> Bool {
        let found = try await SessionModel.query(on: db).filter(\.$id == id).filter(\.$userId == userId).count()
        guard found > 0 else { return false }
        try await SessionModel.query(on: db).filter(\.$id == id).filter(\.$userId == userId).delete()
        return true
    }

    /// Ends the session of the token; answers its id, or nil when there was none.
    @discardableResult
    public func deleteSession(token: String) async throws -> UUID? {
        let hash = Self.sha256Hex(token)
        guard let id = try await SessionModel.query(on: db).filter(\.$tokenHash == hash).first()?.id else { return nil }
        try await SessionModel.query(on: db).filter(\.$id == id).delete()
        return id
    }

    /// True while the key is live and, when given, the session is too (not ended, not expired): what an open event
    /// stream re-checks now and then, so a revocation made by another server ends it too. Two indexed reads.
    public func credentialIsLive(keyId: UUID, sessionId: UUID?) async throws -> Bool {
        guard let key = try await APIKeyModel.find(keyId, on: db), key.revokedAt == nil else { return false }
        guard let sessionId else { return true }
        guard let s = try await SessionModel.find(sessionId, on: db) else { return false }
        return s.keyId == keyId && s.expiresAt > Self.now
    }
}

extension SessionModel {
    /// The session as its owner may see it; nil for a row from before sessions had keys.
    var info: SessionInfo? {
        guard let id, let keyId else { return nil }
        return SessionInfo(id: id, userId: userId, keyId: keyId, createdAt: Date(seconds: createdAt),
                           expiresAt: Date(seconds: expiresAt), lastUsedAt: lastUsedAt.map(Date.init(seconds:)))
    }
}
