import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReelCore
@testable import ReelServer
import ReelStore
import Testing
import Vapor

/// Issue 14, item 5: live event streams are capped per user, send a backlog in pages, and end after a maximum lifetime.
@Suite struct HardeningStreamTests {
    static func limits(_ change: (inout ServiceLimits) -> Void) -> ServiceLimits {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        change(&limits)
        return limits
    }

    /// The SSE events of a stream, by id, until `count` arrived or the server ended it.
    static func sseIds(_ server: APITestServer, project: UUID, key: String, after: Int64? = nil, count: Int) async throws -> [Int64] {
        var request = HTTPClientRequest(url: "\(server.base)/api/projects/\(project)/events")
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let after { request.headers.add(name: "Last-Event-ID", value: String(after)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        return try await APIEventTests.guarded {
            var ids: [Int64] = []
            var buffer = ""
            for try await chunk in response.body {
                buffer += String(buffer: chunk)
                while let end = buffer.range(of: "\n\n") {
                    let block = buffer[..<end.lowerBound]
                    for line in block.split(separator: "\n") where line.hasPrefix("id: ") {
                        if let id = Int64(line.dropFirst(4)) { ids.append(id) }
                    }
                    buffer.removeSubrange(..<end.upperBound)
                }
                if ids.count >= count { break }
            }
            return ids
        }
    }

    static func events(_ server: APITestServer, project: UUID, user: User, count: Int) async throws -> [JobEvent] {
        let job = try await server.store.enqueue(JobRecord(projectId: project, userId: user.id, kind: .generate), idempotencyKey: nil).job
        var out: [JobEvent] = []
        for i in 0..<count {
            out.append(try await server.store.appendEvent(jobId: job.id, projectId: project, type: .progress,
                                                          data: ["progress": .number(Double(i))]))
        }
        return out
    }

    @Test func liveStreamsArecappedPerUser() async throws {
        try await withAPIServer(limits: Self.limits { $0.maxStreamsPerUser = 2 }) { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let runtime = try #require(server.app.storage[APIRuntimeKey.self])
            // Two streams: one SSE, one WebSocket (they count together).
            var request = HTTPClientRequest(url: "\(server.base)/api/projects/\(project)/events")
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            let sse = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            #expect(sse.status == .ok)
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(key)")
            try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                        headers: headers, on: MultiThreadedEventLoopGroup.singleton) { _ in }.get()
            #expect(runtime.streams.count(userId: user.id) == 2)

            let third = try await server.send(.GET, "/api/projects/\(project)/events", key: key)
            #expect(third.isProblem(429))
            #expect(third.headers.first(name: "Retry-After") != nil)
            await #expect(throws: (any Error).self, "a third WebSocket is refused too") {
                try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                            headers: headers, on: MultiThreadedEventLoopGroup.singleton) { _ in }.get()
            }
            #expect(runtime.streams.count(userId: user.id) == 2)

            // Another user has a budget of its own.
            let (_, other) = try await server.user()
            let theirs = try await server.project(key: other)
            var otherRequest = HTTPClientRequest(url: "\(server.base)/api/projects/\(theirs)/events")
            otherRequest.headers.add(name: "Authorization", value: "Bearer \(other)")
            #expect(try await HTTPClient.shared.execute(otherRequest, timeout: .seconds(60)).status == .ok)
        }
    }

    @Test func aBacklogIsSentInPagesAllInOrder() async throws {
        try await withAPIServer(limits: Self.limits { $0.eventPageSize = 3 }) { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let events = try await Self.events(server, project: project, user: user, count: 11)
            let all = try await Self.sseIds(server, project: project, key: key, count: 11)
            #expect(all == events.map(\.id), "every event of the backlog, in order, across four pages of three")
            let resumed = try await Self.sseIds(server, project: project, key: key, after: events[4].id, count: 6)
            #expect(resumed == events.dropFirst(5).map(\.id))

            // The WebSocket pages the same way.
            let (messages, continuation) = AsyncStream.makeStream(of: String.self)
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(key)")
            try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                        query: "after=\(events[1].id)", headers: headers,
                                        on: MultiThreadedEventLoopGroup.singleton) { ws in
                ws.onText { _, text in continuation.yield(text) }
                ws.onClose.whenComplete { _ in continuation.finish() }
            }.get()
            let received = try await APIEventTests.guarded {
                var ids: [Int64] = []
                for await text in messages {
                    ids.append(try APIJSON.decoder.decode(JobEvent.self, from: Data(text.utf8)).id)
                    if ids.count >= 9 { break }
                }
                return ids
            }
            #expect(received == events.dropFirst(2).map(\.id))
        }
    }

    @Test func aStreamEndsAfterItsLifetimeAndResumes() async throws {
        try await withAPIServer(limits: Self.limits { $0.maxStreamSeconds = 1 }) { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let events = try await Self.events(server, project: project, user: user, count: 2)
            // Asking for more events than there are: only the server ending the stream lets this return.
            let first = try await Self.sseIds(server, project: project, key: key, count: 3)
            #expect(first == events.map(\.id))
            let runtime = try #require(server.app.storage[APIRuntimeKey.self])
            #expect(runtime.streams.count(userId: user.id) == 0, "a closed stream no longer counts")
            let more = try await Self.events(server, project: project, user: user, count: 1)
            #expect(try await Self.sseIds(server, project: project, key: key, after: events[1].id, count: 2) == more.map(\.id))

            let (closed, continuation) = AsyncStream.makeStream(of: Void.self)
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(key)")
            try await WebSocket.connect(scheme: "ws", host: "127.0.0.1", port: server.port, path: "/ws/projects/\(project)",
                                        headers: headers, on: MultiThreadedEventLoopGroup.singleton) { ws in
                ws.onClose.whenComplete { _ in continuation.yield(); continuation.finish() }
            }.get()
            let ended = try await APIEventTests.guarded { () -> Bool in
                for await _ in closed { return true }
                return true
            }
            #expect(ended, "the server closes the WebSocket too")
        }
    }
}
