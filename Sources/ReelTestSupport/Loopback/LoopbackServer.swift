import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ReelCore
import Synchronization

/// One HTTP request as a loopback server saw it (the body aggregated).
public struct LoopbackRequest: Sendable {
    /// "GET", "POST", ...
    public var method: String
    /// The path without the query, percent-decoded.
    public var path: String
    /// Query parameters, percent-decoded (`+` read as a space); the last one wins when a name repeats.
    public var query: [String: String]
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// The request target exactly as sent (path and query, still percent-encoded).
    public var target: String

    public init(method: String, path: String, query: [String: String] = [:], headers: [(name: String, value: String)] = [],
                body: Data = Data(), target: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.target = target ?? path
    }

    /// The first header of that name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The body parsed as JSON, or nil.
    public var json: JSONValue? { try? JSONValue.parse(body) }
}

/// What a loopback handler answers.
public enum LoopbackResponse: Sendable {
    /// A complete response; `Content-Length` is always set by the server (a given one is replaced).
    case respond(status: Int, headers: [(String, String)] = [], body: Data = Data())
    /// A JSON body (compact, sorted keys); sets `Content-Type: application/json` unless `headers` names another one.
    case json(status: Int, _ value: JSONValue, headers: [(String, String)] = [])
    /// Close the socket without answering.
    case dropConnection
    /// Announce the full `Content-Length` of `body`, send only its first `sendBytes` bytes, then close.
    case truncated(status: Int, headers: [(String, String)], body: Data, sendBytes: Int)

    /// A JSON body from any `Encodable` value.
    public static func json<T: Encodable>(status: Int, encoding value: T, headers: [(String, String)] = []) -> LoopbackResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("null".utf8)
        return .respond(status: status, headers: withDefaultContentType(headers, "application/json"), body: body)
    }

    /// Already-encoded JSON bytes (which need not be valid JSON: fault injection uses this).
    public static func jsonData(status: Int, _ data: Data, headers: [(String, String)] = []) -> LoopbackResponse {
        .respond(status: status, headers: withDefaultContentType(headers, "application/json"), body: data)
    }

    /// A text body.
    public static func text(status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8",
                            headers: [(String, String)] = []) -> LoopbackResponse {
        .respond(status: status, headers: [("Content-Type", contentType)] + headers, body: Data(text.utf8))
    }

    static func withDefaultContentType(_ headers: [(String, String)], _ type: String) -> [(String, String)] {
        headers.contains { $0.0.caseInsensitiveCompare("Content-Type") == .orderedSame } ? headers : [("Content-Type", type)] + headers
    }

    /// Status code of a response that answers (nil for a dropped connection).
    public var status: Int? {
        switch self {
        case .respond(let s, _, _), .json(let s, _, _), .truncated(let s, _, _, _): s
        case .dropConnection: nil
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 and an ephemeral port, answering every request with an async handler.
/// Keep-alive and pipelining are supported (requests on one connection are answered in order); bodies of any size
/// are aggregated before the handler runs. Built on plain SwiftNIO (no HTTP client library involved).
public final class LoopbackServer: Sendable {
    public typealias Handler = @Sendable (LoopbackRequest) async -> LoopbackResponse

    /// "http://127.0.0.1:PORT"
    public let baseURL: String
    public let port: Int
    private let serverChannel: any Channel
    private let connections: ConnectionRegistry
    private let acceptTask: Task<Void, Never>

    private init(port: Int, serverChannel: any Channel, connections: ConnectionRegistry, acceptTask: Task<Void, Never>) {
        self.port = port
        self.baseURL = "http://127.0.0.1:\(port)"
        self.serverChannel = serverChannel
        self.connections = connections
        self.acceptTask = acceptTask
    }

    deinit {
        serverChannel.close(promise: nil)
        connections.closeAll()
        acceptTask.cancel()
    }

    /// Binds 127.0.0.1:0 and starts answering with `handler`.
    public static func start(_ handler: @escaping Handler) async throws -> LoopbackServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw LoopbackError("loopback server has no local port")
        }
        let registry = ConnectionRegistry()
        let channel = server.channel
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask {
                            let id = registry.add(connection.channel)
                            defer { registry.remove(id) }
                            await serve(connection, handler)
                        }
                    }
                }
            }
        }
        return LoopbackServer(port: port, serverChannel: channel, connections: registry, acceptTask: task)
    }

    /// Stops listening, closes every open connection and waits for running handlers to end (they see cancellation).
    public func shutdown() async {
        try? await serverChannel.close()
        connections.closeAll()
        acceptTask.cancel()
        await acceptTask.value
    }

    /// Closes without waiting (for deinit of the fakes).
    func closeNow() {
        serverChannel.close(promise: nil)
        connections.closeAll()
        acceptTask.cancel()
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              _ handler: Handler) async {
        // Responses are written on the channel itself (not the async writer) so that every write can be awaited
        // until it reached the socket: the connection is closed right after the last answer, and a close fails
        // writes still pending — a large body answered to a `Connection: close` request would be cut short.
        let channel = connection.channel
        try? await connection.executeThenClose { inbound, _ in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let h = head else { continue }
                    head = nil
                    let request = makeRequest(h, body)
                    body = ByteBuffer()
                    let response = await handler(request)
                    let keepAlive = h.isKeepAlive
                    switch response {
                    case .dropConnection:
                        return
                    case .respond(let status, let headers, let data):
                        try await write(channel, version: h.version, status: status, headers: headers, body: data,
                                        keepAlive: keepAlive)
                    case .json(let status, let value, let headers):
                        try await write(channel, version: h.version, status: status,
                                        headers: LoopbackResponse.withDefaultContentType(headers, "application/json"),
                                        body: value.canonicalData(), keepAlive: keepAlive)
                    case .truncated(let status, let headers, let data, let sendBytes):
                        var fields = HTTPHeaders(headers)
                        fields.replaceOrAdd(name: "Content-Length", value: String(data.count))
                        let responseHead = HTTPResponseHead(version: h.version, status: .init(statusCode: status), headers: fields)
                        let part = data.prefix(max(0, min(sendBytes, data.count)))
                        channel.write(HTTPServerResponsePart.head(responseHead), promise: nil)
                        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: part)))).get()
                        return
                    }
                    if !keepAlive { return }
                }
            }
        }
    }

    private static func write(_ channel: any Channel, version: HTTPVersion, status: Int, headers: [(String, String)],
                              body: Data, keepAlive: Bool) async throws {
        var fields = HTTPHeaders(headers)
        fields.replaceOrAdd(name: "Content-Length", value: String(body.count))
        if !keepAlive { fields.replaceOrAdd(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: fields)),
                      promise: nil)
        if !body.isEmpty { channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }

    private static func makeRequest(_ head: HTTPRequestHead, _ body: ByteBuffer) -> LoopbackRequest {
        let target = head.uri
        let pathPart: Substring, queryPart: Substring?
        if let q = target.firstIndex(of: "?") {
            pathPart = target[..<q]
            queryPart = target[target.index(after: q)...]
        } else {
            pathPart = target[...]
            queryPart = nil
        }
        var query: [String: String] = [:]
        for pair in (queryPart ?? "").split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            query[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return LoopbackRequest(method: head.method.rawValue,
                               path: String(pathPart).removingPercentEncoding ?? String(pathPart),
                               query: query,
                               headers: head.headers.map { (name: $0.name, value: $0.value) },
                               body: Data(body.readableBytesView),
                               target: target)
    }
}

