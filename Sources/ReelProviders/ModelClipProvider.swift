import Foundation
import ReelCore
import ReelMedia

/// Makes a scene with AI models: a keyframe from the image role, animated by the video role, then fitted to the
/// scene's frames. The first frame is, in order of preference: the user's image for the scene, the previous scene's
/// last frame (when the plan chains the two), or a generated keyframe. Models that take no first frame get none.
public struct ModelClipProvider: ClipProvider {
    let models: ModelRunner
    let runner: any ProcessRunner
    let probe: MediaProbe
    let lastFrames: FrameBoard
    /// Bounds the local ffmpeg work (fitting clips, taking last frames), which is separate from waiting on models.
    let localWork: ConcurrencyLimit

    public init(models: ModelRunner, localWork: ConcurrencyLimit, runner: any ProcessRunner = SubprocessRunner()) {
        self.models = models; self.runner = runner; self.probe = MediaProbe(runner: runner)
        self.lastFrames = FrameBoard(); self.localWork = localWork
    }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        do {
            return try await makeSceneClip(request)
        } catch {
            // A scene waiting on this one's last frame or clip must not wait forever.
            await lastFrames.markFailed(SceneKey(request, request.scene.index))
            throw error
        }
    }

    /// With `continuing` false, a scene planned to continue the previous scene's clip gets a clip of its own, started
    /// from that scene's last frame (used when the previous scene was restored and its source clip is not at hand).
    func makeSceneClip(_ request: ClipRequest, continuing: Bool = true) async throws -> ClipResult {
        let scene = request.scene, brief = request.brief
        let videoRole = Role.clip(for: brief.preset)
        guard let videoModel = models.primary(videoRole) else {
            throw ReelError(.providerUnavailable, "no model is configured for the role \(videoRole.rawValue)")
        }
        if continuing, scene.source.continuesClip == true, scene.index > 0 {
            return try await continueClip(request)
        }
        let seed = Self.seed(request.seed, scene: scene.index)
        var firstFrame: String?
        if videoModel.capabilities.firstFrame == true {
            if let media = scene.source.media {
                firstFrame = media
            } else if !Self.needsKeyframe(scene, videoModel: videoModel) {
                firstFrame = try await lastFrames.lastFrame(of: SceneKey(request, scene.index - 1))
            } else {
                let keyframe = try await models.run(ModelRequest(role: Role.keyframe(for: brief.preset), scene: scene.index,
                                                                 prompt: scene.prompt, aspect: brief.aspect, preset: brief.preset, seed: seed))
                guard let image = keyframe.files.first else {
                    throw ReelError(.providerFailed, "the keyframe model \(keyframe.entry.model) returned no image for scene \(scene.index)")
                }
                firstFrame = image
            }
        }
        let clip = try await models.run(ModelRequest(role: videoRole, scene: scene.index, prompt: scene.prompt, firstFrame: firstFrame,
                                                     duration: Double(request.frames) / Double(FrameClock.fps), aspect: brief.aspect,
                                                     preset: brief.preset, seed: seed))
        guard let video = clip.files.first else {
            throw ReelError(.providerFailed, "the video model \(clip.entry.model) returned no clip for scene \(scene.index)")
        }
        let lastFrame = try await localWork.withPermit {
            try await fit(video, to: request)
            return try await extractLastFrame(of: request.output, scene: scene.index)
        }
        await lastFrames.publish(SceneKey(request, scene.index), frame: lastFrame, clip: video, usedUpTo: Double(request.frames) / Double(FrameClock.fps),
                                 overlapAfter: scene.transition?.duration ?? 0, punchedIn: false)
        return ClipResult(path: request.output)
    }

    /// A scene cut from the rest of the previous scene's clip: it starts where that scene's part ended, cropped tighter
    /// (or wider again, alternating) so the cut on the beat is seen. No model is called.
    func continueClip(_ request: ClipRequest) async throws -> ClipResult {
        let previous = try await lastFrames.clip(of: SceneKey(request, request.scene.index - 1))
        if previous.restored { return try await makeSceneClip(request, continuing: false) }
        let punchIn = !previous.punchedIn
        // The frames a transition blends are the same moments of the clip, so a crossfade becomes a zoom.
        let start = max(0, previous.usedUpTo - previous.overlapAfter)
        let lastFrame = try await localWork.withPermit {
            try await fit(previous.clip, to: request, from: start, zoom: punchIn ? 1.25 : 1)
            return try await extractLastFrame(of: request.output, scene: request.scene.index)
        }
        await lastFrames.publish(SceneKey(request, request.scene.index), frame: lastFrame, clip: previous.clip,
                                 usedUpTo: start + Double(request.frames) / Double(FrameClock.fps),
                                 overlapAfter: request.scene.transition?.duration ?? 0, punchedIn: punchIn)
        return ClipResult(path: request.output)
    }

    /// A restored clip leaves its last frame for a chained scene after it; the model clip it was cut from is not kept,
    /// so a scene meant to continue that clip gets its own (see `makeSceneClip(_:continuing:)`).
    public func adoptRestoredClip(_ request: ClipRequest) async throws {
        let lastFrame = try await localWork.withPermit { try await extractLastFrame(of: request.output, scene: request.scene.index) }
        await lastFrames.publish(SceneKey(request, request.scene.index), frame: lastFrame, clip: request.output,
                                 usedUpTo: Double(request.frames) / Double(FrameClock.fps),
                                 overlapAfter: request.scene.transition?.duration ?? 0, punchedIn: false, restored: true)
    }

    /// The seed a scene's model calls use: the run's seed, moved per scene so scenes differ but repeat exactly.
    public static func seed(_ runSeed: UInt64, scene: Int) -> UInt64 { runSeed &+ UInt64(scene) &* 1_000_003 }

    /// Whether a scene asks the image role for a keyframe (not when it starts from the user's image or the previous
    /// scene's last frame, nor when the video model takes no first frame).
    public static func needsKeyframe(_ scene: Scene, videoModel: ModelEntry) -> Bool {
        videoModel.capabilities.firstFrame == true && scene.source.media == nil && !(scene.source.chain == true && scene.index > 0)
            && needsClip(scene)
    }

    /// Whether a scene asks the video role for a clip (not when it shows the rest of the previous scene's clip).
    public static func needsClip(_ scene: Scene) -> Bool { !(scene.source.continuesClip == true && scene.index > 0) }

    /// Scales and crops the model's clip to the frame, converts it to 30 fps and trims it to the scene; a clip shorter
    /// than its scene is slowed (at most to half speed) and then holds its last frame.
    func fit(_ video: String, to request: ClipRequest, from offset: Double = 0, zoom: Double = 1) async throws {
        typealias F = FilterGraph.Filter
        let info = try await probe.probe(video)
        guard let stream = info.video, (stream.width ?? 0) > 0 else {
            throw ReelError(.providerFailed, "the clip made for scene \(request.scene.index) has no picture")
        }
        let have = max(0.1, (stream.duration ?? info.duration ?? request.scene.duration) - offset)
        let need = Double(request.frames) / Double(FrameClock.fps)
        let stretch = have > 0 && have < need ? min(2, need / have) : 1
        var filters: [F] = []
        if stretch > 1.001 { filters.append(F("setpts", [(nil, String(format: "%.5f*PTS", stretch))])) }
        filters += [F("fps", [(nil, "30")])]
        if zoom > 1 {
            // Punch in: crop the centre, then scale back up to the frame.
            filters.append(F("crop", [(nil, String(format: "iw/%.3f", zoom)), (nil, String(format: "ih/%.3f", zoom))]))
        }
        filters += FilterGraph.cover(width: request.size.width, height: request.size.height)
        filters += [F("tpad", ["stop_mode": "clone", "stop_duration": String(format: "%.3f", max(0, need - have * stretch) + 0.1)]),
                    F("format", [(nil, "yuv420p")])]
        var graph = FilterGraph()
        graph.add(["0:v"], filters, ["v"])
        let seek = offset > 0 ? ["-ss", String(format: "%.3f", offset)] : []
        let args = seek + info.input.arguments + ["-filter_complex", graph.description,
                    "-map", "[v]"] + IntermediateEncoding.arguments(frames: request.frames, output: request.output)
        try await runner.ffmpeg(args, failure: .generationFailed, what: "fitting the generated clip to scene \(request.scene.index)",
                                timeout: IntermediateEncoding.deadline(frames: request.frames))
    }

    /// The frame is written beside the clip, in the run's own work folder.
    func extractLastFrame(of clip: String, scene: Int) async throws -> String {
        let path = ((clip as NSString).deletingLastPathComponent as NSString).appendingPathComponent("scene-\(scene)-last.png")
        try await runner.ffmpeg(["-sseof", "-0.2"] + MediaInput.own(clip).arguments + ["-update", "1", path],
                                failure: .generationFailed, what: "taking the last frame of scene \(scene)", timeout: ProcessDeadline.quick)
        return path
    }
}

