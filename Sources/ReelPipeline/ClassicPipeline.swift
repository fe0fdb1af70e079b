import Foundation
import ReelAudio
import ReelCore
import ReelMedia
import ReelProviders

/// Everything one `generate` or `plan` run is asked to do.
public struct GenerateRequest: Sendable {
    public var prompt: String
    public var overrides: PromptParser.Overrides
    public var audioPath: String?
    public var mediaDirectory: String?
    /// Seconds into the song where the video begins.
    public var start: Double
    public var seed: UInt64
    /// A plan to generate from instead of planning (`--plan`).
    public var plan: Plan?
    public var output: String
    /// Keep scene clips here instead of in a temporary folder removed afterwards.
    public var workDirectory: String?
    /// With a plan: a preset or aspect given explicitly on the command line, which wins over the plan's.
    public var planPreset: Preset?
    public var planAspect: AspectRatio?
    /// Without a song: have the music role make one, when configured (false for `plan`, which spends nothing on
    /// media; its estimate prices the song instead).
    public var composeMissingSong = true
    /// Scene index → variant: a scene asked to be made again gets a higher variant, which moves its seed (and so its
    /// checkpoint key), while the other scenes are restored as they were.
    public var sceneVariants: [Int: Int] = [:]

    public init(prompt: String, overrides: PromptParser.Overrides = .init(), audioPath: String? = nil,
                mediaDirectory: String? = nil, start: Double = 0, seed: UInt64, plan: Plan? = nil, output: String,
                workDirectory: String? = nil) {
        self.prompt = prompt; self.overrides = overrides; self.audioPath = audioPath; self.mediaDirectory = mediaDirectory
        self.start = start; self.seed = seed; self.plan = plan; self.output = output; self.workDirectory = workDirectory
    }
}

/// What planning produced: the plan and what it was made from.
public struct PlanOutcome: Sendable {
    public var plan: Plan
    /// The song: the user's, or one the music role made when none was given.
    public var audioPath: String?
    public var analysis: AudioAnalysis?
    public var audioSHA256: String?
    public var warnings: [String]
    public var timings: StageTimings
}

/// A finished video and its manifest.
public struct GenerateOutcome: Sendable {
    public var video: String
    public var manifestPath: String
    public var manifest: Manifest
}

/// The classic pipeline: analyse → plan → generate scene clips (bounded concurrency) → compose in one ffmpeg pass.
public struct ClassicPipeline: Sendable {
    let pcmSource: any PCMSource
    let clips: any ClipProvider
    let renderer: TimelineRenderer
    let probe: MediaProbe
    let media: MediaLibrary
    let progress: any ProgressSink
    /// Scenes generated at once.
    let concurrency: Int
    /// Where song analyses are kept between runs; nil to always analyse.
    let analysisCache: AnalysisCache?
    /// Every metered call of the run, held to the user's budget.
    public let meter: CostMeter
    /// The AI models, when any are configured (nil offline).
    let models: ModelRunner?
    /// The video model scenes are handed to, per preset.
    let clipModels: @Sendable (Preset) -> ClipModel?
    /// Plans with an LLM when one is configured; the rule planner otherwise.
    let llmPlanner: LLMPlanner?

    /// True when some AI model (paid or self-hosted) makes part of the video.
    public var usesModels: Bool { models != nil || llmPlanner != nil }

    public init(pcmSource: any PCMSource, clips: any ClipProvider, renderer: TimelineRenderer, probe: MediaProbe,
                progress: any ProgressSink, concurrency: Int, analysisCache: AnalysisCache? = nil,
                meter: CostMeter = CostMeter(budget: nil), models: ModelRunner? = nil,
                clipModels: @escaping @Sendable (Preset) -> ClipModel? = { _ in nil }, llmPlanner: LLMPlanner? = nil) {
        self.pcmSource = pcmSource; self.clips = clips; self.renderer = renderer; self.probe = probe
        self.media = MediaLibrary(probe: probe); self.progress = progress; self.concurrency = max(1, concurrency)
        self.analysisCache = analysisCache; self.meter = meter; self.models = models; self.clipModels = clipModels
        self.llmPlanner = llmPlanner
    }

