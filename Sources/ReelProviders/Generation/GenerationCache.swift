import Foundation
import ReelCore

/// Content-addressed store of paid generations, kept across runs under `<data>/cache/generations`.
///
/// The key is the SHA-256 of the provider, the model (with its version, if named), the inputs exactly as sent with
/// every input file replaced by its content hash, and the run's seed. A hit costs nothing and makes no request.
/// Beside finished generations it keeps a journal of predictions in flight, so that a run killed after a prediction
/// was created follows that prediction on the next run instead of paying for another.
public struct GenerationCache: Sendable {
    /// A finished generation as stored.
    public struct Record: Codable, Sendable {
        public var key: String
        public var provider: ProviderKind
        public var model: String
        public var predictionId: String
        /// File names inside the record's folder, in output order.
        public var files: [String]
        public var text: String?
        public var metrics: [String: JSONValue]
        public var createdAt: Date
    }

    /// A hit: the record and the absolute paths of its files.
    public struct Hit: Sendable {
        public var record: Record
        public var files: [String]
    }

    public let root: String

    public init(root: String) { self.root = root }

    /// The cache inside a data directory.
    public static func inDataDirectory(_ data: String) -> GenerationCache {
        GenerationCache(root: ((data as NSString).appendingPathComponent("cache") as NSString).appendingPathComponent("generations"))
    }

    /// The key of a call. File inputs are hashed by content, so a renamed copy of the same image hits.
    public static func key(provider: ProviderKind, model: String, input: [String: JSONValue], files: [String: [String]],
                           seed: UInt64) throws -> String {
        var fileHashes: [String: JSONValue] = [:]
        for (name, paths) in files {
            fileHashes[name] = .array(try paths.map { .string("sha256:" + (try ContentHash.sha256(fileAt: $0))) })
        }
        let material: JSONValue = ["v": 1, "provider": .string(provider.rawValue), "model": .string(model),
                                   "input": .object(input), "files": .object(fileHashes), "seed": .string(String(seed))]
        return ContentHash.sha256(material.canonicalData())
    }

    private func folder(_ key: String) -> String {
        ((root as NSString).appendingPathComponent(String(key.prefix(2))) as NSString).appendingPathComponent(key)
    }

    private func journalPath(_ key: String) -> String {
        ((root as NSString).appendingPathComponent("in-flight") as NSString).appendingPathComponent(key + ".json")
    }

    /// The stored generation for `key`, if it is complete (every file present with its recorded size).
    public func lookup(_ key: String) -> Hit? {
        let dir = folder(key)
        guard let data = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent("record.json")),
              let record = try? ReelJSON.decoder().decode(Record.self, from: data), record.key == key else { return nil }
        let files = record.files.map { (dir as NSString).appendingPathComponent($0) }
        guard files.allSatisfy({ FileCheck.isRegularFile($0) }) else { return nil }
        return Hit(record: record, files: files)
    }

    /// Moves a finished generation's files into the cache and records it; the folder appears whole or not at all.
    @discardableResult
    public func store(key: String, provider: ProviderKind, model: String, result: PredictionResult) throws -> Hit {
        let fm = FileManager.default
        let final = folder(key)
        let staging = final + ".partial-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            var names: [String] = []
            for (i, file) in result.files.enumerated() {
                let ext = (file as NSString).pathExtension
                let name = "output-\(i)" + (ext.isEmpty ? "" : "." + ext)
                let target = (staging as NSString).appendingPathComponent(name)
                do { try fm.moveItem(atPath: file, toPath: target) } catch { try fm.copyItem(atPath: file, toPath: target) }
                names.append(name)
            }
            let record = Record(key: key, provider: provider, model: model, predictionId: result.id, files: names,
                                text: result.text, metrics: result.metrics, createdAt: Date())
            try ReelJSON.encoder().encode(record).write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent("record.json")))
            if fm.fileExists(atPath: final) { try fm.removeItem(atPath: final) }
            try fm.moveItem(atPath: staging, toPath: final)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw ReelError(.outputNotWritable, "cannot store a generation in the cache '\(root)': \(error.localizedDescription)")
        }
        guard let hit = lookup(key) else { throw ReelError(.outputNotWritable, "the generation cache '\(root)' did not keep what was stored") }
        return hit
    }

    // MARK: - Predictions in flight

    /// What a previous attempt left for a key: the create it sent, and the prediction's id once it was known.
    public struct InFlight: Codable, Sendable {
        public var predictionId: String?
        public var provider: ProviderKind
        public var model: String
        /// When the create was sent.
        public var sentAt: Date

        public init(predictionId: String?, provider: ProviderKind, model: String, sentAt: Date) {
            self.predictionId = predictionId; self.provider = provider; self.model = model; self.sentAt = sentAt
        }
    }

    /// What a previous attempt left in flight for `key`, if anything.
    public func inFlight(_ key: String) -> InFlight? {
        guard let data = FileManager.default.contents(atPath: journalPath(key)) else { return nil }
        return try? ReelJSON.decoder().decode(InFlight.self, from: data)
    }

    /// The prediction a previous attempt created for `key` and did not finish, if its id is known.
    public func predictionInFlight(_ key: String) -> String? { inFlight(key)?.predictionId }

    /// Notes that a create for `key` is being sent (no id yet), or that `predictionId` now runs for it.
    public func noteInFlight(_ key: String, predictionId: String?, provider: ProviderKind, model: String, sentAt: Date = Date()) throws {
        let path = journalPath(key)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let sent = inFlight(key)?.sentAt ?? sentAt
        let data = try ReelJSON.encoder().encode(InFlight(predictionId: predictionId, provider: provider, model: model, sentAt: min(sent, sentAt)))
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Forgets the in-flight note (the prediction finished, or can no longer be followed).
    public func clearInFlight(_ key: String) {
        try? FileManager.default.removeItem(atPath: journalPath(key))
    }
}
