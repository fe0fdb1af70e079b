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

    public init(pcmSource: any PCMSource, clips: any ClipProvider, renderer: TimelineRenderer, probe: MediaProbe,
                progress: any ProgressSink, concurrency: Int, analysisCache: AnalysisCache? = nil) {
        self.pcmSource = pcmSource; self.clips = clips; self.renderer = renderer; self.probe = probe
        self.media = MediaLibrary(probe: probe); self.progress = progress; self.concurrency = max(1, concurrency)
        self.analysisCache = analysisCache
    }

    /// The offline pipeline on this machine's ffmpeg.
    public static func offline(progress: any ProgressSink, runner: any ProcessRunner = SubprocessRunner(),
                               analysisCache: AnalysisCache? = nil) -> ClassicPipeline {
        let router = ClipRouter(providers: ["offline": ProceduralClipProvider(runner: runner),
                                            "user-media": UserMediaClipProvider(runner: runner)])
        // Each ffmpeg child already uses several threads; two at a time keeps 2 cores busy without thrashing.
        let width = max(2, min(4, ProcessInfo.processInfo.activeProcessorCount))
        return ClassicPipeline(pcmSource: FFmpegPCMSource(runner: runner), clips: router, renderer: TimelineRenderer(runner: runner),
                               probe: MediaProbe(runner: runner), progress: progress, concurrency: width, analysisCache: analysisCache)
    }

    // MARK: - Plan

    /// Analyses the song (if any) and plans the scenes, or checks and adopts the plan the request carries.
    public func plan(_ request: GenerateRequest) async throws -> PlanOutcome {
        var timings = StageTimings()
        var warnings: [String] = []
        var analysis: AudioAnalysis?
        var sha: String?
        if let audio = request.audioPath {
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
        let plan: Plan
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
            plan = RulePlanner().plan(brief: brief, analysis: analysis, songStart: request.start, duration: duration,
                                      seed: request.seed, media: items)
        }
        timings[.plan] = t1.secondsSince
        progress.report(.stageCompleted(.plan, seconds: timings[.plan]!))
        for w in warnings { progress.report(.warning(w)) }
        return PlanOutcome(plan: plan, analysis: analysis, audioSHA256: sha, warnings: warnings, timings: timings)
    }

    // MARK: - Generate

    /// Makes the whole video. On any failure or cancellation nothing is left at the output path.
    public func generate(_ request: GenerateRequest) async throws -> GenerateOutcome {
        guard request.output.lowercased().hasSuffix(".mp4") else {
            throw ReelError(.badInput, "the output file must end in .mp4: '\(request.output)'")
        }
        let video = try OutputFile(path: request.output)
        defer { video.discard() }
        let manifestPath = Self.manifestPath(for: request.output)
        let manifestFile = try OutputFile(path: manifestPath)
        defer { manifestFile.discard() }

        var outcome = try await plan(request)
        let plan = outcome.plan
        let size = plan.brief.preset.frameSize(plan.brief.aspect)

        let work = try WorkDirectory(keeping: request.workDirectory)
        defer { work.removeIfTemporary() }

        progress.report(.stageStarted(.generate))
        let t2 = ContinuousClock.now
        let results = try await generateClips(plan: plan, size: size, work: work)
        outcome.timings[.generate] = t2.secondsSince
        progress.report(.stageCompleted(.generate, seconds: outcome.timings[.generate]!))

        progress.report(.stageStarted(.compose))
        let t3 = ContinuousClock.now
        let timeline = Timeline(plan: plan, clipPaths: results.map(\.path), size: size, encoder: plan.brief.preset.encoder,
                                audioPath: request.audioPath)
        let sink = progress
        try await renderer.render(timeline, to: video.temporaryPath) { sink.report(.progress(.compose, fraction: $0, detail: "encoding")) }
        let rendered = try await probe.probe(video.temporaryPath)
        guard let stream = rendered.video, stream.width == size.width, stream.height == size.height else {
            throw ReelError(.renderFailed, "the rendered video does not have the expected \(size) picture")
        }
        outcome.timings[.compose] = t3.secondsSince
        progress.report(.stageCompleted(.compose, seconds: outcome.timings[.compose]!))

        var ledger = CostLedger()
        for r in results { if let c = r.cost { ledger.append(c) } }
        let manifest = Manifest(
            createdAt: Date(), seed: plan.seed, brief: plan.brief,
            audio: zip(request.audioPath, outcome.analysis, outcome.audioSHA256).map {
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

    /// `<video without extension>.manifest.json` beside the video (CONTRACTS.md).
    public static func manifestPath(for video: String) -> String {
        (video as NSString).deletingPathExtension + ".manifest.json"
    }

    /// Generates every scene's clip, at most `concurrency` at once, in scene order.
    func generateClips(plan: Plan, size: FrameSize, work: WorkDirectory) async throws -> [ClipResult] {
        let spans = Timeline.clipSpans(of: plan)
        let requests = plan.scenes.enumerated().map { i, scene in
            ClipRequest(scene: scene, frames: spans[i].frames, size: size, brief: plan.brief, seed: plan.seed,
                        output: work.path(for: "scene-\(String(format: "%03d", i)).mp4"))
        }
        var results = [ClipResult?](repeating: nil, count: requests.count)
        let provider = clips, sink = progress
        try await withThrowingTaskGroup(of: (Int, ClipResult).self) { group in
            var next = 0
            func launch() {
                let i = next, request = requests[i]
                next += 1
                group.addTask {
                    sink.report(.sceneStarted(index: i))
                    let result = try await provider.makeClip(request)
                    sink.report(.sceneCompleted(index: i))
                    return (i, result)
                }
            }
            while next < min(concurrency, requests.count) { launch() }
            var done = 0
            while let (i, result) = try await group.next() {
                results[i] = result
                done += 1
                progress.report(.progress(.generate, fraction: Double(done) / Double(requests.count), detail: "scene \(i + 1) of \(requests.count)"))
                if next < requests.count { launch() }
            }
        }
        return results.map { $0! }
    }
}

/// Where scene clips are written: a temporary folder removed afterwards, or one the user keeps.
struct WorkDirectory: Sendable {
    let root: String
    let temporary: Bool

    init(keeping kept: String?) throws {
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

    func path(for name: String) -> String { (root as NSString).appendingPathComponent(name) }
    func removeIfTemporary() { if temporary { try? FileManager.default.removeItem(atPath: root) } }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant until now.
    var secondsSince: Double {
        let d = ContinuousClock.now - self
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Zips three optionals into one.
func zip<A, B, C>(_ a: A?, _ b: B?, _ c: C?) -> (A, B, C)? {
    guard let a, let b, let c else { return nil }
    return (a, b, c)
}
