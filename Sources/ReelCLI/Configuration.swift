import Foundation
import ReelAudio
import ReelCore
import ReelPipeline
import ReelProviders

/// Settings read once at the composition root (defaults work on a fresh machine; the environment overrides them).
///
/// - `REELSMITH_DATA`: the data directory, default `./data`; analyses are cached in `<data>/cache/analysis`, paid
///   generations in `<data>/cache/generations`. Provider settings: `ProviderSettings.from(environment:)`.
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

    /// Paid generations kept between runs: `<data>/cache/generations`.
    var generationCache: GenerationCache { GenerationCache.inDataDirectory(dataDirectory) }

    /// The pipeline with every provider the environment configures. `scratch` holds downloads while the run lasts.
    func pipeline(options: VideoOptions, progress: any ProgressSink, scratch: String) throws -> ClassicPipeline {
        let settings = ProviderSettings.from(environment: ProcessInfo.processInfo.environment, offline: options.offline)
        let setup = try ProviderSetup.make(settings: settings)
        return ClassicPipeline.configured(setup: setup, progress: progress, budget: options.budget, generationCache: generationCache,
                                          useCache: !options.noCache, scratch: scratch, analysisCache: analysisCache(disabled: options.noCache))
    }
}
