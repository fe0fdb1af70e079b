import Foundation
import Testing
import ReelCore
import ReelMedia
import ReelProviders
import ReelTestSupport
@testable import ReelPipeline

/// The pipeline with every scene drawn as a solid colour, so cut frames can be measured exactly.
func colourPipeline(progress: any ProgressSink = SilentProgress()) -> ClassicPipeline {
    ClassicPipeline(pcmSource: FFmpegPCMSource(), clips: ClipRouter(providers: ["offline": SolidColorClipProvider()]),
                    renderer: TimelineRenderer(), probe: MediaProbe(), progress: progress, concurrency: 2)
}

/// For each cut, where the rendered picture changes: the changing frame of a hard cut, or the middle of a
/// transition (from its first frame that is no longer pure scene i to its first frame that is pure scene i+1).
/// Works for any xfade shape, linear or not.
func measuredCutFrames(frames: [FrameSampler.Frame], plan: Plan) -> [Int] {
    func distance(_ f: FrameSampler.Frame, _ ref: FrameSampler.Frame) -> Double {
        let m = f.meanColor, r = ref.meanColor
        return abs(m.r - r.r) + abs(m.g - r.g) + abs(m.b - r.b)
    }
    let eps = 6.0
    var cuts: [Int] = []
    var searchFrom = 0
    for i in 0..<(plan.scenes.count - 1) {
        // Reference pictures from the middle of each scene, where no transition reaches.
        let a = frames[FrameClock.frame(at: (plan.scenes[i].start + plan.scenes[i].end) / 2)]
        let b = frames[FrameClock.frame(at: (plan.scenes[i + 1].start + plan.scenes[i + 1].end) / 2)]
        guard let leaves = (searchFrom..<frames.count).first(where: { distance(frames[$0], a) > eps }),
              let arrives = (leaves..<frames.count).first(where: { distance(frames[$0], b) <= eps }) else { break }
        cuts.append(leaves == arrives ? arrives : Int((Double(leaves - 1 + arrives) / 2).rounded()))
        searchFrom = arrives
    }
    return cuts
}

@Suite("Classic pipeline, end to end with real ffmpeg", .serialized)
struct PipelineTests {
    @Test(arguments: ["neon city, punchy fast cuts", "slow dreamy ocean waves"])
    func renderedCutsLandOnThePlannedBeats(prompt: String) async throws {
        let dir = try Fixtures.temporaryDirectory("cuts")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 120, duration: 16, in: dir)
        let out = "\(dir)/video.mp4"
        let result = try await colourPipeline().generate(GenerateRequest(prompt: prompt, audioPath: song.path, start: 0, seed: 3, output: out))
        let plan = result.manifest.plan

        // The file: H.264 + AAC at the preset's size, as long as the plan to within one frame.
        let info = try await MediaProbe().probe(out)
        #expect(info.video?.codec == "h264")
        #expect(info.audio?.codec == "aac")
        #expect(info.video?.width == 960 && info.video?.height == 540)
        #expect(info.video?.pixelFormat == "yuv420p")
        #expect(abs((info.video?.duration ?? 0) - plan.duration) <= 1.0 / 30 + 1e-6)

