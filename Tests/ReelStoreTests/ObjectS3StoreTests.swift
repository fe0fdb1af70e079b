import AsyncHTTPClient
import Foundation
import NIOCore
import ReelCore
@testable import ReelStore
import ReelTestSupport
import Testing

/// The S3 store against a real S3-compatible server on loopback (moto). The round trips run against the moto that
/// checks every signature with botocore, so they prove the hand-written signer too.
@Suite struct ObjectStoreS3Tests {
    func scratch() throws -> String { try Fixtures.temporaryDirectory("s3") }

    /// A file of `count` pseudo-random bytes (a fixed seed, so a mismatch is reproducible).
    func randomFile(_ count: Int, in dir: String, name: String, seed: UInt64 = 1) throws -> (String, Data) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8](repeating: 0, count: count)
        for i in bytes.indices {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            bytes[i] = UInt8(truncatingIfNeeded: state)
        }
        let path = (dir as NSString).appendingPathComponent(name)
        let data = Data(bytes)
        try data.write(to: URL(fileURLWithPath: path))
        return (path, data)
    }

    func store(_ server: MotoServer, multipartThreshold: Int64 = S3Config.defaultMultipartThreshold,
               partSize: Int64 = S3Config.defaultPartSize) async throws -> S3ObjectStore {
        let store = S3ObjectStore(config: server.config(multipartThreshold: multipartThreshold, partSize: partSize),
                                  httpClient: HTTPClient.shared)
        try await store.ensureBucket()
        try await store.ensureBucket()  // a second time is fine
        return store
    }

    @Test func putGetHeadDeleteRoundTrip() async throws {
        let server = try await MotoFixture.authenticating()
        #expect(server.checksSignatures)
        let store = try await store(server)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, bytes) = try randomFile(700_001, in: dir, name: "clip.mp4")
        let key = "assets/0b6c7d1e/clip-2.mp4"

        try await store.put(key, fromFile: source, contentType: "video/mp4")
        let info = try #require(try await store.head(key))
        #expect(info.size == Int64(bytes.count))
        #expect(info.contentType == "video/mp4")

        let out = (dir as NSString).appendingPathComponent("back/clip.mp4")
        try await store.get(key, toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: (dir as NSString).appendingPathComponent("back")) == ["clip.mp4"])

        // Replace with something smaller, and an empty object.
        let (smaller, smallBytes) = try randomFile(1234, in: dir, name: "small.json", seed: 2)
        try await store.put(key, fromFile: smaller, contentType: "application/json")
        try await store.get(key, toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == smallBytes)
        #expect(try await store.head(key)?.contentType == "application/json")
        let empty = (dir as NSString).appendingPathComponent("empty.txt")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        try await store.put("notes/empty.txt", fromFile: empty, contentType: "text/plain")
        #expect(try await store.head("notes/empty.txt")?.size == 0)
        try await store.get("notes/empty.txt", toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)).isEmpty)

        try await store.delete(key)
        #expect(try await store.head(key) == nil)
        try await store.delete(key)  // a missing key is fine
        let error = await #expect(throws: ReelError.self) { try await store.get(key, toFile: out) }
        #expect(error?.code == .fileNotFound)
    }

    @Test func multipartUploadOfTwelveMiB() async throws {
        let server = try await MotoFixture.authenticating()
        let store = try await store(server, multipartThreshold: 5 << 20, partSize: 5 << 20)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, bytes) = try randomFile(12 << 20 | 12_345, in: dir, name: "render.mp4", seed: 3)
        let key = "jobs/5e2a/output.mp4"

        try await store.put(key, fromFile: source, contentType: "video/mp4")
        // A multipart object's ETag ends in "-<number of parts>": 5 + 5 + 2.x MiB is three parts.
        let head = try await store.send(.HEAD, key: key, operation: "HEAD")
        await store.drain(head)
        let etag = try #require(head.headers.first(name: "etag"))
        #expect(etag.hasSuffix("-3\""), "ETag \(etag)")
        #expect(try await store.head(key)?.size == Int64(bytes.count))
        #expect(try await store.head(key)?.contentType == "video/mp4")

        let out = (dir as NSString).appendingPathComponent("out.mp4")
        try await store.get(key, toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes)
        #expect(try await store.pendingMultipartUploads().isEmpty)
    }

    @Test func failedMultipartUploadIsAborted() async throws {
        // Parts under S3's 5 MiB minimum: every part is accepted, then completing fails (EntityTooSmall). The upload
        // must be aborted and no object appear.
        let server = try await MotoFixture.shared()
        let store = try await store(server, multipartThreshold: 1 << 20, partSize: 1 << 20)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, _) = try randomFile(3 << 20, in: dir, name: "big.mp4", seed: 4)

        let error = await #expect(throws: ReelError.self) {
            try await store.put("jobs/x/big.mp4", fromFile: source, contentType: "video/mp4")
        }
        #expect(error?.code == .storageFailed)
        #expect(error?.message.contains("EntityTooSmall") == true, "\(error?.message ?? "")")
        #expect(try await store.head("jobs/x/big.mp4") == nil)
        #expect(try await store.pendingMultipartUploads().isEmpty)
    }

    @Test func cancelledMultipartUploadIsAborted() async throws {
        let server = try await MotoFixture.shared()
        var config = server.config(multipartThreshold: 5 << 20, partSize: 5 << 20)
        config.partConcurrency = 1
        let store = S3ObjectStore(config: config, httpClient: HTTPClient.shared)
        try await store.ensureBucket()
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, _) = try randomFile(30 << 20, in: dir, name: "long.mp4", seed: 7)

        let upload = Task { try await store.put("jobs/c/long.mp4", fromFile: source, contentType: "video/mp4") }
        // Cancel once the multipart upload exists (a bounded wait for it, not a timing assertion).
        var begun = false
        for _ in 0..<1500 where !begun {
            begun = try await !store.pendingMultipartUploads().isEmpty
            if !begun { try await Task.sleep(for: .milliseconds(20)) }
        }
        upload.cancel()
        let result = await upload.result
        let completed: Bool
        do { try result.get(); completed = true } catch { completed = false; #expect(error is CancellationError, "\(error)") }
        #expect(begun || completed)
        if !completed { #expect(try await store.head("jobs/c/long.mp4") == nil) }
        // Either way no unfinished upload is left: a cancelled one was aborted.
        #expect(try await store.pendingMultipartUploads().isEmpty)
    }

    @Test func presignedPutThenGetWithAPlainClient() async throws {
        let server = try await MotoFixture.shared()
        let store = try await store(server)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, bytes) = try randomFile(200_000, in: dir, name: "song.mp3", seed: 5)
        let key = "assets/77aa/song.mp3"

        let putURL = try #require(try await store.presignedPut(key, contentType: "audio/mpeg", contentLength: Int64(bytes.count), expires: .seconds(600)))
        #expect(putURL.absoluteString.hasPrefix("\(server.endpoint.absoluteString)/\(store.config.bucket)/\(key)?"))
        #expect(putURL.absoluteString.contains("X-Amz-Expires=600"))
        #expect(putURL.absoluteString.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"))
        #expect(!putURL.absoluteString.contains(server.secretAccessKey))

        // No credentials: only the URL.
        var put = HTTPClientRequest(url: putURL.absoluteString)
        put.method = .PUT
        put.headers.add(name: "content-type", value: "audio/mpeg")
        put.body = .bytes(ByteBuffer(bytes: bytes))
        let putResponse = try await HTTPClient.shared.execute(put, timeout: .seconds(30))
        _ = try await putResponse.body.collect(upTo: 1 << 20)
        #expect(putResponse.status.code == 200)

        let info = try #require(try await store.head(key))
        #expect(info.size == Int64(bytes.count))
        #expect(info.contentType == "audio/mpeg")

        let getURL = try #require(try await store.presignedGet(key, expires: .seconds(300)))
        #expect(getURL.absoluteString.contains("X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="))
        let getResponse = try await HTTPClient.shared.execute(HTTPClientRequest(url: getURL.absoluteString), timeout: .seconds(30))
        let body = try await getResponse.body.collect(upTo: 4 << 20)
        #expect(getResponse.status.code == 200)
        #expect(Data(body.readableBytesView) == bytes)

        let out = (dir as NSString).appendingPathComponent("song-back.mp3")
        try await store.get(key, toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes)
    }

    @Test func wrongSecretIsAClearErrorWithoutTheSecret() async throws {
        let server = try await MotoFixture.authenticating()
        let good = try await store(server)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, _) = try randomFile(5000, in: dir, name: "a.png", seed: 6)
        try await good.put("assets/a.png", fromFile: source, contentType: "image/png")

        let wrongSecret = "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecret12"
        let bad = S3ObjectStore(config: server.config(bucket: good.config.bucket, secretAccessKey: wrongSecret),
                                httpClient: HTTPClient.shared)
        let putError = await #expect(throws: ReelError.self) {
            try await bad.put("assets/b.png", fromFile: source, contentType: "image/png")
        }
        #expect(putError?.code == .storageAuth)
        #expect(putError?.message.contains("SignatureDoesNotMatch") == true, "\(putError?.message ?? "")")
        #expect(putError?.message.contains("S3_SECRET_ACCESS_KEY") == true)
        let getError = await #expect(throws: ReelError.self) {
            try await bad.get("assets/a.png", toFile: (dir as NSString).appendingPathComponent("x.png"))
        }
        #expect(getError?.code == .storageAuth)
        // HEAD answers carry no body: the status alone says what went wrong.
        let headError = await #expect(throws: ReelError.self) { _ = try await bad.head("assets/a.png") }
        #expect(headError?.code == .storageAuth)
        let bucketError = await #expect(throws: ReelError.self) { try await bad.ensureBucket() }
        #expect(bucketError?.code == .storageAuth)

        for error in [putError, getError, headError, bucketError].compactMap({ $0 }) {
            for text in [error.message, error.description, String(describing: error), "\(error.localizedDescription)"] {
                #expect(!text.contains(wrongSecret))
                #expect(!text.contains(server.secretAccessKey))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("x.png")))
        // The good key still works after all that.
        #expect(try await good.head("assets/a.png")?.size == 5000)
    }

    @Test func missingObjectIsFileNotFound() async throws {
        let server = try await MotoFixture.shared()
        let store = try await store(server)
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = (dir as NSString).appendingPathComponent("nothing.mp4")
        let error = await #expect(throws: ReelError.self) { try await store.get("jobs/none/output.mp4", toFile: out) }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("jobs/none/output.mp4") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no partial or temporary file")
        #expect(try await store.head("jobs/none/output.mp4") == nil)
        try await store.delete("jobs/none/output.mp4")

        // A bucket that does not exist is a configuration error, not a missing object.
        let noBucket = S3ObjectStore(config: server.config(bucket: "reel-missing-bucket"), httpClient: HTTPClient.shared)
        let bucketError = await #expect(throws: ReelError.self) { try await noBucket.get("a.mp4", toFile: out) }
        #expect(bucketError?.code == .storageFailed)
        #expect(bucketError?.message.contains("NoSuchBucket") == true, "\(bucketError?.message ?? "")")
    }

    @Test func unreachableEndpointIsStorageUnavailable() async throws {
        // A loopback port nothing listens on (9, discard, is closed here). AsyncHTTPClient keeps retrying the
        // connection until the request's deadline, so the deadline is short here.
        let config = S3Config(endpoint: URL(string: "http://127.0.0.1:9")!, bucket: "media", accessKeyId: "AKID",
                              secretAccessKey: "top-secret-value", requestTimeout: .seconds(2), maxAttempts: 2)
        let store = S3ObjectStore(config: config, httpClient: HTTPClient.shared)
        let error = await #expect(throws: ReelError.self) { _ = try await store.head("a.mp4") }
        #expect(error?.code == .storageUnavailable)
        #expect(error?.message.contains("127.0.0.1:9") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("top-secret-value") == false)
    }
}
