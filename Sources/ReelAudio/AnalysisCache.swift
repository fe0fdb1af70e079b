import Foundation
import ReelCore

/// Analyses stored on disk by the audio's content hash, the analysis sample rate and the algorithm's version,
/// so the same song is analysed once however it is named, and a new algorithm never reads a stale result.
public struct AnalysisCache: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// The cache under a data directory (`REELSMITH_DATA`, default `./data`): `<data>/cache/analysis`.
    public static func inDataDirectory(_ data: String) -> AnalysisCache {
        AnalysisCache(directory: ((data as NSString).appendingPathComponent("cache") as NSString).appendingPathComponent("analysis"))
    }

    static func key(sha256: String) -> String {
        "\(sha256)-sr\(AudioAnalyzer.sampleRate)-v\(AudioAnalyzer.algorithmVersion).json"
    }

    public func load(sha256: String) -> AudioAnalysis? {
        let path = (directory as NSString).appendingPathComponent(Self.key(sha256: sha256))
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        // An unreadable entry (an older shape, a disk error) is a miss, never a failure.
        return try? ReelJSON.decoder().decode(AudioAnalysis.self, from: data)
    }

    /// Stores an analysis; a cache that cannot be written is skipped silently (it only saves time).
    public func store(_ analysis: AudioAnalysis, sha256: String) {
        let fm = FileManager.default
        guard (try? fm.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil,
              let data = try? ReelJSON.encoder(pretty: false).encode(analysis) else { return }
        let final = (directory as NSString).appendingPathComponent(Self.key(sha256: sha256))
        let temp = final + ".tmp-\(UUID().uuidString.prefix(8))"
        guard fm.createFile(atPath: temp, contents: data) else { return }
        if rename(temp, final) != 0 { try? fm.removeItem(atPath: temp) }
    }
}

extension AudioAnalyzer {
    /// Analyses `path`, reading and filling `cache` when given. Returns the analysis and, when a cache was
    /// used, the file's SHA-256 (without a cache the file is not read twice just to hash it).
    public func analyze(path: String, source: any PCMSource, cache: AnalysisCache?) async throws -> (analysis: AudioAnalysis, sha256: String?) {
        guard let cache else { return (try await analyze(path: path, source: source), nil) }
        let sha = try ContentHash.sha256(fileAt: path)
        if let hit = cache.load(sha256: sha) { return (hit, sha) }
        let analysis = try await analyze(path: path, source: source)
        cache.store(analysis, sha256: sha)
        return (analysis, sha)
    }
}