        // Every planned cut is on a beat of the song, and the rendered picture changes on that frame.
        let grid = BeatGrid(beats: song.beats, downbeats: [])
        for cut in plan.cuts { #expect(grid.isOnBeat(cut, tolerance: 1.0 / 30), "planned cut \(cut) is not on a beat") }
        let frames = try await FrameSampler().frames(of: out)
        #expect(frames.count == FrameClock.frame(at: plan.duration))
        let measured = measuredCutFrames(frames: frames, plan: plan)
        #expect(measured.count == plan.cuts.count)
        for (planned, seen) in zip(plan.cuts, measured) {
            #expect(abs(FrameClock.frame(at: planned) - seen) <= 1, "cut planned at frame \(FrameClock.frame(at: planned)) seen at \(seen)")
        }
        #expect(FileManager.default.fileExists(atPath: result.manifestPath))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }

    @Test func audioIsNormalisedAndFadesOut() async throws {
        let dir = try Fixtures.temporaryDirectory("loud")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A quiet song (about -30 LUFS) is brought up to about -14 LUFS.
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "aevalsrc=0.03*sin(2*PI*220*t)*(1+0.5*sin(2*PI*2*t)):s=44100:d=14:c=mono", "\(dir)/quiet.wav"])
        let out = "\(dir)/v.mp4"
        _ = try await colourPipeline().generate(GenerateRequest(prompt: "sunset", audioPath: "\(dir)/quiet.wav", seed: 1, output: out))
        let stats = try await SubprocessRunner().run("ffmpeg", ["-nostdin", "-hide_banner", "-i", out, "-map", "0:a", "-af", "ebur128", "-f", "null", "-"])
        let summary = stats.stderrTail.components(separatedBy: "Summary:").last ?? ""
        let integrated = summary.split(separator: "\n").first { $0.contains("I:") }.flatMap { line in
            line.split(separator: " ").compactMap { Double($0) }.first
        }
        let lufs = try #require(integrated, "no loudness in: \(summary)")
        #expect(abs(lufs - -14) <= 1.5, "integrated loudness \(lufs) LUFS")
        // The last 0.1 s is much quieter than the middle: the fade-out.
        let pcm = try await FFmpegPCMSource().decode(path: out, sampleRate: 8000)
        let rms = { (a: Int, b: Int) in (pcm.samples[a..<b].reduce(Float(0)) { $0 + $1 * $1 } / Float(b - a)).squareRoot() }
        let n = pcm.samples.count
        #expect(rms(n - 800, n) < rms(n / 2, n / 2 + 8000) * 0.3)
    }

    @Test func withoutASongThereIsNoAudioTrack() async throws {
        let dir = try Fixtures.temporaryDirectory("nosong")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = GenerateRequest(prompt: "forest, 6 seconds", seed: 1, output: "\(dir)/v.mp4")
        request.overrides.aspect = .portrait
        let result = try await colourPipeline().generate(request)
        let info = try await MediaProbe().probe("\(dir)/v.mp4")
        #expect(info.audio == nil)
        #expect(info.video?.width == 540 && info.video?.height == 960)
        #expect(result.manifest.audio == nil)
        #expect(result.manifest.plan.duration == 6)
    }

    @Test func cancellationLeavesNothingBehind() async throws {
        let dir = try Fixtures.temporaryDirectory("cancel")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 120, duration: 40, in: dir)
        let progress = RecordingProgress()
        let pipeline = ClassicPipeline.offline(progress: progress)
        let out = "\(dir)/out/video.mp4"
        let task = Task { try await pipeline.generate(GenerateRequest(prompt: "city", audioPath: song.path, seed: 1, output: out)) }
        let deadline = ContinuousClock.now + .seconds(120)
        while !progress.events.contains(.sceneStarted(index: 0)) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("a cancelled run finished")
        } catch {
            #expect(error is CancellationError || Task.isCancelled || "\(error)".contains("cancel") || (error as? ReelError) != nil)
        }
        // The output folder the run created is gone again, or at least empty.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/out")) ?? []).isEmpty)
    }

    @Test func aFailingProviderFailsTheRunCleanly() async throws {
        let dir = try Fixtures.temporaryDirectory("fail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = ClassicPipeline(pcmSource: FFmpegPCMSource(), clips: UnexpectedClipProvider(), renderer: TimelineRenderer(),
                                       probe: MediaProbe(), progress: SilentProgress(), concurrency: 2)
        await #expect(throws: ReelError.self) {
            _ = try await pipeline.generate(GenerateRequest(prompt: "x, 4 seconds", seed: 1, output: "\(dir)/v.mp4"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func userImagesAndClipsBecomeScenes() async throws {
        let dir = try Fixtures.temporaryDirectory("media")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let media = "\(dir)/media"
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=800x600", "-frames:v", "1", "\(media)/a-photo.png"])
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "smptebars=s=320x240:d=1.5", "\(media)/b-clip.mp4"])
        try "not media".write(toFile: "\(media)/c-notes.txt", atomically: true, encoding: .utf8)
        let song = try Fixtures.song(bpm: 120, duration: 12, in: dir)
        let request = GenerateRequest(prompt: "holiday memories", audioPath: song.path, mediaDirectory: media, seed: 2, output: "\(dir)/v.mp4")
        let result = try await ClassicPipeline.offline(progress: SilentProgress()).generate(request)
        let sources = result.manifest.plan.scenes.map(\.source)
        #expect(sources.allSatisfy { $0.provider == "user-media" })
        #expect(sources.contains { $0.model == "image" } && sources.contains { $0.model == "clip" })
        #expect(result.manifest.warnings.contains { $0.contains("c-notes.txt") })
        let info = try await MediaProbe().probe("\(dir)/v.mp4")
        #expect(abs((info.video?.duration ?? 0) - 12) <= 1.0 / 30 + 1e-6)
    }
}

