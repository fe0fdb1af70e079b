import Foundation

/// Where a scene sits in the arc of the video.
public enum ArcRole: String, Codable, Sendable, CaseIterable {
    case intro, build, peak, outro
}

/// How one scene hands over to the next (xfade names of FFmpeg 5.1, plus `cut`).
public enum TransitionKind: String, Codable, Sendable, CaseIterable {
    case cut, fade, dissolve, fadeblack, fadewhite, wipeleft, wiperight, wipeup, slideleft, slideright, slideup,
         circleopen, circleclose, radial, pixelize, zoomin, smoothleft, smoothright, hblur, diagtl, squeezeh, fadeslow
}

/// The transition into the next scene; a duration of 0 is a hard cut.
public struct Transition: Codable, Sendable, Hashable {
    public var kind: TransitionKind
    /// Seconds, centred on the cut.
    public var duration: Double
    public init(kind: TransitionKind, duration: Double) {
        self.kind = duration > 0 ? kind : .cut
        self.duration = kind == .cut ? 0 : duration
    }
    public static let cut = Transition(kind: .cut, duration: 0)
}

/// Which provider makes a scene's clip, and from what.
public struct SceneSource: Codable, Sendable, Hashable {
    public var provider: String
    public var model: String
    /// The user's image or clip, for `provider == "user-media"`.
    public var media: String?
    /// Seconds into the user's clip where the scene starts.
    public var mediaOffset: Double?
    /// For model providers: the scene starts from the previous scene's last frame (a continuous shot).
    public var chain: Bool?
    /// For model providers: the scene shows the rest of the clip generated for the previous scene, punched in (a
    /// tighter crop), instead of paying for a new clip.
    public var continuesClip: Bool?
    /// For the offline procedural provider: what the scene prompt made it draw (`SceneVocabulary`), recorded for the
    /// reader of a plan or manifest; the drawing is always made again from the prompt, never read from here.
    public var visual: SceneVisual?
    public init(provider: String, model: String, media: String? = nil, mediaOffset: Double? = nil, chain: Bool? = nil,
                continuesClip: Bool? = nil) {
        self.provider = provider; self.model = model; self.media = media; self.mediaOffset = mediaOffset; self.chain = chain
        self.continuesClip = continuesClip
    }

    /// Providers that can make a scene: the offline ones and the model servers.
    public static let knownProviders = ["offline", "user-media", "replicate", "cog"]
    public static let procedural = SceneSource(provider: "offline", model: "procedural")
}

/// One shot of the video, on the video's timeline (0 is the first frame).
public struct Scene: Codable, Sendable, Hashable {
    public var index: Int
    public var start: Double
    public var end: Double
    /// The full prompt a model (or the procedural generator) renders.
    public var prompt: String
    /// The subject this scene shows.
    public var content: String
    public var role: ArcRole
    /// Mean musical energy over the scene, 0 to 1.
    public var energy: Double
    /// Why the scene ends where it does ("downbeat, phrase start").
    public var reason: String
    /// Into the next scene; nil on the last one.
    public var transition: Transition?
    public var source: SceneSource

    public init(index: Int, start: Double, end: Double, prompt: String, content: String, role: ArcRole, energy: Double,
                reason: String, transition: Transition?, source: SceneSource) {
        self.index = index; self.start = start; self.end = end; self.prompt = prompt; self.content = content
        self.role = role; self.energy = energy; self.reason = reason; self.transition = transition; self.source = source
    }

    public var duration: Double { end - start }

    enum CodingKeys: String, CodingKey { case index, start, end, prompt, content, role, energy, reason, transition, source }

    /// Encodes `transition` as null on the last scene rather than leaving the key out, as the manifest's shape promises.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index); try c.encode(start, forKey: .start); try c.encode(end, forKey: .end)
        try c.encode(prompt, forKey: .prompt); try c.encode(content, forKey: .content); try c.encode(role, forKey: .role)
        try c.encode(energy, forKey: .energy); try c.encode(reason, forKey: .reason)
        if let transition { try c.encode(transition, forKey: .transition) } else { try c.encodeNil(forKey: .transition) }
        try c.encode(source, forKey: .source)
    }
}

