import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// Uploads (streamed, judged by content, limits), media with ranges, deletion.
@Suite struct APIAssetTests {
    @Test func uploadListServeWithRangesAndDelete() async throws {
        let mp3 = try await APIMedia.mp3()
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let up = try await server.upload(projectId: project, key: key, data: mp3, filename: "../../My Song.mp3", contentType: "audio/mpeg")
            #expect(up.status == 201, "\(up.text)")
            let asset = up.json
            let assetId = try #require(asset["id"]?.stringValue)
            #expect(asset["kind"] == "audio")
            #expect(asset["contentType"] == "audio/mpeg")
            #expect(asset["filename"] == "My Song.mp3", "display name only, no path")
            #expect(asset["size"] == .number(Double(mp3.count)))
            #expect(asset["status"] == "ready")
            #expect((asset["duration"]?.doubleValue ?? 0) > 1.5)
            #expect(asset["sha256"]?.stringValue?.count == 64)
            // Stored under a generated key, never the user's name; the scratch folder is empty again.
            let files = server.storedFiles()
            #expect(files.count == 1)
            #expect(files.first?.hasPrefix("assets/\(project.uuidString.lowercased())/") == true)
            #expect(files.first?.hasSuffix(".mp3") == true)
            #expect(!(files.first ?? "").contains("Song"))

            let list = try await server.send(.GET, "/api/projects/\(project)/assets", key: key)
            #expect(list.json["items"]?.arrayValue?.map { $0["id"]?.stringValue } == [assetId])
            #expect(try await server.send(.GET, "/api/assets/\(assetId)", key: key).json["id"]?.stringValue == assetId)

            let whole = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key)
            #expect(whole.status == 200)
            #expect(whole.body == mp3)
            #expect(whole.headers.first(name: "Accept-Ranges") == "bytes")
            #expect(whole.headers.first(name: "Content-Type") == "audio/mpeg")

