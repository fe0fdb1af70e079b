import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ReelCore

/// An error of the loopback servers or of `LoopbackClient`.
public struct LoopbackError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A response read by `LoopbackClient`.
public struct LoopbackHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
    /// The body parsed as JSON, or nil.
    public var json: JSONValue? { try? JSONValue.parse(body) }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A minimal HTTP/1.1 client on plain SwiftNIO: one connection per request (`Connection: close`), `http://` only.
/// The fakes deliver webhooks with it; tests may use it to talk to the fakes. It throws when the connection is
/// closed before a complete response (a dropped or truncated answer), and on timeout.
public enum LoopbackClient {
    public static func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: Data = Data(),
                            timeout: Double = 30) async throws -> LoopbackHTTPResponse {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            throw LoopbackError("LoopbackClient: not an http URL: \(url)")
        }
        let port = components.port ?? 80
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let q = components.percentEncodedQuery { target += "?" + q }

        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let raw = channel.channel
        var fields = HTTPHeaders(headers)
        if !fields.contains(name: "Host") { fields.add(name: "Host", value: "\(host):\(port)") }
        fields.replaceOrAdd(name: "Content-Length", value: String(body.count))
        fields.replaceOrAdd(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method.uppercased()), uri: target, headers: fields)

        return try await withThrowingTaskGroup(of: LoopbackHTTPResponse?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(.head(head))
                    if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                    var status = 0
                    var responseHeaders: [(name: String, value: String)] = []
                    var data = ByteBuffer()
                    for try await part in inbound {
                        switch part {
                        case .head(let h):
                            // 1xx informational answers are skipped.
                            if h.status.code >= 100 && h.status.code < 200 { continue }
                            status = Int(h.status.code)
                            responseHeaders = h.headers.map { (name: $0.name, value: $0.value) }
                        case .body(var chunk):
                            data.writeBuffer(&chunk)
                        case .end:
                            let response = LoopbackHTTPResponse(status: status, headers: responseHeaders,
                                                                body: Data(data.readableBytesView))
                            if let length = response.header("Content-Length").flatMap(Int.init), length != response.body.count {
                                throw LoopbackError("LoopbackClient: body of \(response.body.count) bytes, Content-Length \(length)")
                            }
                            return response
                        }
                    }
                    throw LoopbackError("LoopbackClient: connection closed before a complete response (\(method) \(url))")
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return nil
            }
            defer {
                group.cancelAll()
                raw.close(promise: nil)
            }
            while let next = try await group.next() {
                if let response = next { return response }
                throw LoopbackError("LoopbackClient: no response within \(timeout) s (\(method) \(url))")
            }
            throw LoopbackError("LoopbackClient: no response")
        }
    }

    /// Sends a JSON body.
    public static func sendJSON(_ method: String, _ url: String, _ value: JSONValue, headers: [(String, String)] = [],
                                timeout: Double = 30) async throws -> LoopbackHTTPResponse {
        try await send(method, url, headers: [("Content-Type", "application/json")] + headers, body: value.canonicalData(),
                       timeout: timeout)
    }
}
