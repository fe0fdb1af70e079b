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
        let store = self.store
        let runtime = self.runtime
        let limits = services.limits
        let response = Response(status: .ok, headers: [
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
        ])
        response.body = .init(managedAsyncStream: { writer in
            let (streamId, bell) = runtime.streams.open(store: store, poll: limits.pollSeconds)
            defer { runtime.streams.close(streamId) }
            var after = start
            try await writer.write(.buffer(ByteBuffer(string: "retry: 2000\n: connected\n\n")))
            var lastWrite = ContinuousClock.now
            for await _ in bell {
                let events = try await Self.pending(store: store, projectId: project.id, after: after)
                if !events.isEmpty {
                    var text = ""
                    for event in events {
                        text += "id: \(event.id)\nevent: \(event.type.rawValue)\ndata: \(try Self.json(event))\n\n"
                        after = event.id
                    }
                    try await writer.write(.buffer(ByteBuffer(string: text)))
                    lastWrite = .now
                } else if lastWrite.duration(to: .now) >= .seconds(limits.heartbeatSeconds) {
                    // A comment line keeps proxies from closing an idle stream and shows us a client that has gone.
                    try await writer.write(.buffer(ByteBuffer(string: ": heartbeat\n\n")))
                    lastWrite = .now
                }
            }
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
        let store = self.store
        let runtime = self.runtime
        let limits = services.limits
        return req.webSocket(onUpgrade: { _, ws in
            let (streamId, bell) = runtime.streams.open(store: store, poll: limits.pollSeconds)
            ws.onClose.whenComplete { _ in runtime.streams.close(streamId) }
            var after = start
            var lastWrite = ContinuousClock.now
            do {
                for await _ in bell {
                    if ws.isClosed { break }
                    let events = try await Self.pending(store: store, projectId: project.id, after: after)
                    for event in events {
                        try await ws.send(try Self.json(event))
                        after = event.id
                    }
                    if !events.isEmpty { lastWrite = .now }
                    else if lastWrite.duration(to: .now) >= .seconds(limits.heartbeatSeconds) {
                        try await ws.sendPing()
                        lastWrite = .now
                    }
                }
            } catch {
                // The client went away or the store failed: either way this socket is done.
            }
            runtime.streams.close(streamId)
            try? await ws.close(code: .goingAway)
        })
    }

    /// Every event after `after`, read in pages so a long backlog is sent whole.
    static func pending(store: ServiceStore, projectId: UUID, after: Int64) async throws -> [JobEvent] {
        var out: [JobEvent] = []
        var cursor = after
        while true {
            let page = try await store.events(projectId: projectId, after: cursor, limit: 200)
            out += page
            guard page.count == 200, let last = page.last else { return out }
            cursor = last.id
        }
    }

    static func json(_ event: JobEvent) throws -> String {
        String(decoding: try APIJSON.encoder.encode(event), as: UTF8.self)
    }
}