/// Open connections, so shutdown can close keep-alive sockets. The Mutex guards the dictionary.
final class ConnectionRegistry: Sendable {
    private let state = Mutex<(next: Int, channels: [Int: any Channel])>((0, [:]))

    func add(_ channel: any Channel) -> Int {
        state.withLock { s in
            s.next += 1
            s.channels[s.next] = channel
            return s.next
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.channels.removeValue(forKey: id) }
    }

    func closeAll() {
        let all = state.withLock { Array($0.channels.values) }
        for c in all { c.close(promise: nil) }
    }
}

/// A fake that answers a loopback server's requests.
protocol LoopbackFake: AnyObject, Sendable {
    func handle(_ request: LoopbackRequest) async -> LoopbackResponse
}

extension LoopbackServer {
    /// Starts a server and the fake that answers it. The fake owns the server (and needs its URL), so the server holds
    /// the fake weakly and answers 503 once it is gone.
    static func start<Fake: LoopbackFake>(serving makeFake: (LoopbackServer) -> Fake) async throws -> Fake {
        let box = WeakBox<Fake>()
        let server = try await start { request in
            guard let fake = box.value else { return .respond(status: 503) }
            return await fake.handle(request)
        }
        let fake = makeFake(server)
        box.set(fake)
        return fake
    }
}

/// A late-bound weak reference to the fake that owns a server (the server must exist before the fake knows its URL).
final class WeakBox<T: AnyObject & Sendable>: Sendable {
    private struct Ref: @unchecked Sendable { weak var value: T? }  // T is Sendable; the Mutex guards the reference.
    private let ref = Mutex(Ref())

    func set(_ value: T?) { ref.withLock { $0.value = value } }
    var value: T? { ref.withLock { $0.value } }
}
