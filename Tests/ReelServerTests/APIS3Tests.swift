import AsyncHTTPClient
import Foundation
import NIOCore
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// With S3-compatible storage (a real moto server on loopback): direct uploads through presigned URLs, and media
/// answered with a redirect to a presigned GET.
@Suite struct APIS3Tests {
    /// PUTs `data` where the API said to.
    static func put(_ data: Data, to upload: JSONValue) async throws -> Int {
        var request = HTTPClientRequest(url: try #require(upload["uploadUrl"]?.stringValue))
        request.method = .PUT
        for (name, value) in upload["headers"]?.objectValue ?? [:] { request.headers.add(name: name, value: value.stringValue ?? "") }
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    @Test func directUploadCompletesAndMediaRedirects() async throws {
        let mp3 = try await APIMedia.mp3()
        let moto = try await MotoFixture.shared()
        try await withAPIServer(s3: moto.config()) { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let ask = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(mp3.count)}
                """)
            #expect(ask.status == 201, "\(ask.text)")
            #expect(ask.json["method"] == "PUT")
            #expect(ask.json["expiresAt"]?.stringValue != nil)
            let assetId = try #require(ask.json["assetId"]?.stringValue)
            #expect(try await server.send(.POST, "/api/assets/\(assetId)/complete", key: key).isProblem(409), "nothing uploaded yet")
            #expect(try await server.send(.GET, "/api/assets/\(assetId)/file", key: key).isProblem(409), "pending")

            #expect(try await Self.put(mp3, to: ask.json) == 200)
            let done = try await server.send(.POST, "/api/assets/\(assetId)/complete", key: key)
            #expect(done.status == 200, "\(done.text)")
            #expect(done.json["status"] == "ready")
            #expect(done.json["kind"] == "audio")
            #expect((done.json["duration"]?.doubleValue ?? 0) > 1.5)
            #expect(done.json["sha256"]?.stringValue?.count == 64)

            let file = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key)
            #expect(file.status == 302)
            let location = try #require(file.headers.first(name: "Location"))
            #expect(location.hasPrefix(moto.endpoint.absoluteString))
            let fetched = try await HTTPClient.shared.execute(HTTPClientRequest(url: location), timeout: .seconds(60))
            #expect(fetched.status == .ok)
            #expect(Data(try await fetched.body.collect(upTo: 1 << 20).readableBytesView) == mp3)

            let (_, other) = try await server.user()
            #expect(try await server.send(.POST, "/api/assets/\(assetId)/complete", key: other).isProblem(404))
            #expect(try await server.send(.POST, "/api/assets/upload", key: other, json: """
                {"projectId": "\(project.uuidString)", "filename": "x.mp3", "contentType": "audio/mpeg", "size": 10}
                """).isProblem(404))
        }
    }

    @Test func rejectedDirectUploadLeavesNothing() async throws {
        let png = try await APIMedia.png()
        let moto = try await MotoFixture.shared()
        let config = moto.config()
        try await withAPIServer(s3: config) { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let bucket = S3ObjectStore(config: config, httpClient: HTTPClient.shared)
            // Text declared as a song.
            let text = Data(String(repeating: "not a song\n", count: 100).utf8)
            let ask = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(text.count)}
                """)
            let assetId = try #require(ask.json["assetId"]?.stringValue)
            #expect(try await Self.put(text, to: ask.json) == 200)
            let record = try #require(try await server.store.asset(id: UUID(uuidString: assetId)!, owner: user.id))
            #expect(try await bucket.head(record.storageKey) != nil)
            #expect(try await server.send(.POST, "/api/assets/\(assetId)/complete", key: key).isProblem(415))
            #expect(try await bucket.head(record.storageKey) == nil, "the object is deleted")
            #expect(try await server.send(.GET, "/api/assets/\(assetId)", key: key).isProblem(404), "and the record")

            // A real image declared as audio: the kinds differ.
            let ask2 = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(png.count)}
                """)
            let id2 = try #require(ask2.json["assetId"]?.stringValue)
            #expect(try await Self.put(png, to: ask2.json) == 200)
            #expect(try await server.send(.POST, "/api/assets/\(id2)/complete", key: key).isProblem(422))
            let list = try await server.send(.GET, "/api/projects/\(project)/assets", key: key)
            #expect(list.json["items"]?.arrayValue?.isEmpty == true)

            #expect(try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "a.txt", "contentType": "text/plain", "size": 10}
                """).isProblem(422))
            #expect(try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "big.mp4", "contentType": "video/mp4", "size": 999999999999}
                """).isProblem(413))
        }
    }
}