/// The ordered scenes of a video and everything needed to generate it again (`reelsmith plan --json`).
public struct Plan: Codable, Sendable, Equatable {
    public var version: Int
    public var brief: Brief
    public var seed: UInt64
    /// Where in the song the video begins, in seconds.
    public var songStart: Double
    /// Length of the video in seconds.
    public var duration: Double
    public var tempo: Double?
    public var scenes: [Scene]

    public init(brief: Brief, seed: UInt64, songStart: Double, duration: Double, tempo: Double?, scenes: [Scene]) {
        self.version = 1; self.brief = brief; self.seed = seed; self.songStart = songStart
        self.duration = duration; self.tempo = tempo; self.scenes = scenes
    }

    /// The cut times between scenes, on the video's timeline.
    public var cuts: [Double] { scenes.dropFirst().map(\.start) }

    /// Checks the plan can be rendered: scenes contiguous from 0 to `duration`, each long enough for its
    /// transitions, times on frames. Throws `.badPlan` naming the first problem.
    public func validate(checkingMedia: Bool = true) throws {
        guard version == 1 else { throw ReelError(.badPlan, "the plan has version \(version); this Reelsmith reads version 1") }
        guard !scenes.isEmpty else { throw ReelError(.badPlan, "the plan has no scenes") }
        guard duration > 0, duration <= 3600 else { throw ReelError(.badPlan, "the plan's duration \(duration) s is out of range (0 to 3600)") }
        guard songStart.isFinite, songStart >= 0 else { throw ReelError(.badPlan, "the plan's songStart \(songStart) must be zero or more seconds") }
        for scene in scenes {
            let slack = 0.5 / Double(FrameClock.fps)
            guard scene.start.isFinite, scene.end.isFinite, scene.start >= 0, scene.start <= scene.end, scene.end <= duration + slack else {
                throw ReelError(.badPlan, "scene \(scene.index) runs from \(scene.start) s to \(scene.end) s, outside the plan's 0 to \(duration) s")
            }
            guard SceneSource.knownProviders.contains(scene.source.provider) else {
                throw ReelError(.badPlan, "scene \(scene.index) names provider '\(scene.source.provider)'; known: \(SceneSource.knownProviders.joined(separator: ", "))")
            }
            if checkingMedia, scene.source.provider == "user-media" || scene.source.media != nil {
                guard let media = scene.source.media, FileCheck.isRegularFile(media) else {
                    throw ReelError(.badPlan, "scene \(scene.index) uses the media file '\(scene.source.media ?? "")', which does not exist")
                }
            }
        }
        let minFrames = 2
        var expectedStart = 0
        for (i, scene) in scenes.enumerated() {
            guard scene.index == i else { throw ReelError(.badPlan, "scene \(i) has index \(scene.index); scenes must be numbered 0, 1, 2, ...") }
            let a = FrameClock.frame(at: scene.start), b = FrameClock.frame(at: scene.end)
            guard a == expectedStart else {
                throw ReelError(.badPlan, "scene \(i) starts at \(scene.start) s but the previous one ends at \(FrameClock.seconds(expectedStart)) s")
            }
            guard b - a >= minFrames else { throw ReelError(.badPlan, "scene \(i) is shorter than \(minFrames) frames") }
            if scene.source.chain == true || scene.source.continuesClip == true {
                // A chained scene starts from the last frame a model made for the scene before it.
                guard i > 0, ["replicate", "cog"].contains(scene.source.provider), ["replicate", "cog"].contains(scenes[i - 1].source.provider) else {
                    throw ReelError(.badPlan, "scene \(i) continues the previous scene's shot (chain or continuesClip), which needs both scenes made by a model provider")
                }
            }
            guard !scene.prompt.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ReelError(.badPlan, "scene \(i) has an empty prompt")
            }
            if let t = scene.transition, i + 1 < scenes.count {
                let next = scenes[i + 1]
                let half = t.duration / 2
                guard t.duration >= 0, half <= scene.duration / 2 + 1e-6, half <= next.duration / 2 + 1e-6 else {
                    throw ReelError(.badPlan, "the \(t.kind.rawValue) transition after scene \(i) lasts \(t.duration) s, longer than its scenes allow")
                }
            }
            expectedStart = b
        }
        guard expectedStart == FrameClock.frame(at: duration) else {
            throw ReelError(.badPlan, "the last scene ends at \(FrameClock.seconds(expectedStart)) s but the plan lasts \(duration) s")
        }
    }
}
