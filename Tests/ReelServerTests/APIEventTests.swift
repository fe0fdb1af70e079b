import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReelCore
@testable import ReelServer
import ReelStore
import Testing
import Vapor

/// Live progress: Server-Sent Events and WebSocket, both resuming after the last event a client saw.
@Suite struct APIEventTests {
    /// Runs `body`, failing instead of hanging if it takes far too long (a guard, not a timing assertion).
    static func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: .seconds(60)); return nil }
            let first = try await group.next()!
            group.cancelAll()
            return try #require(first, "timed out")
        }
    }

    static func append(_ server: APITestServer, project: UUID, job: UUID, _ type: JobEventType, progress: Double) async throws -> JobEvent {
        try await server.store.appendEvent(jobId: job, projectId: project, type: type, data: ["progress": .number(progress)])
    }

    @Test func serverSentEventsResumeWithLastEventID() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let job = try await server.store.enqueue(JobRecord(projectId: project, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let e1 = try await Self.append(server, project: project, job: job.id, .jobStarted, progress: 0)
            let e2 = try await Self.append(server, project: project, job: job.id, .stageStarted, progress: 10)
            let e3 = try await Self.append(server, project: project, job: job.id, .progress, progress: 20)

            var request = HTTPClientRequest(url: "\(server.base)/api/projects/\(project)/events")
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.headers.add(name: "Last-Event-ID", value: String(e1.id))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)

            let live = Task { try await Self.append(server, project: project, job: job.id, .jobCompleted, progress: 100) }
            let received = try await Self.guarded {
                var ids: [Int64] = []
                var types: [String] = []
                var datas: [JobEvent] = []
                var buffer = ""
                for try await chunk in response.body {
                    buffer += String(buffer: chunk)
                    while let end = buffer.range(of: "\n\n") {
                        let block = String(buffer[..<end.lowerBound])
                        buffer.removeSubrange(..<end.upperBound)
                        var id: Int64?, type: String?, data: String?
                        for line in block.split(separator: "\n") {
                            if line.hasPrefix("id: ") { id = Int64(line.dropFirst(4)) }
                            if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
                            if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                        }
                        if let id, let type, let data {
                            ids.append(id); types.append(type)
                            datas.append(try APIJSON.decoder.decode(JobEvent.self, from: Data(data.utf8)))
                        }
                    }
                    if ids.count >= 3 { break }
                }
                return (ids, types, datas)
            }
            let e4 = try await live.value
            for bad in ["", "abc", "-1", "+5", "1.5"] {
                let r = try await server.send(.GET, "/api/projects/\(project)/events", key: key, headers: [("Last-Event-ID", bad)])
                #expect(r.isProblem(400), "Last-Event-ID '\(bad)'")
            }
            #expect(try await server.send(.GET, "/api/projects/\(project)/events?after=1000000000000", key: key).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects/\(project)/events?after=null", key: key,
                                          headers: [("Last-Event-ID", "0")]).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects/\(project)/events?after=1&after=2", key: key).isProblem(400))
            #expect(received.0 == [e2.id, e3.id, e4.id], "resumed after the last seen event, then live")
            #expect(received.1 == ["stage_started", "progress", "job_completed"])
            #expect(received.2.first?.data["progress"] == .number(10))
            #expect(received.2.first?.jobId == job.id)
        }
    }

    @Test func liveStreamsAcceptTheSessionCookie() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let job = try await server.store.enqueue(JobRecord(projectId: project, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let event = try await Self.append(server, project: project, job: job.id, .jobStarted, progress: 0)
            let signIn = try await server.send(.POST, "/api/session", json: #"{"key": "\#(key)"}"#)
            let cookie = try #require(signIn.headers.first(name: "Set-Cookie")?.split(separator: ";").first.map(String.init))

            var request = HTTPClientRequest(url: "\(server.base)/api/projects/\(project)/events")
            request.headers.add(name: "Cookie", value: cookie)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            let first = try await Self.guarded {
                var text = ""
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if text.contains("\n\nid: ") || text.hasPrefix("id: ") || text.contains("event: job_started") { break }
                }
                return text
            }
            #expect(first.contains("id: \(event.id)\nevent: job_started\n"))

            let (messages, continuation) = AsyncStream.makeStream(of: String.self)
            var headers = HTTPHeaders()
            headers.add(name: "Cookie", value: cookie)
            try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                        headers: headers, on: MultiThreadedEventLoopGroup.singleton) { ws in
                ws.onText { _, text in continuation.yield(text) }
                ws.onClose.whenComplete { _ in continuation.finish() }
            }.get()
            let text = try await Self.guarded { () -> String? in
                for await text in messages { return text }
                return nil
            }
            #expect(text?.contains("\"job_started\"") == true)
        }
    }

    @Test func webSocketResumesAfterTheGivenEvent() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let job = try await server.store.enqueue(JobRecord(projectId: project, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let e1 = try await Self.append(server, project: project, job: job.id, .jobStarted, progress: 0)
            let e2 = try await Self.append(server, project: project, job: job.id, .sceneStarted, progress: 5)

            let (messages, continuation) = AsyncStream.makeStream(of: String.self)
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(key)")
            // WebSocketKit's own connect (Vapor's `connect(to:)` drops the query string); handlers set before the first frame.
            try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                        query: "after=\(e1.id)", headers: headers, on: MultiThreadedEventLoopGroup.singleton) { ws in
                ws.onText { _, text in continuation.yield(text) }
                ws.onClose.whenComplete { _ in continuation.finish() }
            }.get()
            let live = Task { try await Self.append(server, project: project, job: job.id, .sceneCompleted, progress: 50) }
            let events = try await Self.guarded {
                var out: [JobEvent] = []
                for await text in messages {
                    out.append(try APIJSON.decoder.decode(JobEvent.self, from: Data(text.utf8)))
                    if out.count >= 2 { break }
                }
                return out
            }
            let e3 = try await live.value
            #expect(events.map(\.id) == [e2.id, e3.id])
            #expect(events.map(\.type) == [.sceneStarted, .sceneCompleted])

            // Without a key the handshake is refused; a plain GET is told to upgrade.
            await #expect(throws: (any Error).self) {
                try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/ws/projects/\(project)",
                                            on: MultiThreadedEventLoopGroup.singleton) { _ in }
            }
            let plain = try await server.send(.GET, "/ws/projects/\(project)", key: key)
            #expect(plain.isProblem(426))
        }
    }
}
