import AsyncHTTPClient
import Foundation
import ReelCore
@testable import ReelStore
import ReelTestSupport
import Testing

/// What a crash mid-write leaves in object storage is found by age and removed, and nothing younger or finished is.
@Suite struct ObjectLeftoversTests {
    static func write(_ path: String, age seconds: TimeInterval) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-seconds)], ofItemAtPath: path)
    }

    @Test func localStoreListsOldKeysAndRemovesOnlyOldPartialCopies() async throws {
        let dir = try Fixtures.temporaryDirectory("local-leftovers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LocalObjectStore(root: dir)
        try Self.write(dir + "/uploads/p/old.audio", age: 7200)
        try Self.write(dir + "/uploads/p/new.audio", age: 0)
        try Self.write(dir + "/uploads/p/.old.audio.put-0123456789ab", age: 7200)
        try Self.write(dir + "/assets/p/.a.mp4.put-0123456789ab", age: 7200)
        try Self.write(dir + "/assets/p/.b.mp4.put-ba9876543210", age: 0)
        try Self.write(dir + "/assets/p/a.mp4", age: 7200)

        let cutoff = Date().addingTimeInterval(-3600)
        #expect(try await store.keys(under: "uploads/", writtenBefore: cutoff) == ["uploads/p/old.audio"])
        #expect(try await store.keys(under: "assets/p/a", writtenBefore: cutoff) == ["assets/p/a.mp4"])
        #expect(try await store.removeUnfinishedWrites(startedBefore: cutoff) == 2)
        for gone in ["/uploads/p/.old.audio.put-0123456789ab", "/assets/p/.a.mp4.put-0123456789ab"] {
            #expect(!FileManager.default.fileExists(atPath: dir + gone))
        }
        for kept in ["/uploads/p/old.audio", "/uploads/p/new.audio", "/assets/p/.b.mp4.put-ba9876543210", "/assets/p/a.mp4"] {
            #expect(FileManager.default.fileExists(atPath: dir + kept), "\(kept)")
        }
    }

    @Test func s3AbortsTheMultipartUploadsOfCrashedPuts() async throws {
        let moto = try await MotoFixture.shared()
        let store = S3ObjectStore(config: moto.config(), httpClient: HTTPClient.shared)
        try await store.ensureBucket()
        // A put that crashed after starting its multipart upload. (moto dates every upload 2010-11-10, so only the
        // removal is checked here; S3 gives the real start, which is compared with the cutoff.)
        let uploadId = try await store.createMultipartUpload("jobs/j/video.mp4", contentType: "video/mp4")
        let listed = try await store.unfinishedMultipartUploads()
        #expect(listed.map(\.uploadId) == [uploadId])
        #expect(listed.first?.key == "jobs/j/video.mp4")
        #expect(listed.first?.initiated != nil)
        #expect(try await store.removeUnfinishedWrites(startedBefore: Date()) == 1)
        #expect(try await store.pendingMultipartUploads().isEmpty)
    }
}
