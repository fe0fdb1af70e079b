import Foundation
import ReelAudio
import ReelCore
import ReelPipeline
import ReelProviders
import ReelServer
import ReelStore

/// Every setting Reelsmith reads, made once at start-up (`Configuration.load`, called by `CLI.main`) and handed down:
/// defaults that work on a fresh machine < the `REELSMITH_CONFIG` JSON file < environment variables (< a command's
/// own flags, such as `serve --port`). The keys, variables and defaults are listed in `ConfigurationKey.all` and the
/// README's Configuration table; nothing below this reads the environment.
///
/// Holds secrets (provider keys, the S3 secret, the database password): print `report`, never the value itself.
struct Configuration: Sendable {
    /// The configuration file the settings were read from (`REELSMITH_CONFIG`), if any.
    var file: String?
    /// `dataDirectory` (`REELSMITH_DATA`, default `./data`): analyses in `<data>/cache/analysis`, paid generations in
    /// `<data>/cache/generations`, and the service's SQLite database, objects and scratch folders.
    var dataDirectory: String
    /// `debug` (`REELSMITH_DEBUG`): print commands and provider requests to standard error.
    var debug: Bool
    /// Providers as configured; `offline` is set by each command's flag.
    var providers: ProviderSettings
    /// PostgreSQL from `databaseURL` (`DATABASE_URL`), else SQLite in the data directory.
    var database: DatabaseLocation
    var s3: S3Config?
    /// Where `serve` listens unless its flags say otherwise.
    var host: String
    var port: Int
    /// `publicURL` (`REELSMITH_PUBLIC_URL`): absolute result links with it, relative without.
    var publicURL: String?
    /// Workers' lease, poll and drain times; each worker gets its own name. Scratch is `<data>/work`.
    var worker: WorkerSettings
    /// Scenes one run has under way at once with models.
    var sceneConcurrency: Int
    var limits: ServiceLimits
    /// Every setting in effect and where it came from, secrets redacted (`reelsmith doctor`).
    var report: [ConfigurationEntry]

