import Foundation
import ReelCore
import ReelStore
import Vapor

extension APIRoutes {
    func registerEvents(_ api: any RoutesBuilder, app: Application) {
        api.get("projects", ":projectId", "events") { req in try await serverSentEvents(req) }
        // The WebSocket path is outside /api (CONTRACTS.md) but authenticates the same way: header or cookie.
        let ws = app.grouped("ws").grouped(AuthMiddleware(store: store, limiter: runtime.limiter, limits: services.limits,
                                                                     cache: runtime.authCache))
        ws.get("projects", ":projectId") { req in try await webSocket(req) }
    }

    /// The event id to resume after: `Last-Event-ID` (what browsers send on reconnect), else `?after=`, else 0.
    /// Both are plain digits (the OpenAPI document says the same), so anything else is refused rather than guessed.
    func resumePoint(_ req: Request) throws -> Int64 {
        func digits(_ text: String, max: Int) -> Int64? {
            guard !text.isEmpty, text.count <= max, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int64(text)
        }
        var after: Int64?
        if let text = try req.queryValue("after") {
            guard let id = digits(text, max: 12), id <= 999_999_999_999 else {
                throw Problem.badRequest("'after' must be an event id from 0 to 999999999999")
            }
            after = id
        }
        // The header wins: it is what a reconnecting browser sends, newer than the URL it first opened.
        if let header = req.headers.first(name: "Last-Event-ID") {
            guard let id = digits(header, max: 18) else { throw Problem.badRequest("Last-Event-ID must be an event id (digits)") }
            return id
        }
        return after ?? 0
    }

    func serverSentEvents(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let start = try resumePoint(req)
        let streamId = try reserveStream(req)
        let store = self.store
        let runtime = self.runtime
        let limits = services.limits
        let owner = try Self.owner(req)
        let response = Response(status: .ok, headers: [
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
        ])
        response.body = .init(managedAsyncStream: { writer in
            let bell = runtime.streams.open(streamId, store: store, poll: limits.pollSeconds)
            defer { runtime.streams.close(streamId) }
            try await writer.write(.buffer(ByteBuffer(string: "retry: 2000\n: connected\n\n")))
            try await Self.pump(bell: bell, store: store, limits: limits, owner: owner, projectId: project.id, after: start,
                                send: { events in
                var text = ""
                for event in events { text += "id: \(event.id)\nevent: \(event.type.rawValue)\ndata: \(try Self.json(event))\n\n" }
                try await writer.write(.buffer(ByteBuffer(string: text)))
            }, idle: {
                // A comment line keeps proxies from closing an idle stream and shows us a client that has gone.
                try await writer.write(.buffer(ByteBuffer(string: ": heartbeat\n\n")))
            })
        })
        return response
    }

    func webSocket(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let start = try resumePoint(req)
        let upgrade = req.headers.first(name: .upgrade)?.lowercased() ?? ""
        guard upgrade.contains("websocket") else {
            throw Problem(.upgradeRequired, "upgrade-required", "this is a WebSocket endpoint: connect with a WebSocket client",
                          headers: ["Upgrade": "websocket", "Connection": "Upgrade"])
        }
        let streamId = try reserveStream(req)
        let store = self.store
        let runtime = self.runtime
        let limits = services.limits
        let owner = try Self.owner(req)
        return req.webSocket(onUpgrade: { _, ws in
            let bell = runtime.streams.open(streamId, store: store, poll: limits.pollSeconds)
            ws.onClose.whenComplete { _ in runtime.streams.close(streamId) }
            do {
                try await Self.pump(bell: bell, store: store, limits: limits, owner: owner, projectId: project.id, after: start,
                                    send: { events in
                    for event in events {
                        guard !ws.isClosed else { throw CancellationError() }
                        try await ws.send(try Self.json(event))
                    }
                }, idle: { try await ws.sendPing() })
            } catch {
                // The client went away or the store failed: either way this socket is done.
            }
            runtime.streams.close(streamId)
            try? await ws.close(code: .goingAway)
        })
    }

    static func owner(_ req: Request) throws -> LiveStreams.Owner {
        let caller = try req.caller
        return LiveStreams.Owner(userId: caller.user.id, keyId: caller.keyId, sessionId: caller.session?.id)
    }

    /// A place for one more live stream of the caller's user, or 429 when it has `maxStreamsPerUser` open.
    func reserveStream(_ req: Request) throws -> UUID {
        let limit = services.limits.maxStreamsPerUser
        guard let id = runtime.streams.reserve(try Self.owner(req), limit: limit) else {
            throw Problem(.tooManyRequests, "too-many-streams",
                          "this user already has \(limit) live event streams open; close one first",
                          headers: ["Retry-After": "10"])
        }
        return id
    }

    /// Runs one live stream until it is closed: by the client, by `LiveStreams` (its key revoked or session ended on
    /// this server, shutdown), when a periodic re-check finds its key or session gone (a revocation made elsewhere: within
    /// `streamCredentialCheckSeconds`), or after `maxStreamSeconds` (the client resumes where it was). Sends the events
    /// after `start` page by page as read from the store, so a long backlog is never held in memory at once, then new
    /// events as they come; calls `idle` when nothing was sent for `heartbeatSeconds`.
    static func pump(bell: AsyncStream<Void>, store: ServiceStore, limits: ServiceLimits, owner: LiveStreams.Owner,
                     projectId: UUID, after start: Int64, send: ([JobEvent]) async throws -> Void,
                     idle: () async throws -> Void) async throws {
        // The store answers at most 1000 events a query.
        let pageSize = min(max(limits.eventPageSize, 1), 1000)
        let began = ContinuousClock.now
        var after = start
        var lastWrite = began
        var lastCheck = began
        for await _ in bell {
            if began.duration(to: .now) >= .seconds(limits.maxStreamSeconds) { return }
            if lastCheck.duration(to: .now) >= .seconds(limits.streamCredentialCheckSeconds) {
                lastCheck = .now
                guard try await store.credentialIsLive(keyId: owner.keyId, sessionId: owner.sessionId) else { return }
            }
            var sent = false
            while true {
                let page = try await store.events(projectId: projectId, after: after, limit: pageSize)
                guard let last = page.last else { break }
                try await send(page)
                after = last.id
                sent = true
                if page.count < pageSize || began.duration(to: .now) >= .seconds(limits.maxStreamSeconds) { break }
            }
            if sent {
                lastWrite = .now
            } else if lastWrite.duration(to: .now) >= .seconds(limits.heartbeatSeconds) {
                try await idle()
                lastWrite = .now
            }
        }
    }

    static func json(_ event: JobEvent) throws -> String {
        String(decoding: try APIJSON.encoder.encode(event), as: UTF8.self)
    }
}