    /// The offline pipeline on this machine's ffmpeg.
    public static func offline(progress: any ProgressSink, runner: any ProcessRunner = SubprocessRunner(),
                               analysisCache: AnalysisCache? = nil) -> ClassicPipeline {
        let router = ClipRouter(providers: ["offline": ProceduralClipProvider(runner: runner),
                                            "user-media": UserMediaClipProvider(runner: runner)])
        return ClassicPipeline(pcmSource: FFmpegPCMSource(runner: runner), clips: router, renderer: TimelineRenderer(runner: runner),
                               probe: MediaProbe(runner: runner), progress: progress, concurrency: offlineWidth, analysisCache: analysisCache)
    }

    /// Each ffmpeg child already uses several threads; two at a time keeps 2 cores busy without thrashing.
    static var offlineWidth: Int { max(2, min(4, ProcessInfo.processInfo.activeProcessorCount)) }

    /// The pipeline with the providers of `setup` (Replicate, Cog, LLMs) beside the offline ones.
    /// - Parameters:
    ///   - generationCache: where paid generations are kept between runs; `useCache` false (`--no-cache`) bypasses it.
    ///   - scratch: a folder for downloads and extracted frames, owned by the caller.
    ///   - sharedGenerations: the generation cache and in-flight journal a service's machines share (nil: this machine's only).
    public static func configured(setup: ProviderSetup, progress: any ProgressSink, budget: Double?, generationCache: GenerationCache?,
                                  useCache: Bool, scratch: String, runner: any ProcessRunner = SubprocessRunner(),
                                  analysisCache: AnalysisCache? = nil, modelSceneWidth: Int = 16,
                                  sharedGenerations: (any SharedGenerations)? = nil) -> ClassicPipeline {
        let warn: @Sendable (String) -> Void = { progress.report(.warning($0)) }
        let meter = CostMeter(budget: budget, warn: warn)
        // ffmpeg work stays `offlineWidth` wide however many scenes wait on models at once.
        let localWork = ConcurrencyLimit(offlineWidth)
        var providers: [String: any ClipProvider] = ["offline": LimitedClipProvider(ProceduralClipProvider(runner: runner), limit: localWork),
                                                     "user-media": LimitedClipProvider(UserMediaClipProvider(runner: runner), limit: localWork)]
        var models: ModelRunner?
        if !setup.chains.isEmpty {
            let runnerForModels = setup.runner(cache: generationCache, useCache: useCache, meter: meter, scratch: scratch,
                                               shared: sharedGenerations, warn: warn)
            let clipProvider = ModelClipProvider(models: runnerForModels, localWork: localWork, runner: runner)
            providers["replicate"] = clipProvider
            providers["cog"] = clipProvider
            models = runnerForModels
        }
        let planner = setup.planner.map { LLMPlanner(llm: $0, meter: meter, fallback: RulePlanner(), cache: useCache ? generationCache : nil, warn: warn) }
        // Scenes made by models spend most of their time waiting on the provider (whose client bounds its own requests),
        // so many are under way at once while ffmpeg work stays bounded by `localWork`.
        let width = models == nil ? offlineWidth : max(offlineWidth, modelSceneWidth)
        return ClassicPipeline(pcmSource: FFmpegPCMSource(runner: runner), clips: ClipRouter(providers: providers),
                               renderer: TimelineRenderer(runner: runner), probe: MediaProbe(runner: runner), progress: progress,
                               concurrency: width, analysisCache: analysisCache, meter: meter, models: models,
                               clipModels: { setup.clipModel(for: $0) }, llmPlanner: planner)
    }

    // MARK: - Plan

