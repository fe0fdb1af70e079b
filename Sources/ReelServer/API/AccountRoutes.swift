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
    }

    /// Exchanges an API key for an HttpOnly session cookie, for the web UI (scripts keep using the header).
    func signIn(_ req: Request) async throws -> Response {
        let input = try APIJSON.decode(SessionInput.self, from: req)
        guard !input.key.isEmpty, input.key.count <= 256, let user = try await store.authenticate(key: input.key) else {
            throw Problem.unauthorized
        }
        let ttl = services.limits.sessionTTL
        let token = try await store.createSession(userId: user.id, ttl: ttl)
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

    /// Ends the session of the cookie (if any) and clears the cookie; answers 204 either way.
    func signOut(_ req: Request) async throws -> Response {
        if let token = req.cookies[sessionCookieName]?.string, !token.isEmpty, token.count <= 256 {
            try await store.deleteSession(token: token)
            runtime.authCache.invalidate(digest: AuthMiddleware.digest(token))
        }
        let response = Response(status: .noContent)
        response.cookies[sessionCookieName] = HTTPCookies.Value(string: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0,
                                                                path: "/", isHTTPOnly: true, sameSite: .strict)
        return response
    }

    func listKeys(_ req: Request) async throws -> Response {
        let keys = try await store.keys(userId: try req.user.id)
        return try APIJSON.response(PageJSON(items: keys.map { KeyJSON(info: $0, key: nil) }, nextCursor: nil))
    }

    func createKey(_ req: Request) async throws -> Response {
        let (info, key) = try await store.createKey(userId: try req.user.id)
        return try APIJSON.response(KeyJSON(info: info, key: key), status: .created, headers: ["Cache-Control": "no-store"])
    }

    func rotateKey(_ req: Request) async throws -> Response {
        let id = try req.id("keyId", "the key")
        let userId = try req.user.id
        guard let (info, key) = try await store.rotateKey(id: id, userId: userId) else { throw Problem.notFound("the key") }
        // The old key must stop working on this server now, not when its cache entry expires.
        runtime.authCache.invalidate(userId: userId)
        return try APIJSON.response(KeyJSON(info: info, key: key), status: .created, headers: ["Cache-Control": "no-store"])
    }

    func revokeKey(_ req: Request) async throws -> Response {
        let id = try req.id("keyId", "the key")
        let userId = try req.user.id
        guard try await store.revokeKey(id: id, userId: userId) else { throw Problem.notFound("the key") }
        // The key must stop working on this server now, not when its cache entry expires.
        runtime.authCache.invalidate(userId: userId)
        return Response(status: .noContent)
    }
}