/// What each finished scene leaves for the scene after it: its last frame (for a chained shot) and the model clip it
/// came from with how much of it is used (for a scene that continues the clip).
actor FrameBoard {
    typealias Key = SceneKey
    /// A scene's model clip: used up to `usedUpTo` seconds, the last `overlapAfter` of them shared with the next scene's
    /// transition.
    struct ClipUse: Sendable { var clip: String; var usedUpTo: Double; var overlapAfter: Double; var punchedIn: Bool; var restored: Bool }
    private var frames: [Key: String] = [:]
    private var clips: [Key: ClipUse] = [:]
    private var failed: Set<Key> = []

    func markFailed(_ scene: Key) { failed.insert(scene) }

    private func checkFailed(_ scene: Key) throws {
        if failed.contains(scene) {
            throw ReelError(.generationFailed, "scene \(scene.scene + 1) continues scene \(scene.scene), which could not be made")
        }
    }

    func publish(_ scene: Key, frame: String, clip: String, usedUpTo: Double, overlapAfter: Double, punchedIn: Bool, restored: Bool = false) {
        frames[scene] = frame
        clips[scene] = ClipUse(clip: clip, usedUpTo: usedUpTo, overlapAfter: overlapAfter, punchedIn: punchedIn, restored: restored)
    }

    /// Waits until the scene's last frame is known. Scenes are started in order, so the one waited for is already
    /// running; if it fails, the whole generation is cancelled and this wait ends with it.
    func lastFrame(of scene: Key) async throws -> String {
        while true {
            if let frame = frames[scene] { return frame }
            try checkFailed(scene)
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the scene's clip is known (as `lastFrame(of:)`).
    func clip(of scene: Key) async throws -> ClipUse {
        while true {
            if let use = clips[scene] { return use }
            try checkFailed(scene)
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A scene of one run: runs are told apart by their work folder (where their clips are written), so one provider can
/// serve several runs at once without mixing their frames.
struct SceneKey: Hashable, Sendable {
    let run: String
    let scene: Int
    init(_ request: ClipRequest, _ scene: Int) {
        run = (request.output as NSString).deletingLastPathComponent
        self.scene = scene
    }
}