            let range = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key, headers: [("Range", "bytes=100-199")])
            #expect(range.status == 206)
            #expect(range.body == mp3.subdata(in: 100..<200))
            #expect(range.headers.first(name: "Content-Range") == "bytes 100-199/\(mp3.count)")
            let tail = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key, headers: [("Range", "bytes=-10")])
            #expect(tail.status == 206)
            #expect(tail.body == mp3.suffix(10))
            let outside = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key,
                                                headers: [("Range", "bytes=\(mp3.count + 10)-\(mp3.count + 20)")])
            #expect(outside.isProblem(416))
            #expect(try await server.send(.GET, "/api/assets/\(assetId)/file", key: key, headers: [("Range", "")]).status == 200)
            for bad in ["{}", "bytes=0-1,5-6", "items=0-5", "bytes="] {
                let r = try await server.send(.GET, "/api/assets/\(assetId)/file", key: key, headers: [("Range", bad)])
                #expect(r.isProblem(400), "Range '\(bad)': \(r.status)")
            }

            let (_, other) = try await server.user()
            #expect(try await server.send(.GET, "/api/assets/\(assetId)", key: other).isProblem(404))
            #expect(try await server.send(.GET, "/api/assets/\(assetId)/file", key: other).isProblem(404))
            #expect(try await server.send(.DELETE, "/api/assets/\(assetId)", key: other).isProblem(404))
            #expect(try await server.upload(projectId: project, key: other, data: mp3, filename: "x.mp3").isProblem(404))

            #expect(try await server.send(.DELETE, "/api/assets/\(assetId)", key: key).status == 204)
            #expect(server.storedFiles().isEmpty)
            #expect(try await server.send(.GET, "/api/assets/\(assetId)", key: key).isProblem(404))

            // Deleting a project deletes its stored files too.
            #expect(try await server.upload(projectId: project, key: key, data: mp3, filename: "again.mp3").status == 201)
            #expect(server.storedFiles().count == 1)
            #expect(try await server.send(.DELETE, "/api/projects/\(project)", key: key).status == 204)
            #expect(server.storedFiles().isEmpty)
        }
    }

    @Test func kindComesFromContentNotName() async throws {
        let png = try await APIMedia.png()
        let mp4 = try await APIMedia.mp4()
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let image = try await server.upload(projectId: project, key: key, data: png, filename: "song.mp3", contentType: "audio/mpeg")
            #expect(image.status == 201)
            #expect(image.json["kind"] == "image")
            #expect(image.json["contentType"] == "image/png")
            #expect(image.json["width"] == 64)
            #expect(image.json["height"] == 48)
            let video = try await server.upload(projectId: project, key: key, data: mp4, filename: "notes.txt")
            #expect(video.status == 201)
            #expect(video.json["kind"] == "video")
            #expect(video.json["contentType"] == "video/mp4")
            #expect(server.storedFiles().sorted().map { ($0 as NSString).pathExtension }.sorted() == ["mp4", "png"])
        }
    }

    @Test func mislabelledUploadLeavesNothing() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let text = Data(String(repeating: "this is not a song, just words\n", count: 200).utf8)
            let r = try await server.upload(projectId: project, key: key, data: text, filename: "song.mp3", contentType: "audio/mpeg")
            #expect(r.isProblem(415), "\(r.status) \(r.text)")
            // A playlist would make ffprobe read other files: refused before ffprobe sees it.
            let playlist = Data("#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n".utf8)
            #expect(try await server.upload(projectId: project, key: key, data: playlist, filename: "a.m3u8").isProblem(415))
            // A real header on garbage: ffprobe says no.
            var fake = Data("ID3".utf8); fake.append(Data(repeating: 0x41, count: 5000))
            #expect(try await server.upload(projectId: project, key: key, data: fake, filename: "b.mp3").status / 100 == 4)
            #expect(try await server.upload(projectId: project, key: key, data: Data(), filename: "empty.mp3").isProblem(422))
            #expect(server.storedFiles().isEmpty)
            let list = try await server.send(.GET, "/api/projects/\(project)/assets", key: key)
            #expect(list.json["items"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func oversizeAndMalformedUploads() async throws {
        let mp3 = try await APIMedia.mp3(seconds: 3)
        let png = try await APIMedia.png()
        let limits = ServiceLimits(maxAudioBytes: 8_000, maxImageBytes: 100, maxVideoBytes: 8_000, requestsPerMinuteOverride: 1_000_000)
        try await withAPIServer(limits: limits) { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            // Cut off while streaming: larger than every kind's limit.
            let big = try await server.upload(projectId: project, key: key, data: mp3 + mp3 + mp3, filename: "big.mp3")
            #expect(big.isProblem(413), "\(big.status) \(big.text)")
            // Under the stream cut-off but over the limit of its kind.
            #expect(png.count > 100)
            #expect(try await server.upload(projectId: project, key: key, data: png, filename: "p.png").isProblem(413))
            #expect(server.storedFiles().isEmpty)

            let noFile = try await server.upload(projectId: project, key: key, data: png, filename: "p.png", field: "picture")
            #expect(noFile.isProblem(422))
            let notMultipart = try await server.send(.POST, "/api/projects/\(project)/assets", key: key, json: #"{"file": "x"}"#)
            #expect(notMultipart.isProblem(415))
            let badBoundary = try await server.send(.POST, "/api/projects/\(project)/assets", key: key, body: Data("garbage".utf8),
                                                    headers: [("Content-Type", "multipart/form-data")])
            #expect(badBoundary.isProblem(415))
            #expect(server.storedFiles().isEmpty)
        }
    }

    @Test func directUploadsNeedS3() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let r = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": 1000}
                """)
            #expect(r.isProblem(409))
            let missing = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(UUID().uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": 1000}
                """)
            #expect(missing.isProblem(404))
            #expect(try await server.send(.POST, "/api/assets/upload", key: key, json: #"{"projectId": 1}"#).isProblem(400))
            #expect(try await server.send(.POST, "/api/assets/\(UUID().uuidString)/complete", key: key).isProblem(404))
        }
    }
}