    /// Analyses the song (if any) and plans the scenes, or checks and adopts the plan the request carries.
    public func plan(_ request: GenerateRequest) async throws -> PlanOutcome {
        var timings = StageTimings()
        var warnings: [String] = []
        var analysis: AudioAnalysis?
        var sha: String?
        var audioPath = request.audioPath
        if audioPath == nil, request.plan == nil, request.composeMissingSong, let models, models.fills(.music) {
            audioPath = try await composeSong(request)
        }
        if let audio = audioPath {
            progress.report(.stageStarted(.analyze))
            let t0 = ContinuousClock.now
            try FileCheck.requireRegularFile(audio, what: "audio file")
            let (result, hash) = try await AudioAnalyzer().analyze(path: audio, source: pcmSource, cache: analysisCache)
            guard !result.isSilent else {
                throw ReelError(.silentAudio, "the audio file '\((audio as NSString).lastPathComponent)' is silent (nothing above -60 dBFS)")
            }
            if !result.steady { warnings.append("no steady beat found in the song; cutting on onsets and energy") }
            analysis = result
            sha = try hash ?? ContentHash.sha256(fileAt: audio)
            timings[.analyze] = t0.secondsSince
            progress.report(.stageCompleted(.analyze, seconds: timings[.analyze]!))
        }
        progress.report(.stageStarted(.plan))
        let t1 = ContinuousClock.now
        var plan: Plan
        if var given = request.plan {
            try given.validate()
            if let analysis, given.songStart + given.duration > analysis.duration + 0.05 {
                throw ReelError(.badPlan, String(format: "the plan runs to %.2f s of the song, which is only %.2f s long", given.songStart + given.duration, analysis.duration))
            }
            if request.audioPath == nil, given.tempo != nil { warnings.append("the plan was made for a song, but no --audio was given: the video has no music") }
            if let preset = request.planPreset { given.brief.preset = preset }
            if let aspect = request.planAspect { given.brief.aspect = aspect }
            plan = given
        } else {
            var overrides = request.overrides
            let brief = try PromptParser().parse(request.prompt, overrides: overrides)
            overrides.duration = brief.duration
            let duration = try RulePlanner.videoDuration(requested: brief.duration, songDuration: analysis?.duration, start: request.start)
            if let asked = brief.duration, asked > duration + 0.05 {
                warnings.append(String(format: request.start > 0 ? "the song has only %.1f s left after --start; the video is %.1f s instead of %.1f s"
                                                             : "the song is only %.1f s long; the video is %.1f s instead of %.1f s", duration, duration, asked))
            }
            var items: [MediaItem] = []
            if let dir = request.mediaDirectory {
                let scan = try await media.scan(dir)
                items = scan.items
                warnings += scan.skipped.map { "skipped media \($0)" }
            }
            let clipModel = clipModels(brief.preset)
            var planned: Plan
            if let llmPlanner {
                let (p, w) = try await llmPlanner.plan(brief: brief, analysis: analysis, songStart: request.start, duration: duration,
                                                       seed: request.seed, media: items, maxSceneSeconds: clipModel?.longestClip)
                planned = p
                warnings += w
            } else {
                planned = RulePlanner().plan(brief: brief, analysis: analysis, songStart: request.start, duration: duration,
                                             seed: request.seed, media: items)
            }
            if let clipModel {
                let beats = (analysis?.beats ?? []).map { $0 - request.start }
                planned = planned.routed(to: clipModel, beats: beats)
                try planned.validate()
            }
            plan = planned
        }
        // The manifest and `plan --json` say what the offline provider draws for each scene (made again from the prompt
        // here, so a plan edited by hand never carries a stale record).
        plan = Animatic.recordingVisuals(in: plan)
        timings[.plan] = t1.secondsSince
        progress.report(.stageCompleted(.plan, seconds: timings[.plan]!))
        for w in warnings { progress.report(.warning(w)) }
        return PlanOutcome(plan: plan, audioPath: audioPath, analysis: analysis, audioSHA256: sha, warnings: warnings, timings: timings)
    }

    /// `plan(_:)`, taken from `checkpoints` when an earlier attempt of the run got that far, and saved there otherwise.
    /// User media paths are kept relative to the request's media folder, so another worker's folder fits.
    func plan(_ request: GenerateRequest, checkpoints: (any PipelineCheckpoints)?) async throws -> PlanOutcome {
        guard let checkpoints, request.plan == nil else { return try await plan(request) }
        if let saved = try await checkpoints.savedPlan() {
            let plan = saved.plan.anchoringMedia(to: request.mediaDirectory)
            try plan.validate()
            var audioPath = request.audioPath
            // A song the music role made is not kept with the plan; it comes back from the generation cache.
            if audioPath == nil, plan.tempo != nil, request.composeMissingSong { audioPath = try await composeSong(request) }
            progress.report(.stageCompleted(.plan, seconds: 0))
            return PlanOutcome(plan: plan, audioPath: audioPath, analysis: saved.analysis, audioSHA256: saved.audioSHA256,
                               warnings: saved.warnings, timings: saved.timings)
        }
        let outcome = try await plan(request)
        try await checkpoints.savePlan(PlanCheckpoint(plan: outcome.plan.relativisingMedia(to: request.mediaDirectory), analysis: outcome.analysis,
                                                      audioSHA256: outcome.audioSHA256, warnings: outcome.warnings, timings: outcome.timings))
        return outcome
    }

