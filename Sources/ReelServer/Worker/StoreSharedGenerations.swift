import Foundation
import ReelCore
import ReelProviders
import ReelStore

/// The generation cache shared by every machine of the service: finished generations as objects
/// `generations/<key>/<file>` (their record in `generations/<key>/record.json`) listed in the database's
/// generation-cache index, and predictions in flight as checkpoints of the run `generations` named by key.
///
/// A generation is indexed only after all of its objects are stored, so an index entry always names a complete
/// generation; a half-published one (a machine that died while uploading) is simply not there yet.
public struct StoreSharedGenerations: SharedGenerations {
    public let store: ServiceStore
    public let objects: any ObjectStore

    /// The checkpoint run that holds the in-flight journal (apart from any job's run, which are project ids).
    public static let journalRun = "generations"

    public init(store: ServiceStore, objects: any ObjectStore) {
        self.store = store; self.objects = objects
    }

    /// The object key of a generation's file.
    public static func objectKey(_ key: String, file: String) -> String { "generations/\(key)/\(file)" }

    public func fetch(key: String, into cache: GenerationCache) async throws -> GenerationCache.Hit? {
        try Self.check(key)
        guard let entry = try await store.cacheEntry(key: key) else { return nil }
        // Staged inside the cache's own folder, so that storing the files there is a rename, not a second copy.
        let staging = (cache.root as NSString).appendingPathComponent(".incoming-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        do {
            let recordPath = (staging as NSString).appendingPathComponent("record.json")
            try await objects.get(entry.objectKey, toFile: recordPath)
            let record: GenerationCache.Record
            do {
                record = try ReelJSON.decoder().decode(GenerationCache.Record.self, from: Data(contentsOf: URL(fileURLWithPath: recordPath)))
            } catch {
                throw ReelError(.internalError, "the shared record of generation \(key) cannot be read", cause: error)
            }
            guard record.key == key else { throw ReelError(.internalError, "the shared record '\(entry.objectKey)' is not generation \(key)") }
            var files: [String] = []
            for name in record.files {
                try Self.check(file: name)
                let path = (staging as NSString).appendingPathComponent("file-" + name)
                try await objects.get(Self.objectKey(key, file: name), toFile: path)
                files.append(path)
            }
            let result = PredictionResult(id: record.predictionId, files: files, text: record.text, metrics: record.metrics)
            return try cache.store(key: key, provider: record.provider, model: record.model, result: result)
        } catch let e as ReelError where e.code == .fileNotFound {
            // Indexed, but its objects were removed since: nobody has it any more, which is a miss.
            return nil
        }
    }

    public func publish(_ hit: GenerationCache.Hit) async throws {
        let key = hit.record.key
        try Self.check(key)
        // Another machine (or an earlier attempt) shared it already: the objects are the same generation.
        if try await store.cacheEntry(key: key) != nil { return }
        var size: Int64 = 0
        for (name, path) in zip(hit.record.files, hit.files) {
            try Self.check(file: name)
            size += (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            try await objects.put(Self.objectKey(key, file: name), fromFile: path, contentType: MediaType.mime(forPath: path))
        }
        let recordPath = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-record-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(atPath: recordPath) }
        try ReelJSON.encoder().encode(hit.record).write(to: URL(fileURLWithPath: recordPath))
        let recordKey = Self.objectKey(key, file: "record.json")
        try await objects.put(recordKey, fromFile: recordPath, contentType: "application/json")
        // Last: from here on other machines see it, and everything it names is stored.
        try await store.indexCacheEntry(CacheIndexEntry(key: key, provider: hit.record.provider.rawValue, model: hit.record.model,
                                                        objectKey: recordKey, size: size))
    }

    public func inFlight(key: String) async throws -> GenerationCache.InFlight? {
        try Self.check(key)
        guard let data = try await store.checkpoint(run: Self.journalRun, name: key) else { return nil }
        // A note this version cannot read names nothing it could follow.
        return try? ReelJSON.decoder().decode(GenerationCache.InFlight.self, from: data)
    }

    public func noteInFlight(key: String, entry: GenerationCache.InFlight) async throws {
        try Self.check(key)
        try await store.saveCheckpoint(run: Self.journalRun, name: key, data: try ReelJSON.encoder(pretty: false).encode(entry))
    }

    public func clearInFlight(key: String) async throws {
        try Self.check(key)
        try await store.deleteCheckpoint(run: Self.journalRun, name: key)
    }

    /// Keys are SHA-256 hex digests; anything else would make an object key out of arbitrary text.
    static func check(_ key: String) throws {
        guard !key.isEmpty, key.count <= 128, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw ReelError(.badInput, "'\(key.prefix(80))' is not a generation-cache key")
        }
    }

    /// File names in a record are the cache's own (`output-0.png`): one safe path segment.
    static func check(file name: String) throws {
        guard !name.isEmpty, !name.hasPrefix("."), name != "record.json",
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
            throw ReelError(.internalError, "'\(name.prefix(80))' is not a file name of the generation cache")
        }
    }
}