@Suite("Procedural visuals")
struct ProceduralTests {
    func request(_ content: String, index: Int = 0, seed: UInt64 = 5, frames: Int = 20, output: String) throws -> ClipRequest {
        let brief = try PromptParser().parse("synthwave, dark")
        let scene = Scene(index: index, start: 0, end: 1, prompt: "\(content), synthwave", content: content, role: .build, energy: 0.5,
                          reason: "", transition: nil, source: .procedural)
        return ClipRequest(scene: scene, frames: frames, size: FrameSize(192, 108), brief: brief, seed: seed, output: output)
    }

    @Test func everyMotifRendersMovingPictures() async throws {
        let dir = try Fixtures.temporaryDirectory("motifs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let words = ["rain", "city", "crystal", "forest", "stars", "fire", "ocean", "sunset"]
        var seen = Set<ProceduralRecipe.Motif>()
        for word in words {
            let r = try request("tracking shot of \(word)", output: "\(dir)/\(word).mp4")
            seen.insert(ProceduralRecipe(request: r).motif)
            _ = try await ProceduralClipProvider().makeClip(r)
            let frames = try await FrameSampler().frames(of: r.output)
            #expect(frames.count == 20, "\(word)")
            let motion = zip(frames, frames.dropFirst()).map { $0.distance(to: $1) }.reduce(0, +)
            #expect(motion > 0.5, "\(word) does not move (total frame-to-frame change \(motion))")
        }
        #expect(seen.count == ProceduralRecipe.Motif.allCases.count)
    }

    @Test func differentPromptsDoNotLookAlike() async throws {
        let dir = try Fixtures.temporaryDirectory("alike")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pairs = [("neon city at night", "ocean waves at dawn"), ("rain on glass", "fire in the desert"), ("abstract one", "abstract two")]
        for (a, b) in pairs {
            let ra = try request(a, output: "\(dir)/a.mp4"), rb = try request(b, output: "\(dir)/b.mp4")
            _ = try await ProceduralClipProvider().makeClip(ra)
            _ = try await ProceduralClipProvider().makeClip(rb)
            let fa = try await FrameSampler().frames(of: ra.output), fb = try await FrameSampler().frames(of: rb.output)
            let difference = zip(fa, fb).map { $0.distance(to: $1) }.reduce(0, +) / Double(fa.count)
            #expect(difference > 12, "'\(a)' and '\(b)' look alike (mean difference \(difference))")
        }
    }

    @Test func sameSeedSamePictures() async throws {
        let dir = try Fixtures.temporaryDirectory("seed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for word in ["rain", "city", "stars", "ocean"] {
            let r1 = try request(word, output: "\(dir)/1.mp4"), r2 = try request(word, output: "\(dir)/2.mp4")
            _ = try await ProceduralClipProvider().makeClip(r1)
            _ = try await ProceduralClipProvider().makeClip(r2)
            let f1 = try await FrameSampler().frames(of: r1.output, width: 48, height: 27)
            let f2 = try await FrameSampler().frames(of: r2.output, width: 48, height: 27)
            #expect(f1 == f2, "\(word) differs between runs with the same seed")
        }
    }
}
