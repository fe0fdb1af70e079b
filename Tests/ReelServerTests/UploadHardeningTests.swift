import AsyncHTTPClient
import Foundation
import NIOCore
import ReelCore
@testable import ReelServer
@testable import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// Uploads bounded however they arrive (multipart caps while streaming; direct uploads bound to their declared
/// length, validated from the very bytes they store, and swept when never completed), and leftovers of a crash
/// swept when the server starts.
@Suite struct UploadHardeningTests {
    static func multipart(boundary: String, parts: [(name: String, filename: String?, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            let filename = part.filename.map { "; filename=\"\($0)\"" } ?? ""
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"\(filename)\r\n\r\n".utf8)
            out += part.bytes
            out += Array("\r\n".utf8)
        }
        return out + Array("--\(boundary)--\r\n".utf8)
    }

    /// Sets a file's modification time `seconds` into the past.
    static func age(_ path: String, seconds: TimeInterval) throws {
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-seconds)], ofItemAtPath: path)
    }

    static func write(_ path: String, _ text: String = "x") throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: multipart caps

    @Test func chunkedBodyOverTheCapIsCutOffAndAnHonestChunkedUploadStillWorks() async throws {
        let mp3 = try await APIMedia.mp3()
        let dir = try Fixtures.temporaryDirectory("upload-caps")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var limits = ServiceLimits(maxAudioBytes: 256 << 10, maxImageBytes: 256 << 10, maxVideoBytes: 256 << 10,
                                   requestsPerMinuteOverride: 1_000_000)
        limits.multipartOverheadBytes = 1024
        let server = try await APITestServer.start(limits: limits, directory: dir)
        do {
            let (_, key, project) = try await server.userAndProject()
            let boundary = "b-\(UUID().uuidString)"
            // Every part within its own cap (file 250 KiB of 256, the other field 40 KiB of 64, two parts), the
            // whole body beyond the file cap plus 1 KiB.
            let body = Self.multipart(boundary: boundary, parts: [
                ("file", "a.mp3", [UInt8](repeating: 0xFF, count: 250 << 10)),
                ("note", nil, [UInt8](repeating: UInt8(ascii: "n"), count: 40 << 10)),
            ])
            let answer = try await server.chunkedUpload(project: project, key: key, boundary: boundary, body: body)
            #expect(answer?.status == 413, "\(answer?.status ?? 0) \(answer?.text ?? "no answer")")
            #expect(answer?.header("Content-Type")?.hasPrefix("application/problem+json") == true)
            #expect(answer?.text.contains("body") == true, "\(answer?.text ?? "")")

            // The same path with an honest file: accepted, without Content-Length.
            let good = try await server.chunkedUpload(project: project, key: key, boundary: boundary,
                                                      body: Self.multipart(boundary: boundary, parts: [("file", "song.mp3", Array(mp3))]))
            #expect(good?.status == 201, "\(good?.text ?? "no answer")")
            // Nothing of the refused upload is left in the scratch folder.
            let scratch = (try? FileManager.default.contentsOfDirectory(atPath: server.context.scratch)) ?? []
            #expect(scratch.isEmpty, "\(scratch)")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// Limits under which only the server's own close after a 413 can end a connection within a test's wait (an
    /// idle timeout would end it too, later).
    static var noIdleTimeout: ServiceLimits {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.idleTimeout = .seconds(3600)
        return limits
    }

    @Test func contentLengthOverTheCapIsRefusedBeforeTheBodyAndTheConnectionClosed() async throws {
        let dir = try Fixtures.temporaryDirectory("upload-length")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await APITestServer.start(limits: Self.noIdleTimeout, directory: dir)
        do {
            let (_, key, project) = try await server.userAndProject()
            let port = server.port
            let (answer, closed) = try await Blocking.run { () -> (RawHTTPResponse?, Bool) in
                let connection = try RawHTTPConnection(port: port)
                // The headers and the body's first bytes (Vapor hands a request on with its first body bytes): the
                // answer comes without the other 20 GiB, which are never sent.
                _ = connection.send("POST /api/projects/\(project.uuidString)/assets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Authorization: Bearer \(key)\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                    + "Content-Length: \(20 << 30)\r\n\r\n--x\r\n")
                let answer = connection.response(waiting: 60)
                // Kept open, the server would read and drop the other 20 GiB for as long as the client sends them.
                return (answer, connection.closedByPeer(waiting: 30))
            }
            #expect(answer?.status == 413, "\(answer?.text ?? "no answer")")
            #expect(answer?.header("Connection")?.contains("close") == true, "\(answer?.headers ?? [])")
            #expect(closed, "the server closes the connection after the 413")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func anEndlessChunkedPartHeaderIsCutOffAndTheConnectionClosed() async throws {
        try await withAPIServer(limits: Self.noIdleTimeout) { server in
            let (_, key, project) = try await server.userAndProject()
            let port = server.port
            let boundary = "endless-\(UUID().uuidString)"
            let (answer, closed) = try await Blocking.run { () -> (RawHTTPResponse?, Bool) in
                let connection = try RawHTTPConnection(port: port)
                _ = connection.send("POST /api/projects/\(project.uuidString)/assets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Authorization: Bearer \(key)\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n")
                _ = connection.send(RawHTTPConnection.chunk(Array(
                    "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nX-Padding: ".utf8)))
                // One header line that never ends, until the server answers or stops taking bytes (64 MiB at most).
                let filler = RawHTTPConnection.chunk([UInt8](repeating: UInt8(ascii: "a"), count: 16 << 10))
                var answer: RawHTTPResponse?
                while answer == nil, connection.bytesSent < 64 << 20 {
                    answer = connection.response(waiting: 0)
                    if answer == nil, !connection.send(filler) { answer = connection.response(waiting: 60) }
                }
                // Kept open, the socket would stay with the server (which no longer reads it) as long as the client likes.
                return (answer, connection.closedByPeer(waiting: 30))
            }
            #expect(answer?.status == 413, "\(answer?.status ?? 0) \(answer?.text ?? "no answer")")
            #expect(answer?.text.contains("headers") == true, "\(answer?.text ?? "")")
            #expect(closed, "the server closes the connection after the 413")
            // The server still answers on new connections.
            #expect(try await server.send(.GET, "/healthz").status == 200)
        }
    }

    @Test func aConnectionThatStallsMidRequestIsClosedAfterTheIdleTimeout() async throws {
        var limits = ServiceLimits(requestsPerMinuteOverride: 1_000_000)
        limits.idleTimeout = .seconds(1)
        try await withAPIServer(limits: limits) { server in
            let port = server.port
            let closed = try await Blocking.run { () -> Bool in
                let connection = try RawHTTPConnection(port: port)
                // Half a request head, then nothing (a slowloris client).
                _ = connection.send("POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                return connection.closedByPeer(waiting: 60)
            }
            #expect(closed, "the server closes a connection idle for longer than idleTimeout")
        }
    }

    // MARK: leftovers of a crash

    @Test func leftoversOfACrashAreSweptAtStartAndLiveFilesAreNot() async throws {
        let dir = try Fixtures.temporaryDirectory("upload-leftovers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scratch = dir + "/scratch", objects = dir + "/objects"
        let stalePart = scratch + "/upload-\(UUID().uuidString).part"
        let staleDownload = scratch + "/.upload-\(UUID().uuidString).download.get-0123456789ab"
        let livePart = scratch + "/upload-\(UUID().uuidString).part"
        let staleTemp = objects + "/assets/p1/.a.mp4.put-0123456789ab"
        let liveTemp = objects + "/assets/p1/.b.mp4.put-ba9876543210"
        let oldObject = objects + "/assets/p1/a.mp4"
        for path in [stalePart, staleDownload, livePart, staleTemp, liveTemp, oldObject] { try Self.write(path) }
        for path in [stalePart, staleDownload, staleTemp, oldObject] { try Self.age(path, seconds: 2 * 3600) }

        let server = try await APITestServer.start(directory: dir)
        let swept = await waitUntil(seconds: 60) {
            ![stalePart, staleDownload, staleTemp].contains { FileManager.default.fileExists(atPath: $0) }
        }
        await server.stop()
        #expect(swept, "leftovers older than the limit are removed when the server starts")
        for path in [livePart, liveTemp, oldObject] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path) is live (recent) or a stored object")
        }
    }

    @Test func aWorkerStartingSweepsTheJobFoldersOfDeadRunsOnly() async throws {
        let bench = try await WorkerBench.open("scratch-leftovers")
        do { try await sweepJobFolders(bench) } catch {
            await bench.close()
            throw error
        }
        await bench.close()
    }

    func sweepJobFolders(_ bench: WorkerBench) async throws {
        let project = try await bench.project(duration: 4, songSeconds: nil)
        let queued = try await bench.enqueue(project)
        // Claimed by "another process" that is still running it: attempt 1 is live.
        let running = try #require(try await bench.store.claimJob(worker: "elsewhere", lease: .seconds(600)))
        #expect(running.id == queued.id)
        let worker = try bench.worker("w")
        let root = bench.dir + "/work-w"
        let live = root + "/job-\(running.id.uuidString.lowercased())-\(running.attempts)"
        let earlierAttempt = root + "/job-\(running.id.uuidString.lowercased())-\(running.attempts - 1)"
        let unknownJob = root + "/job-\(UUID().uuidString.lowercased())-1"
        let other = root + "/notes.txt"
        for folder in [live, earlierAttempt, unknownJob] { try Self.write(folder + "/clips/scene-0.mp4") }
        try Self.write(other)

        await worker.removeLeftoverScratch()
        #expect(FileManager.default.fileExists(atPath: live + "/clips/scene-0.mp4"), "a run under way keeps its folder")
        #expect(!FileManager.default.fileExists(atPath: earlierAttempt), "a crashed attempt's folder goes")
        #expect(!FileManager.default.fileExists(atPath: unknownJob))
        #expect(FileManager.default.fileExists(atPath: other), "only job folders are touched")
    }

    // MARK: direct uploads (moto)

    @Test func directUploadIsBoundToItsDeclaredLength() async throws {
        let mp3 = try await APIMedia.mp3()
        let moto = try await MotoFixture.shared()
        let dir = try Fixtures.temporaryDirectory("direct-length")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bucket = S3ObjectStore(config: moto.config(), httpClient: HTTPClient.shared)
        try await bucket.ensureBucket()
        let server = try await APITestServer.start(directory: dir, objects: bucket)
        do {
            let (user, key, project) = try await server.userAndProject()
            let ask = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(mp3.count)}
                """)
            #expect(ask.status == 201, "\(ask.text)")
            let url = try #require(ask.json["uploadUrl"]?.stringValue)
            // S3 checks signed headers: a body of another length does not match the signature.
            #expect(url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"), "\(url)")
            #expect(ask.json["headers"]?["Content-Length"]?.stringValue == String(mp3.count))

            // moto does not check presigned signatures, so the longer body lands; `complete` refuses it.
            var put = HTTPClientRequest(url: url)
            put.method = .PUT
            put.headers.add(name: "Content-Type", value: "audio/mpeg")
            put.body = .bytes(ByteBuffer(bytes: mp3 + Data(repeating: 0, count: 4096)))
            let putAnswer = try await HTTPClient.shared.execute(put, timeout: .seconds(60))
            _ = try await putAnswer.body.collect(upTo: 1 << 20)
            let assetId = try #require(UUID(uuidString: ask.json["assetId"]?.stringValue ?? ""))
            let staging = try #require(try await server.store.asset(id: assetId, owner: user.id)).storageKey
            let done = try await server.send(.POST, "/api/assets/\(assetId)/complete", key: key)
            #expect(done.isProblem(422), "\(done.status) \(done.text)")
            #expect(done.text.contains("declared"))
            #expect(try await bucket.head(staging) == nil, "the staging object is gone")
            #expect(try await server.store.asset(id: assetId, owner: user.id) == nil, "and the record")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func staleDirectUploadsAndStrayStagingObjectsAreSwept() async throws {
        let mp3 = try await APIMedia.mp3()
        let moto = try await MotoFixture.shared()
        let dir = try Fixtures.temporaryDirectory("direct-sweep")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bucket = S3ObjectStore(config: moto.config(), httpClient: HTTPClient.shared)
        try await bucket.ensureBucket()
        let server = try await APITestServer.start(directory: dir, objects: bucket)
        do {
            let (user, key, project) = try await server.userAndProject()
            func ask() async throws -> (UUID, JSONValue) {
                let r = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                    {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(mp3.count)}
                    """)
                return (try #require(UUID(uuidString: r.json["assetId"]?.stringValue ?? "")), r.json)
            }
            // Never completed: uploaded but abandoned.
            let (abandoned, abandonedUpload) = try await ask()
            #expect(try await APIS3Tests.put(mp3, to: abandonedUpload) == 200)
            let abandonedKey = try #require(try await server.store.asset(id: abandoned, owner: user.id)).storageKey
            // Completed, then PUT again to its still-valid URL: a staging object nothing refers to.
            let (completed, completedUpload) = try await ask()
            #expect(try await APIS3Tests.put(mp3, to: completedUpload) == 200)
            #expect(try await server.send(.POST, "/api/assets/\(completed)/complete", key: key).status == 200)
            #expect(try await APIS3Tests.put(mp3, to: completedUpload) == 200)
            let stray = StagingKeys.key(project: project, asset: completed, kind: .audio)
            #expect(try await bucket.head(stray) != nil)
            let readyKey = try #require(try await server.store.asset(id: completed, owner: user.id)).storageKey

            let sweeper = LeftoverSweeper(services: server.context, logger: Logger(label: "test"))
            // Now: everything is younger than the limit, nothing goes.
            #expect(await sweeper.sweep().pendingUploads == 0)
            #expect(try await bucket.head(abandonedKey) != nil)
            // Two hours on (the limit is one hour): the abandoned upload and the stray object go, the asset stays.
            let later = await sweeper.sweep(now: Date().addingTimeInterval(2 * 3600))
            #expect(later.pendingUploads == 1)
            #expect(later.stagingObjects >= 1)
            #expect(try await bucket.head(abandonedKey) == nil)
            #expect(try await server.store.asset(id: abandoned, owner: user.id) == nil)
            #expect(try await bucket.head(stray) == nil)
            #expect(try await bucket.head(readyKey) != nil)
            #expect(try await server.store.asset(id: completed, owner: user.id)?.status == "ready")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// An object store that, the moment `complete` has downloaded the staging object, PUTs other bytes to the
    /// presigned URL: the race a second upload after validation would win if the store re-read the staging key.
    final class ReplacingStore: ObjectStore, @unchecked Sendable {
        let inner: S3ObjectStore
        let lock = NSLock()
        var replacement: (url: String, bytes: Data)?

        init(_ inner: S3ObjectStore) { self.inner = inner }

        func put(_ key: String, fromFile path: String, contentType: String) async throws {
            try await inner.put(key, fromFile: path, contentType: contentType)
        }
        func get(_ key: String, toFile path: String) async throws {
            try await inner.get(key, toFile: path)
            guard key.hasPrefix(StagingKeys.prefix), let replacement = lock.withLock({ self.replacement }) else { return }
            var put = HTTPClientRequest(url: replacement.url)
            put.method = .PUT
            put.headers.add(name: "Content-Type", value: "audio/mpeg")
            put.body = .bytes(ByteBuffer(bytes: replacement.bytes))
            let answer = try await HTTPClient.shared.execute(put, timeout: .seconds(60))
            _ = try await answer.body.collect(upTo: 1 << 20)
        }
        func head(_ key: String) async throws -> ObjectInfo? { try await inner.head(key) }
        func delete(_ key: String) async throws { try await inner.delete(key) }
        func presignedGet(_ key: String, expires: Duration) async throws -> URL? { try await inner.presignedGet(key, expires: expires) }
        func presignedPut(_ key: String, contentType: String, contentLength: Int64, expires: Duration) async throws -> URL? {
            try await inner.presignedPut(key, contentType: contentType, contentLength: contentLength, expires: expires)
        }
        func keys(under prefix: String, writtenBefore date: Date) async throws -> [String] {
            try await inner.keys(under: prefix, writtenBefore: date)
        }
        func removeUnfinishedWrites(startedBefore date: Date) async throws -> Int {
            try await inner.removeUnfinishedWrites(startedBefore: date)
        }
    }

    @Test func aReplacementAfterValidationNeverLandsInTheAsset() async throws {
        let mp3 = try await APIMedia.mp3()
        let moto = try await MotoFixture.shared()
        let dir = try Fixtures.temporaryDirectory("direct-replace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bucket = S3ObjectStore(config: moto.config(), httpClient: HTTPClient.shared)
        try await bucket.ensureBucket()
        let racing = ReplacingStore(bucket)
        let server = try await APITestServer.start(directory: dir, objects: racing)
        do {
            let (user, key, project) = try await server.userAndProject()
            let ask = try await server.send(.POST, "/api/assets/upload", key: key, json: """
                {"projectId": "\(project.uuidString)", "filename": "song.mp3", "contentType": "audio/mpeg", "size": \(mp3.count)}
                """)
            let assetId = try #require(UUID(uuidString: ask.json["assetId"]?.stringValue ?? ""))
            #expect(try await APIS3Tests.put(mp3, to: ask.json) == 200)
            // Same length, not media: it would be refused had it been checked.
            let hostile = Data(String(repeating: "#EXTM3U\n", count: mp3.count / 8 + 1).utf8.prefix(mp3.count))
            let url = try #require(ask.json["uploadUrl"]?.stringValue)
            racing.lock.withLock { racing.replacement = (url, hostile) }

            let done = try await server.send(.POST, "/api/assets/\(assetId)/complete", key: key)
            #expect(done.status == 200, "\(done.text)")
            let asset = try #require(try await server.store.asset(id: assetId, owner: user.id))
            #expect(asset.status == "ready")
            #expect(!asset.storageKey.hasPrefix(StagingKeys.prefix))
            let out = dir + "/stored.mp3"
            try await bucket.get(asset.storageKey, toFile: out)
            let stored = try Data(contentsOf: URL(fileURLWithPath: out))
            #expect(stored == mp3, "the asset holds the bytes that were validated")
            #expect(asset.sha256 == ContentHash.sha256(mp3))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension APITestServer {
    /// A user with a project.
    func userAndProject() async throws -> (user: User, key: String, project: UUID) {
        let (user, key) = try await self.user()
        return (user, key, try await project(key: key))
    }

    /// Sends `body` as a chunked multipart upload (no `Content-Length`) on a bare socket and reads the answer.
    func chunkedUpload(project: UUID, key: String, boundary: String, body: [UInt8]) async throws -> RawHTTPResponse? {
        try await chunkedUploadWatchingClose(project: project, key: key, boundary: boundary, body: body, closeWait: 0).response
    }

    /// The same, also answering whether the server closed the connection after its answer (waiting up to
    /// `closeWait` seconds for it).
    func chunkedUploadWatchingClose(project: UUID, key: String, boundary: String, body: [UInt8],
                                    closeWait: Double) async throws -> (response: RawHTTPResponse?, closed: Bool) {
        let port = self.port
        return try await Blocking.run {
            let connection = try RawHTTPConnection(port: port)
            _ = connection.send("POST /api/projects/\(project.uuidString)/assets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Authorization: Bearer \(key)\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n")
            var offset = 0
            while offset < body.count {
                let end = min(offset + (32 << 10), body.count)
                guard connection.send(RawHTTPConnection.chunk(Array(body[offset..<end]))) else { break }
                offset = end
            }
            if offset == body.count { _ = connection.send("0\r\n\r\n") }
            let response = connection.response(waiting: 60)
            return (response, closeWait > 0 && connection.closedByPeer(waiting: closeWait))
        }
    }
}