    // MARK: - Generate

    /// Makes the whole video. On any failure or cancellation nothing is left at the output path.
    /// With `checkpoints`, a plan saved by an earlier attempt is taken up instead of planning again, each finished
    /// scene is saved, and scenes an earlier attempt (or job) finished are restored rather than made again.
    public func generate(_ request: GenerateRequest, checkpoints: (any PipelineCheckpoints)? = nil) async throws -> GenerateOutcome {
        guard request.output.lowercased().hasSuffix(".mp4") else {
            throw ReelError(.badInput, "the output file must end in .mp4: '\(request.output)'")
        }
        let video = try OutputFile(path: request.output)
        defer { video.discard() }
        let manifestPath = Self.manifestPath(for: request.output)
        let manifestFile = try OutputFile(path: manifestPath)
        defer { manifestFile.discard() }

        var outcome = try await plan(request, checkpoints: checkpoints)
        let plan = outcome.plan
        let size = plan.brief.preset.frameSize(plan.brief.aspect)

        let work = try WorkDirectory(keeping: request.workDirectory)
        defer { work.removeIfTemporary() }

        progress.report(.stageStarted(.generate))
        let t2 = ContinuousClock.now
        let results = try await generateClips(plan: plan, size: size, work: work, variants: request.sceneVariants, checkpoints: checkpoints,
                                              energy: outcome.analysis?.energy)
        outcome.timings[.generate] = t2.secondsSince
        progress.report(.stageCompleted(.generate, seconds: outcome.timings[.generate]!))

        progress.report(.stageStarted(.compose))
        let t3 = ContinuousClock.now
        let timeline = Timeline(plan: plan, clipPaths: results.map(\.path), size: size, encoder: plan.brief.preset.encoder,
                                audioPath: outcome.audioPath)
        let sink = progress
        try await renderer.render(timeline, to: video.temporaryPath) { sink.report(.progress(.compose, fraction: $0, detail: "encoding")) }
        let rendered = try await probe.probe(video.temporaryPath)
        guard let stream = rendered.video, stream.width == size.width, stream.height == size.height else {
            throw ReelError(.renderFailed, "the rendered video does not have the expected \(size) picture")
        }
        outcome.timings[.compose] = t3.secondsSince
        progress.report(.stageCompleted(.compose, seconds: outcome.timings[.compose]!))

        let ledger = await meter.ledger
        let manifest = Manifest(
            createdAt: Date(), seed: plan.seed, brief: plan.brief,
            audio: zip(outcome.audioPath, outcome.analysis, outcome.audioSHA256).map {
                AudioSummary(file: $0.0, sha256: $0.2, analysis: $0.1, start: plan.songStart)
            },
            plan: plan,
            video: VideoSummary(path: request.output, width: size.width, height: size.height, fps: FrameClock.fps,
                                duration: rendered.duration.map { ($0 * 1000).rounded() / 1000 } ?? plan.duration),
            timings: outcome.timings, cost: ledger, warnings: outcome.warnings)
        try Task.checkCancellation()
        do {
            try ReelJSON.encoder().encode(manifest).write(to: URL(fileURLWithPath: manifestFile.temporaryPath))
        } catch {
            throw ReelError(.outputNotWritable, "cannot write the manifest beside the video: \(OutputFile.reason(error))")
        }
        try video.commit()
        try manifestFile.commit()
        return GenerateOutcome(video: request.output, manifestPath: manifestPath, manifest: manifest)
    }

