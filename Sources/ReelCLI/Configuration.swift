import Foundation
import ReelAudio

/// Settings read once at the composition root (defaults work on a fresh machine; the environment overrides them).
///
/// - `REELSMITH_DATA`: the data directory, default `./data`; analyses are cached in `<data>/cache/analysis`.
struct Configuration {
    var dataDirectory: String

    static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Configuration {
        let data = env["REELSMITH_DATA"].flatMap { $0.isEmpty ? nil : $0 } ?? "data"
        return Configuration(dataDirectory: data)
    }

    /// The analysis cache, unless `--no-cache` was given.
    func analysisCache(disabled: Bool) -> AnalysisCache? {
        disabled ? nil : AnalysisCache.inDataDirectory(dataDirectory)
    }
}
