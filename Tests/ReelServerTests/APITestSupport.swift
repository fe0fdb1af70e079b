import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReelCore
import ReelMedia
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Vapor

/// A real API server on a loopback port over a fresh SQLite file and a local object folder, for route tests.
struct APITestServer {
    let app: Application
    let port: Int
    let database: ServiceDatabase
    let store: ServiceStore
    /// The folder `<directory>/objects` (the server's object store unless `start` was given another).
    let objects: LocalObjectStore
    let context: ServiceContext
    let directory: String
    let scratch: String
    /// False when the caller gave the directory: it stays after `stop` (the caller looks in it, then removes it).
    let ownsDirectory: Bool

    var base: String { "http://127.0.0.1:\(port)" }

    /// Rate limits are raised out of the way unless a test sets its own. With `s3`, objects live in a fresh bucket
    /// there; with `objects`, in that store. With `directory`, the server runs over that folder (a test puts files in
    /// place before it starts).
    static func start(limits: ServiceLimits = ServiceLimits(requestsPerMinuteOverride: 1_000_000),
                      s3: S3Config? = nil, directory: String? = nil,
                      objects given: (any ObjectStore)? = nil) async throws -> APITestServer {
        let dir = try directory ?? Fixtures.temporaryDirectory("api")
        let database = try await ServiceDatabase.open(.sqlite(path: (dir as NSString).appendingPathComponent("reelsmith.sqlite")))
        let store = ServiceStore(database: database)
        let objects = LocalObjectStore(root: (dir as NSString).appendingPathComponent("objects"))
        try FileManager.default.createDirectory(atPath: objects.root.path, withIntermediateDirectories: true)
        let scratch = (dir as NSString).appendingPathComponent("scratch")
        let app = try await Application.make(.testing)
        let context: ServiceContext
        do {
            app.logger.logLevel = .warning
            if let s3 {
                let bucket = S3ObjectStore(config: s3, httpClient: HTTPClient.shared)
                try await bucket.ensureBucket()
                context = ServiceContext(store: store, objects: bucket, localObjects: nil, limits: limits, scratch: scratch)
            } else if let given {
                context = ServiceContext(store: store, objects: given, localObjects: nil, limits: limits, scratch: scratch)
            } else {
                context = ServiceContext(store: store, objects: objects, localObjects: objects, limits: limits, scratch: scratch)
            }
            try configure(app, services: context)
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
        } catch {
            try? await app.asyncShutdown()
            await database.shutdown()
            throw error
        }
        guard let port = app.http.server.shared.localAddress?.port else { throw ReelError(.internalError, "no port") }
        return APITestServer(app: app, port: port, database: database, store: store, objects: objects, context: context,
                             directory: dir, scratch: scratch, ownsDirectory: directory == nil)
    }

    func stop() async {
        app.closeLiveStreams()
        await app.server.shutdown()
        try? await app.asyncShutdown()
        await database.shutdown()
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// A user and its key.
    func user(_ name: String = "u\(UUID().uuidString.prefix(8))") async throws -> (user: User, key: String) {
        try await store.createUser(name: name)
    }

    /// A client that shows redirects instead of following them; it lives as long as the test process.
    static let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                   configuration: .init(redirectConfiguration: .disallow))

    /// Sends one request and collects the answer.
    func send(_ method: NIOHTTP1.HTTPMethod, _ path: String, key: String? = nil, json: String? = nil, body: Data? = nil,
              headers: [(String, String)] = []) async throws -> APIResponse {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return APIResponse(status: Int(response.status.code), headers: response.headers, body: Data(collected.readableBytesView))
    }

    /// `multipart/form-data` with one part named `file` (or `field`).
    func upload(projectId: UUID, key: String?, data: Data, filename: String, contentType: String = "application/octet-stream",
                field: String = "file") async throws -> APIResponse {
        let boundary = "----reelsmith-test-\(UUID().uuidString)"
        var body = Data()
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        return try await send(.POST, "/api/projects/\(projectId.uuidString)/assets", key: key, body: body,
                              headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")])
    }

    /// Creates a project through the API and answers its id.
    func project(key: String, prompt: String = "neon city at night") async throws -> UUID {
        let r = try await send(.POST, "/api/projects", key: key, json: #"{"prompt": "\#(prompt)", "duration": 10}"#)
        guard r.status == 201, let id = UUID(uuidString: r.json["id"]?.stringValue ?? "") else {
            throw ReelError(.internalError, "project create failed: \(r.status) \(r.text)")
        }
        return id
    }

    /// Every file under the object folder and the scratch folder (to check that nothing was left behind).
    func storedFiles() -> [String] {
        var out: [String] = []
        for root in [objects.root.path, scratch] {
            guard let e = FileManager.default.enumerator(atPath: root) else { continue }
            for case let p as String in e {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent(p), isDirectory: &isDir), !isDir.boolValue {
                    out.append(p)
                }
            }
        }
        return out
    }
}

/// A collected HTTP answer.
struct APIResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue { (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .null }
    var contentType: String { headers.first(name: "Content-Type") ?? "" }

    /// True for an RFC 9457 problem with the given status.
    func isProblem(_ status: Int) -> Bool {
        guard self.status == status, contentType.hasPrefix("application/problem+json"), case .object(let o) = json else { return false }
        return o["status"] == .number(Double(status)) && o["type"]?.stringValue != nil && o["title"]?.stringValue != nil
            && o["detail"]?.stringValue != nil
    }
}

/// Runs `body` with a fresh server and always stops it.
func withAPIServer(limits: ServiceLimits = ServiceLimits(requestsPerMinuteOverride: 1_000_000), s3: S3Config? = nil,
                   _ body: (APITestServer) async throws -> Void) async throws {
    let server = try await APITestServer.start(limits: limits, s3: s3)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Media made with ffmpeg for upload tests, made once per process.
enum APIMedia {
    static func make(_ name: String, _ arguments: [String]) async throws -> Data {
        let dir = try Fixtures.temporaryDirectory("media")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent(name)
        try await Fixtures.ffmpeg(arguments + [path])
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
    static func mp3(seconds: Double = 2) async throws -> Data {
        try await make("song.mp3", ["-f", "lavfi", "-i", "sine=f=440:d=\(seconds):sample_rate=44100", "-c:a", "libmp3lame", "-b:a", "64k"])
    }
    static func png() async throws -> Data {
        try await make("still.png", ["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1"])
    }
    static func mp4() async throws -> Data {
        try await make("clip.mp4", ["-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=1", "-c:v", "libx264", "-preset", "ultrafast",
                                    "-pix_fmt", "yuv420p"])
    }
}

/// A small valid plan of `count` two-second scenes.
func apiPlan(scenes count: Int = 3) -> Plan {
    let brief = Brief(prompt: "neon city", category: .musicVideo, aspect: .landscape, preset: .draft, mode: .classic,
                      subjects: ["neon city"], style: [], mood: [], palette: Palette(name: "test", colors: []), energy: 0.5,
                      pacing: .moderate, duration: Double(count * 2))
    let scenes = (0..<count).map { i in
        Scene(index: i, start: Double(i * 2), end: Double(i * 2 + 2), prompt: "scene \(i)", content: "neon city", role: .build,
              energy: 0.5, reason: "test", transition: i + 1 < count ? .cut : nil, source: .procedural)
    }
    return Plan(brief: brief, seed: 42, songStart: 0, duration: Double(count * 2), tempo: 120, scenes: scenes)
}