    /// Has the music role make a song for a video asked for without one (CONTRACTS.md: "without --audio, the video has
    /// no music track unless a music provider is configured"), as long as the video and instrumental.
    func composeSong(_ request: GenerateRequest) async throws -> String? {
        guard let models else { return nil }
        let brief = try PromptParser().parse(request.prompt, overrides: request.overrides)
        progress.report(.stageStarted(.analyze))
        let song = try await models.run(Self.songRequest(brief: brief, start: request.start, seed: request.seed))
        guard let path = song.files.first else { throw ReelError(.providerFailed, "the music model \(song.entry.model) returned no audio") }
        return path
    }

    /// The music role's request for a brief: the same for a run and its estimate, so a cached song is recognised.
    static func songRequest(brief: Brief, start: Double, seed: UInt64) -> ModelRequest {
        let words = [brief.prompt] + brief.style + brief.mood + ["instrumental, a steady beat, no vocals"]
        return ModelRequest(role: .music, scene: nil, prompt: words.joined(separator: ", "),
                            duration: (brief.duration ?? RulePlanner.defaultDurationWithoutSong) + start, preset: brief.preset, seed: seed)
    }

    /// Prices a plan before anything is spent: a keyframe and a clip per model-made scene at the registry's prices,
    /// minus what the generation cache already holds, plus what planning itself cost.
    /// With `songToCompose`, the music role's song is priced too (a video asked for without a song).
    public func estimate(_ plan: Plan, songToCompose: Bool = false) async -> CostEstimate {
        var calls: [CostEstimate.Call] = []
        let planning = await meter.ledger.total
        guard let models else { return CostEstimate(calls: [], planning: planning, sceneCount: plan.scenes.count) }
        let brief = plan.brief
        if songToCompose, models.fills(.music),
           let song = await models.estimate(Self.songRequest(brief: brief, start: plan.songStart, seed: plan.seed)) {
            calls.append(.init(role: Role.music.rawValue, model: song.entry.model, scene: nil, cost: CostLedger.round(song.cost), cached: song.cached))
        }
        let videoRole = Role.clip(for: brief.preset), imageRole = Role.keyframe(for: brief.preset)
        let spans = Timeline.clipSpans(of: plan)
        for scene in plan.scenes where scene.source.provider == "replicate" || scene.source.provider == "cog" {
            let seed = ModelClipProvider.seed(plan.seed, scene: scene.index)
            var firstFrame = scene.source.media
            if let video = models.primary(videoRole), ModelClipProvider.needsKeyframe(scene, videoModel: video),
               let key = await models.estimate(ModelRequest(role: imageRole, scene: scene.index, prompt: scene.prompt, aspect: brief.aspect,
                                                            preset: brief.preset, seed: seed)) {
                calls.append(.init(role: imageRole.rawValue, model: key.entry.model, scene: scene.index, cost: CostLedger.round(key.cost), cached: key.cached))
                firstFrame = key.cachedFiles.first
            }
            if ModelClipProvider.needsClip(scene), let clip = await models.estimate(ModelRequest(role: videoRole, scene: scene.index, prompt: scene.prompt, firstFrame: firstFrame,
                                                             duration: Double(spans[scene.index].frames) / Double(FrameClock.fps),
                                                             aspect: brief.aspect, preset: brief.preset, seed: seed)) {
                calls.append(.init(role: videoRole.rawValue, model: clip.entry.model, scene: scene.index, cost: CostLedger.round(clip.cost), cached: clip.cached))
            }
        }
        return CostEstimate(calls: calls, planning: planning, sceneCount: plan.scenes.count)
    }

    /// `<video without extension>.manifest.json` beside the video (CONTRACTS.md).
    public static func manifestPath(for video: String) -> String {
        (video as NSString).deletingPathExtension + ".manifest.json"
    }