    /// Reads every setting; a bad file, an unknown key or a bad value throws `ReelError(.badInput)` naming it (exit 2).
    static func load(environment: [String: String]) throws -> Configuration {
        var r = try ConfigurationReader(environment: environment)
        typealias K = ConfigurationKey
        let data = try r.text(.dataDirectory, default: "data")!
        let debug = try r.flag(.debug, default: false)!

        var providers = ProviderSettings()
        providers.registryPath = try r.text(.registry)
        let host = try r.text(.host, default: "127.0.0.1")!
        let port = try r.whole(.port, in: 0...65535, default: 8080)!
        let publicURL = try r.url(.publicURL, example: "https://reels.example.com")
        // The schemes PostgresKit's SQLPostgresConfiguration(url:) takes.
        let databaseURL = try r.url(.databaseURL, schemes: ["postgres", "postgresql", "postgres+tcp", "postgresql+tcp"],
                                    socketSchemes: ["postgres+uds", "postgresql+uds"], example: "postgres://user:password@host:5432/db")
        providers.replicateToken = try r.text(.replicateApiToken)
        providers.replicateBaseURL = try r.url(.replicateBaseURL, example: "https://api.replicate.com", default: providers.replicateBaseURL)!
        providers.cogURL = try r.url(.cogURL, example: "http://127.0.0.1:5000")
        providers.openAIKey = try r.text(.openAIApiKey)
        providers.openAIBaseURL = try r.url(.openAIBaseURL, example: "http://localhost:11434/v1")
        providers.openAIModel = try r.text(.openAIModel, default: OpenAIChatClient.defaultModel)
        providers.anthropicKey = try r.text(.anthropicApiKey)
        providers.anthropicBaseURL = try r.url(.anthropicBaseURL, example: AnthropicClient.defaultBaseURL)
        providers.anthropicModel = try r.text(.anthropicModel, default: AnthropicClient.defaultModel)

        let s3Endpoint = try r.text(.s3Endpoint), s3Bucket = try r.text(.s3Bucket), s3Region = try r.text(.s3Region)
        let s3Key = try r.text(.s3AccessKeyId), s3Secret = try r.text(.s3SecretAccessKey)
        // Unset: path style with a custom endpoint, virtual-hosted for AWS (S3Config decides).
        let s3PathStyle = try r.flag(.s3ForcePathStyle, default: nil)
        let names = Dictionary(uniqueKeysWithValues: [(S3Config.Setting.endpoint, K.s3Endpoint), (.bucket, .s3Bucket), (.region, .s3Region),
                                                      (.accessKeyId, .s3AccessKeyId), (.secretAccessKey, .s3SecretAccessKey),
                                                      (.forcePathStyle, .s3ForcePathStyle)])
        let s3 = try S3Config.validated(endpoint: s3Endpoint, bucket: s3Bucket, region: s3Region, accessKeyId: s3Key,
                                        secretAccessKey: s3Secret, forcePathStyle: s3PathStyle,
                                        name: { r.label(names[$0]!) })

        // Each worker is named when it is made (`ServiceEnvironment.workers`); no host name is looked up for other commands.
        let defaults = WorkerSettings(name: "", scratchRoot: (data as NSString).appendingPathComponent("work"))
        var worker = defaults
        worker.privateTexts = Self.privateTexts(dataDirectory: data, s3: s3, databaseURL: databaseURL)
        worker.lease = try r.seconds(.leaseSeconds, default: defaults.lease)
        worker.pollInterval = try r.seconds(.pollSeconds, default: defaults.pollInterval)
        worker.drainGrace = try r.seconds(.drainSeconds, default: defaults.drainGrace)
        let sceneConcurrency = try r.whole(.sceneConcurrency, in: 1...1024, default: 16)!

        var limits = ServiceLimits()
        limits.maxAudioBytes = Int64(try r.whole(.maxAudioBytes, in: 1...Int.max, default: Int(limits.maxAudioBytes))!)
        limits.maxImageBytes = Int64(try r.whole(.maxImageBytes, in: 1...Int.max, default: Int(limits.maxImageBytes))!)
        limits.maxVideoBytes = Int64(try r.whole(.maxVideoBytes, in: 1...Int.max, default: Int(limits.maxVideoBytes))!)
        limits.maxMediaSeconds = try r.positive(.maxMediaSeconds, default: limits.maxMediaSeconds)
        limits.maxDimension = try r.whole(.maxDimension, in: 16...65536, default: limits.maxDimension)!
        limits.requestsPerMinuteOverride = try r.whole(.requestsPerMinuteOverride, in: 1...Int.max, default: limits.requestsPerMinuteOverride)
        limits.concurrentJobRetryAfter = try r.whole(.concurrentJobRetryAfterSeconds, in: 1...86_400, default: limits.concurrentJobRetryAfter)!
        limits.heartbeatSeconds = try r.positive(.heartbeatSeconds, default: limits.heartbeatSeconds)
        limits.pollSeconds = try r.positive(.streamPollSeconds, default: limits.pollSeconds)
        limits.sessionTTL = try r.seconds(.sessionSeconds, default: limits.sessionTTL)
        limits.presignExpiry = try r.seconds(.presignSeconds, default: limits.presignExpiry)
        limits.signInsPerMinute = try r.whole(.signInsPerMinute, in: 1...Int.max, default: limits.signInsPerMinute)!
        limits.failedAuthenticationsPerMinute = try r.whole(.failedAuthenticationsPerMinute, in: 1...Int.max,
                                                            default: limits.failedAuthenticationsPerMinute)!
        limits.trustForwardedFor = try r.flag(.trustForwardedFor, default: limits.trustForwardedFor)!
        limits.freshSignInWindow = try r.seconds(.freshSignInWindowSeconds, default: limits.freshSignInWindow)
        limits.maxStreamsPerUser = try r.whole(.maxStreamsPerUser, in: 1...Int.max, default: limits.maxStreamsPerUser)!
        limits.eventPageSize = try r.whole(.eventPageSize, in: 1...1000, default: limits.eventPageSize)!
        limits.maxStreamSeconds = try r.positive(.maxStreamSeconds, default: limits.maxStreamSeconds)
        limits.streamCredentialCheckSeconds = try r.positive(.streamCredentialCheckSeconds, default: limits.streamCredentialCheckSeconds)
        limits.maxPartHeaderBytes = try r.whole(.maxPartHeaderBytes, in: 1...Int.max, default: limits.maxPartHeaderBytes)!
        limits.maxMultipartParts = try r.whole(.maxMultipartParts, in: 1...Int.max, default: limits.maxMultipartParts)!
        limits.maxFormFieldBytes = try r.whole(.maxFormFieldBytes, in: 1...Int.max, default: limits.maxFormFieldBytes)!
        limits.multipartOverheadBytes = Int64(try r.whole(.multipartOverheadBytes, in: 1...Int.max, default: Int(limits.multipartOverheadBytes))!)
        limits.stagingUploadMaxAge = try r.seconds(.stagingUploadMaxAgeSeconds, default: limits.stagingUploadMaxAge)
        limits.leftoverFileMaxAge = try r.seconds(.leftoverFileMaxAgeSeconds, default: limits.leftoverFileMaxAge)
        limits.sweepInterval = try r.seconds(.sweepIntervalSeconds, default: limits.sweepInterval)
        // One cap for both: the API refuses longer asks, the worker cuts whatever else asks for more.
        limits.maxVideoSeconds = try r.positive(.maxVideoSeconds, default: limits.maxVideoSeconds)
        worker.maxVideoSeconds = limits.maxVideoSeconds
        limits.projectDeleteWait = try r.seconds(.projectDeleteWaitSeconds, default: limits.projectDeleteWait)
        limits.idleTimeout = try r.seconds(.idleTimeoutSeconds, default: limits.idleTimeout)
        // Streams write every heartbeat and a project's deletion may wait silently: a shorter idle timeout cuts both.
        guard limits.idleTimeout.seconds > limits.heartbeatSeconds, limits.idleTimeout > limits.projectDeleteWait else {
            throw ReelError(.badInput, "\(r.label(.idleTimeoutSeconds)) (\(String(format: "%g", limits.idleTimeout.seconds)) s) must be "
                + "longer than \(r.label(.heartbeatSeconds)) and \(r.label(.projectDeleteWaitSeconds))")
        }

        let database: DatabaseLocation = databaseURL.map { .postgres(url: $0) }
            ?? .sqlite(path: (data as NSString).appendingPathComponent("reelsmith.sqlite"))
        return Configuration(file: r.filePath, dataDirectory: data, debug: debug, providers: providers, database: database, s3: s3,
                             host: host, port: port, publicURL: publicURL, worker: worker, sceneConcurrency: sceneConcurrency,
                             limits: limits, report: r.ordered())
    }

