import Foundation
import ReelCore
import ReelStore
import ReelTestSupport
import Testing

/// The folder-backed object store: key rules, whole-or-nothing writes, missing keys.
@Suite struct ObjectStoreLocalTests {
    static let badKeys = ["", "/abs/olute", "../escape", "a/../../b", "a/..", "..", "a//b", "a/", "with space", "tab\tkey",
                          "ünïcode", ".hidden", "a/.b", "nul\u{0}key", "semi;colon", "back\\slash", "q?uery",
                          String(repeating: "a", count: 1025)]

    func makeStore() throws -> (LocalObjectStore, String) {
        let dir = try Fixtures.temporaryDirectory("objects")
        return (LocalObjectStore(root: (dir as NSString).appendingPathComponent("store")), dir)
    }

    func write(_ bytes: [UInt8], in dir: String, name: String) throws -> String {
        let path = (dir as NSString).appendingPathComponent(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Every file under `root`, relative, including hidden ones (temporary files would show here).
    func allFiles(_ root: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }.filter {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent($0), isDirectory: &isDirectory)
            return exists && !isDirectory.boolValue
        }.sorted()
    }

    @Test func rejectsUnsafeKeys() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try write([1, 2, 3], in: dir, name: "src.bin")
        for key in Self.badKeys {
            for operation in ["put", "get", "head", "delete", "presign"] {
                let error = await #expect(throws: ReelError.self, "\(operation) \(key.prefix(20))") {
                    switch operation {
                    case "put": try await store.put(key, fromFile: source, contentType: "application/octet-stream")
                    case "get": try await store.get(key, toFile: (dir as NSString).appendingPathComponent("out"))
                    case "head": _ = try await store.head(key)
                    case "delete": try await store.delete(key)
                    default: _ = try await store.presignedGet(key, expires: .seconds(60))
                    }
                }
                #expect(error?.code == .badInput)
            }
            #expect(store.fileURL(for: key) == nil)
        }
        // Nothing was written anywhere, in the store or beside it.
        #expect(allFiles(store.root.path).isEmpty)
        #expect(allFiles(dir) == ["src.bin"])
    }

    @Test func roundTripAndAtomicReplace() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let source = try write(first, in: dir, name: "clip.mp4")
        let key = "assets/3f2c/clip-1.mp4"

        try await store.put(key, fromFile: source, contentType: "video/mp4")
        #expect(allFiles(store.root.path) == [key], "no temporary file is left beside the object")
        let info = try #require(try await store.head(key))
        #expect(info.size == Int64(first.count))
        #expect(info.contentType == "video/mp4")
        let url = try #require(store.fileURL(for: key))
        #expect(url.path == store.root.appendingPathComponent(key).path)

        let out = (dir as NSString).appendingPathComponent("down/deeper/out.mp4")
        try await store.get(key, toFile: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(first))
        #expect(allFiles((dir as NSString).appendingPathComponent("down")) == ["deeper/out.mp4"])

        // Replacing: the new bytes, whole; the old file was renamed over, so an open reader keeps the old bytes.
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        let second = [UInt8](repeating: 7, count: 1000)
        try await store.put(key, fromFile: try write(second, in: dir, name: "second.mp4"), contentType: "video/mp4")
        #expect(try Data(contentsOf: url) == Data(second))
        #expect(try reader.readToEnd() == Data(first))
        #expect(try await store.head(key)?.size == 1000)

        try await store.delete(key)
        #expect(try await store.head(key) == nil)
        #expect(store.fileURL(for: key) == nil)
        try await store.delete(key)  // deleting a missing key is not an error
    }

    @Test func failedPutLeavesNothing() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = (dir as NSString).appendingPathComponent("nope.wav")
        let error = await #expect(throws: ReelError.self) { try await store.put("a/b.wav", fromFile: missing, contentType: "audio/wav") }
        #expect(error?.code == .fileNotFound)
        // A folder is not a file to store either.
        await #expect(throws: ReelError.self) { try await store.put("a/b.wav", fromFile: dir, contentType: "audio/wav") }
        #expect(try await store.head("a/b.wav") == nil)
        #expect(allFiles(store.root.path).isEmpty)

        // An existing object stays as it was when a replacement fails.
        let source = try write([9, 9, 9], in: dir, name: "song.wav")
        try await store.put("a/b.wav", fromFile: source, contentType: "audio/wav")
        await #expect(throws: ReelError.self) { try await store.put("a/b.wav", fromFile: missing, contentType: "audio/wav") }
        #expect(try Data(contentsOf: try #require(store.fileURL(for: "a/b.wav"))) == Data([9, 9, 9]))
        #expect(allFiles(store.root.path) == ["a/b.wav"])
    }

    @Test func missingKeys() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = (dir as NSString).appendingPathComponent("out.mp4")
        let error = await #expect(throws: ReelError.self) { try await store.get("no/such.mp4", toFile: out) }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("no/such.mp4") == true)
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(allFiles(dir).isEmpty)
        #expect(try await store.head("no/such.mp4") == nil)
        #expect(store.fileURL(for: "no/such.mp4") == nil)
        #expect(try await store.presignedGet("no/such.mp4", expires: .seconds(60)) == nil)
        #expect(try await store.presignedPut("no/such.mp4", contentType: "video/mp4", contentLength: 10, expires: .seconds(60)) == nil)
        // A folder made by other keys is not an object.
        try await store.put("dir/x.json", fromFile: try write([1], in: dir, name: "x.json"), contentType: "application/json")
        #expect(try await store.head("dir") == nil)
        #expect(store.fileURL(for: "dir") == nil)
        await #expect(throws: ReelError.self) { try await store.get("dir", toFile: out) }
    }

    @Test func concurrentWritersNeverMix() async throws {
        // Eight writers replace one key with files of distinct bytes: afterwards the object is exactly one of them.
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var sources: [String] = []
        for i in 0..<8 { sources.append(try write([UInt8](repeating: UInt8(i), count: 2 << 20), in: dir, name: "v\(i).bin")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for source in sources { group.addTask { try await store.put("race/obj.bin", fromFile: source, contentType: "application/octet-stream") } }
            try await group.waitForAll()
        }
        let data = try Data(contentsOf: try #require(store.fileURL(for: "race/obj.bin")))
        #expect(data.count == 2 << 20)
        #expect(Set(data).count == 1)
        #expect(allFiles(store.root.path) == ["race/obj.bin"])
    }
}
