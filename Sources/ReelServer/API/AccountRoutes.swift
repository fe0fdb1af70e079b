import Foundation
import ReelCore
import ReelStore
import Vapor

/// `POST /api/session`.
struct SessionInput: Decodable, Sendable { var key: String }

struct SessionJSON: Encodable, Sendable {
    var userId: UUID
    var name: String
    var expiresAt: Date
}

/// One of `GET /api/sessions`: never the token or its hash.
struct SessionItemJSON: Encodable, Sendable {
    var info: SessionInfo
    /// True for the session of the cookie this request came with.
    var current: Bool
    enum Keys: String, CodingKey { case id, keyId, createdAt, expiresAt, lastUsedAt, current }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(info.id, forKey: .id)
        try c.encode(info.keyId, forKey: .keyId)
        try c.encode(info.createdAt, forKey: .createdAt)
        try c.encode(info.expiresAt, forKey: .expiresAt)
        try c.encode(info.lastUsedAt, forKey: .lastUsedAt)
        try c.encode(current, forKey: .current)
    }
}

extension APIRoutes {
    func registerSession(_ api: any RoutesBuilder) {
        api.post("session") { req in try await signIn(req) }
        api.delete("session") { req in try await signOut(req) }
    }

    func registerKeys(_ api: any RoutesBuilder) {
        api.get("keys") { req in try await listKeys(req) }
        api.post("keys") { req in try await createKey(req) }
        api.post("keys", ":keyId", "rotate") { req in try await rotateKey(req) }
        api.delete("keys", ":keyId") { req in try await revokeKey(req) }
        api.get("sessions") { req in try await listSessions(req) }
        api.delete("sessions", ":sessionId") { req in try await endSession(req) }
    }

    /// Exchanges an API key for an HttpOnly session cookie, for the web UI (scripts keep using the header). The session
    /// belongs to that key: revoking or rotating it ends the session. Sign-ins and failed ones are limited per client
    /// address.
    func signIn(_ req: Request) async throws -> Response {
        let limits = services.limits
        let throttle = AddressThrottle(limiter: runtime.limiter, limits: limits,
                                       address: req.clientAddress(trustForwardedFor: limits.trustForwardedFor))
        let input = try APIJSON.decode(SessionInput.self, from: req)
        try throttle.signIn()
        try throttle.check()
        guard !input.key.isEmpty, input.key.count <= 256, let (user, keyId) = try await store.authenticateKey(input.key) else {
            throw throttle.failed()
        }
        let ttl = limits.sessionTTL
        let token = try await store.createSession(userId: user.id, keyId: keyId, ttl: ttl)
        let seconds = Int(ttl.components.seconds)
        let expiresAt = Date().addingTimeInterval(Double(seconds))
        let response = try APIJSON.response(SessionJSON(userId: user.id, name: user.name, expiresAt: expiresAt), status: .created)
        response.cookies[sessionCookieName] = HTTPCookies.Value(
            string: token, expires: expiresAt, maxAge: seconds, path: "/",
            isSecure: services.publicBaseURL?.lowercased().hasPrefix("https://") ?? false,
            isHTTPOnly: true, sameSite: .strict)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    /// Ends the session of the cookie (if any) and its live streams, and clears the cookie; answers 204 either way.
    func signOut(_ req: Request) async throws -> Response {
        if let token = req.cookies[sessionCookieName]?.string, !token.isEmpty, token.count <= 256 {
            let ended = try await store.deleteSession(token: token)
            runtime.authCache.invalidate(digest: AuthMiddleware.digest(token))
            if let ended { runtime.streams.close(sessionId: ended) }
        }
        return Self.clearingCookie(Response(status: .noContent))
    }

    static func clearingCookie(_ response: Response) -> Response {
        response.cookies[sessionCookieName] = HTTPCookies.Value(string: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0,
                                                                path: "/", isHTTPOnly: true, sameSite: .strict)
        return response
    }

    /// The caller's live sessions, newest first.
    func listSessions(_ req: Request) async throws -> Response {
        let caller = try req.caller
        let (limit, cursor) = try req.pageQuery()
        let page = try await store.sessions(userId: caller.user.id, limit: limit, cursor: cursor)
        return try APIJSON.response(PageJSON(items: page.items.map { SessionItemJSON(info: $0, current: $0.id == caller.session?.id) },
                                             nextCursor: page.nextCursor))
    }

    /// Ends one of the caller's sessions and its live streams (clearing the cookie when it is the caller's own).
    func endSession(_ req: Request) async throws -> Response {
        let id = try req.id("sessionId", "the session")
        let caller = try req.caller
        guard try await store.deleteSession(id: id, userId: caller.user.id) else { throw Problem.notFound("the session") }
        // The session must stop working on this server now, not when its cache entry expires.
        runtime.authCache.invalidate(userId: caller.user.id)
        runtime.streams.close(sessionId: id)
        let response = Response(status: .noContent)
        return caller.session?.id == id ? Self.clearingCookie(response) : response
    }

    func listKeys(_ req: Request) async throws -> Response {
        let keys = try await store.keys(userId: try req.user.id)
        return try APIJSON.response(PageJSON(items: keys.map { KeyJSON(info: $0, key: nil) }, nextCursor: nil))
    }

    /// A browser session mints keys only shortly after its sign-in: a stolen or forgotten cookie must not become a
    /// key that outlives it. The key itself (Bearer) may always.
    func requireKeyOrFreshSignIn(_ req: Request) throws {
        guard let session = try req.caller.session else { return }
        let seconds = services.limits.freshSignInWindow.components.seconds
        guard Date().timeIntervalSince(session.createdAt) > Double(seconds) else { return }
        let window = seconds >= 120 && seconds % 60 == 0 ? "\(seconds / 60) minutes" : "\(seconds) seconds"
        throw Problem(.forbidden, "fresh-sign-in-required",
                      "creating or rotating an API key from a browser session needs a sign-in within the last \(window): sign in again with your key (POST /api/session), or send the key as 'Authorization: Bearer KEY'")
    }

    func createKey(_ req: Request) async throws -> Response {
        try requireKeyOrFreshSignIn(req)
        let (info, key) = try await store.createKey(userId: try req.user.id)
        return try APIJSON.response(KeyJSON(info: info, key: key), status: .created, headers: ["Cache-Control": "no-store"])
    }

    func rotateKey(_ req: Request) async throws -> Response {
        let id = try req.id("keyId", "the key")
        try requireKeyOrFreshSignIn(req)
        let userId = try req.user.id
        guard let (info, key) = try await store.rotateKey(id: id, userId: userId) else { throw Problem.notFound("the key") }
        // The old key and its sessions must stop working on this server now, not when their cache entries expire, and
        // their live streams end with them.
        runtime.authCache.invalidate(userId: userId)
        runtime.streams.close(keyId: id)
        return try APIJSON.response(KeyJSON(info: info, key: key), status: .created, headers: ["Cache-Control": "no-store"])
    }

    func revokeKey(_ req: Request) async throws -> Response {
        let id = try req.id("keyId", "the key")
        let userId = try req.user.id
        guard try await store.revokeKey(id: id, userId: userId) else { throw Problem.notFound("the key") }
        // The key and its sessions must stop working on this server now, not when their cache entries expire, and their
        // live streams end with them.
        runtime.authCache.invalidate(userId: userId)
        runtime.streams.close(keyId: id)
        return Response(status: .noContent)
    }
}