    /// What job errors and events must never show users: where this service keeps things (the data directory's full
    /// path, the bucket, the storage and database hosts).
    static func privateTexts(dataDirectory: String, s3: S3Config?, databaseURL: String?) -> [String] {
        // The absolute path only: a relative `data` would blank out the word wherever it appears.
        var texts = [URL(fileURLWithPath: dataDirectory).standardizedFileURL.path]
        if let s3 { texts += [s3.bucket, s3.endpoint.host].compactMap { $0 } }
        if let host = databaseURL.flatMap({ URLComponents(string: $0)?.host }), !host.isEmpty { texts.append(host) }
        return texts
    }

    /// The settings of this process: the one place the CLI reads its environment.
    static func fromProcess() throws -> Configuration {
        try load(environment: ProcessInfo.processInfo.environment)
    }

    /// The providers, with `--offline` applied.
    func providers(offline: Bool) -> ProviderSettings {
        var settings = providers
        settings.offline = offline
        return settings
    }

    /// Provider clients share this: request lines on standard error with `debug`.
    var providerHTTP: ProviderHTTP { ProviderHTTP(logsRequests: debug) }

    /// The analysis cache, unless `--no-cache` was given.
    func analysisCache(disabled: Bool) -> AnalysisCache? {
        disabled ? nil : AnalysisCache.inDataDirectory(dataDirectory)
    }

    /// Paid generations kept between runs: `<data>/cache/generations`.
    var generationCache: GenerationCache { GenerationCache.inDataDirectory(dataDirectory) }

    /// The pipeline with every provider the configuration sets up. `scratch` holds downloads while the run lasts.
    func pipeline(options: VideoOptions, progress: any ProgressSink, scratch: String) throws -> ClassicPipeline {
        let setup = try ProviderSetup.make(settings: providers(offline: options.offline), http: providerHTTP)
        return ClassicPipeline.configured(setup: setup, progress: progress, budget: options.budget, generationCache: generationCache,
                                          useCache: !options.noCache, scratch: scratch, analysisCache: analysisCache(disabled: options.noCache))
    }
}
