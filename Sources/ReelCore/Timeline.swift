/// The composition as data: which clip plays when, how each hands over, and the audio under it.
/// Built from a `Plan`; rendered by `TimelineRenderer` in one ffmpeg pass.
public struct Timeline: Sendable, Hashable {
    /// One scene's clip: `frames` long, its frame 0 shown at `startFrame` on the video's timeline.
    public struct Clip: Sendable, Hashable {
        public var path: String
        public var startFrame: Int
        public var frames: Int
    }

    /// The song under the video.
    public struct Audio: Sendable, Hashable {
        public var path: String
        /// Seconds into the song where the video begins.
        public var start: Double
        public var fadeOut: Double
        /// Integrated loudness target in LUFS.
        public var loudness: Double
    }

    public var size: FrameSize
    public var fps: Int
    public var encoder: EncoderSettings
    public var durationFrames: Int
    public var clips: [Clip]
    /// `transitions[i]` joins clip i and clip i+1.
    public var transitions: [Transition]
    /// `cutFrames[i]` is the frame where scene i+1 begins.
    public var cutFrames: [Int]
    public var audio: Audio?

    public var duration: Double { FrameClock.seconds(durationFrames) }

    /// Frames of a transition, even so that the cut falls exactly in its middle.
    public static func frames(of transition: Transition?) -> Int {
        guard let t = transition, t.kind != .cut else { return 0 }
        let f = FrameClock.frame(at: t.duration)
        return f - f % 2
    }

    /// For each scene of `plan`: where its clip starts on the timeline and how many frames it needs,
    /// including half of each transition on either side (a transition is centred on its cut).
    public static func clipSpans(of plan: Plan) -> [(startFrame: Int, frames: Int)] {
        plan.scenes.enumerated().map { i, scene in
            let leadIn = i > 0 ? frames(of: plan.scenes[i - 1].transition) / 2 : 0
            let tail = i + 1 < plan.scenes.count ? frames(of: scene.transition) / 2 : 0
            let a = FrameClock.frame(at: scene.start), b = FrameClock.frame(at: scene.end)
            return (a - leadIn, b - a + leadIn + tail)
        }
    }

    /// The timeline of `plan` with one clip file per scene.
    public init(plan: Plan, clipPaths: [String], size: FrameSize, encoder: EncoderSettings, audioPath: String?) {
        precondition(clipPaths.count == plan.scenes.count, "one clip per scene")
        let spans = Self.clipSpans(of: plan)
        self.size = size
        self.fps = FrameClock.fps
        self.encoder = encoder
        self.durationFrames = FrameClock.frame(at: plan.duration)
        self.clips = zip(clipPaths, spans).map { Clip(path: $0, startFrame: $1.startFrame, frames: $1.frames) }
        self.transitions = plan.scenes.dropLast().map { $0.transition ?? .cut }
        self.cutFrames = plan.scenes.dropFirst().map { FrameClock.frame(at: $0.start) }
        self.audio = audioPath.map {
            Audio(path: $0, start: plan.songStart, fadeOut: min(1.5, plan.duration / 10), loudness: -14)
        }
    }
}