    /// Generates every scene's clip, at most `concurrency` at once, in scene order. With `checkpoints`, a scene whose
    /// key (see `SceneCheckpointKey`) an earlier run saved is restored instead, and each made scene is saved.
    /// `energy` is the song's loudness curve: each clip gets its values frame by frame, so its motion follows the music.
    func generateClips(plan: Plan, size: FrameSize, work: WorkDirectory, variants: [Int: Int] = [:],
                       checkpoints: (any PipelineCheckpoints)? = nil, energy: EnergyCurve? = nil) async throws -> [ClipResult] {
        let spans = Timeline.clipSpans(of: plan)
        let requests = plan.scenes.enumerated().map { i, scene in
            ClipRequest(scene: scene, frames: spans[i].frames, size: size, brief: plan.brief,
                        seed: SceneCheckpointKey.seed(plan.seed, variant: variants[i] ?? 0),
                        output: work.path(for: "scene-\(String(format: "%03d", i)).mp4"),
                        energy: energy?.perFrame(songStart: plan.songStart, startFrame: spans[i].startFrame, frames: spans[i].frames) ?? [])
        }
        let keys = SceneCheckpointKey.keys(for: requests)
        var results = [ClipResult?](repeating: nil, count: requests.count)
        let provider = clips, sink = progress
        // A budget refusal stops new scenes but lets those under way finish (their calls were approved and may be
        // seconds from done: finished, they reach the cache for the next run); any other failure stops everything.
        var refusal: ReelError?
        try await withThrowingTaskGroup(of: (Int, Result<ClipResult, any Error>).self) { group in
            var next = 0
            func launch() {
                let i = next, request = requests[i]
                next += 1
                group.addTask {
                    do {
                        if let checkpoints, try await checkpoints.restoreScene(key: keys[i], index: i, to: request.output) {
                            try await provider.adoptRestoredClip(request)
                            sink.report(.sceneReused(index: i))
                            return (i, .success(ClipResult(path: request.output)))
                        }
                        sink.report(.sceneStarted(index: i))
                        let result = try await provider.makeClip(request)
                        try await checkpoints?.saveScene(key: keys[i], index: i, clipAt: result.path)
                        sink.report(.sceneCompleted(index: i))
                        return (i, .success(result))
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            while next < min(concurrency, requests.count) { launch() }
            var done = 0
            while let (i, outcome) = try await group.next() {
                switch outcome {
                case .success(let result):
                    results[i] = result
                    done += 1
                    progress.report(.progress(.generate, fraction: Double(done) / Double(requests.count), detail: "scene \(i + 1) of \(requests.count)"))
                    if refusal == nil, next < requests.count { launch() }
                case .failure(let error as ReelError) where error.code == .budgetExceeded || refusal != nil:
                    // Scenes that depended on a refused one end too; the refusal is what the user is told.
                    refusal = refusal ?? error
                case .failure(let error):
                    group.cancelAll()
                    throw error
                }
            }
        }
        if let refusal { throw refusal }
        return results.map { $0! }
    }
}

/// What a plan will cost (`plan --estimate`).
public struct CostEstimate: Encodable, Sendable {
    public struct Call: Encodable, Sendable {
        public var role: String
        public var model: String
        public var scene: Int?
        public var cost: Double
        public var cached: Bool
    }
    public var currency = "USD"
    /// Dollars still to spend on generation (cached calls count 0).
    public var total: Double
    public var perScene: [Double]
    /// Dollars already spent making the plan (an LLM planner).
    public var planning: Double
    public var calls: [Call]

    init(calls: [Call], planning: Double, sceneCount: Int) {
        self.calls = calls; self.planning = planning
        total = CostLedger.round(calls.reduce(0) { $0 + $1.cost })
        perScene = (0..<sceneCount).map { i in CostLedger.round(calls.filter { $0.scene == i }.reduce(0) { $0 + $1.cost }) }
    }
}

/// Where scene clips are written: a temporary folder removed afterwards, or one the user keeps.
public struct WorkDirectory: Sendable {
    public let root: String
    let temporary: Bool

    public init(keeping kept: String?) throws {
        if let kept {
            root = kept
            temporary = false
        } else {
            root = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-\(UUID().uuidString.prefix(12))")
            temporary = true
        }
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw ReelError(.outputNotWritable, "cannot create the work folder '\(root)': \(OutputFile.reason(error))")
        }
    }

    public func path(for name: String) -> String { (root as NSString).appendingPathComponent(name) }
    public func removeIfTemporary() { if temporary { try? FileManager.default.removeItem(atPath: root) } }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant until now.
    var secondsSince: Double {
        (ContinuousClock.now - self).seconds
    }
}

/// Zips three optionals into one.
func zip<A, B, C>(_ a: A?, _ b: B?, _ c: C?) -> (A, B, C)? {
    guard let a, let b, let c else { return nil }
    return (a, b, c)
}
