import Foundation

/// What a plan needs to know about the video model that will make its scenes.
public struct ClipModel: Sendable, Hashable {
    /// `replicate` or `cog`.
    public var provider: String
    public var model: String
    /// The model starts from a given image (the user's, a keyframe, or the previous scene's last frame).
    public var acceptsFirstFrame: Bool
    /// The longest clip it makes in one call; longer scenes are split.
    public var longestClip: Double?
    /// It is paid per clip of a fixed length (not per second): what a short scene leaves of its clip is free footage.
    public var pricedPerClip: Bool

    public init(provider: String, model: String, acceptsFirstFrame: Bool, longestClip: Double?, pricedPerClip: Bool = false) {
        self.provider = provider; self.model = model; self.acceptsFirstFrame = acceptsFirstFrame; self.longestClip = longestClip
        self.pricedPerClip = pricedPerClip
    }
}

extension Plan {
    /// Transitions soft enough that the next scene can continue the same shot from the previous scene's last frame.
    static let continuousTransitions: Set<TransitionKind> = [.fade, .dissolve, .fadeslow, .smoothleft, .smoothright]

    /// This plan with its generated scenes handed to a video model: procedural scenes and the user's still images
    /// (as first frames, when the model takes one) go to the model, the user's video clips stay as they are. Scenes
    /// longer than the model's longest clip are split on the beat nearest an even division, the parts continuing one
    /// shot; a scene joined to the one before by a soft transition of the same arc role continues that shot too.
    public func routed(to clips: ClipModel, beats: [Double] = []) -> Plan {
        var out: [Scene] = []
        for scene in scenes {
            var s = scene
            let userImage = scene.source.provider == "user-media" && scene.source.model == "image"
            if scene.source.provider == "offline" || userImage && clips.acceptsFirstFrame {
                s.source = SceneSource(provider: clips.provider, model: clips.model, media: userImage ? scene.source.media : nil)
            }
            // Only a model's scenes are split: the user's clips play as they are.
            out += s.source.provider == clips.provider ? split(s, longest: clips.longestClip, beats: beats) : [s]
        }
        for i in out.indices {
            out[i].index = i
            guard i > 0, out[i].source.provider == clips.provider, out[i].source.media == nil, clips.acceptsFirstFrame,
                  out[i - 1].source.provider == clips.provider else { continue }
            if out[i].source.chain == true { continue }
            if let t = out[i - 1].transition, Self.continuousTransitions.contains(t.kind), out[i - 1].role == out[i].role {
                out[i].source.chain = true
            }
        }
        if clips.pricedPerClip, let length = clips.longestClip { reuseClips(&out, clipLength: length, provider: clips.provider) }
        // Splitting can leave a transition longer than a now shorter scene allows: shorten it to an even frame count.
        for i in out.indices.dropLast() {
            guard let t = out[i].transition, t.kind != .cut else { continue }
            let room = min(out[i].duration, out[i + 1].duration)
            if t.duration > room {
                let frames = Int((room * Double(FrameClock.fps) / 2).rounded(.down)) * 2
                out[i].transition = Transition(kind: t.kind, duration: Double(frames) / Double(FrameClock.fps))
            }
        }
        var plan = self
        plan.scenes = out
        return plan
    }

    /// Neighbours in the same part of the song share one fixed-length clip while it lasts: the later scene shows the
    /// rest of the earlier one's clip, punched in (or out again), so the cut on the beat is still seen and no second clip
    /// is paid for. Across a crossfade the two crops of the same moments blend into a zoom. A flash to white or black
    /// (a drop) always gets a new clip.
    private func reuseClips(_ scenes: inout [Scene], clipLength: Double, provider: String) {
        // Seconds of the current clip spoken for so far (scene lengths plus half of the transitions at both ends).
        var used = 0.0
        for i in scenes.indices {
            let s = scenes[i]
            let modelMade = s.source.provider == provider && s.source.media == nil
            let incomingHalf = i > 0 ? (scenes[i - 1].transition?.duration ?? 0) / 2 : 0
            let outgoingHalf = (s.transition?.duration ?? 0) / 2
            var continues = false
            if i > 0, modelMade, used > 0 {
                let previous = scenes[i - 1]
                let kind = previous.transition?.kind ?? .cut
                continues = previous.source.provider == provider && previous.source.media == nil && previous.role == s.role
                    && kind != .fadewhite && kind != .fadeblack && used + s.duration + outgoingHalf <= clipLength - 0.05
            }
            if continues {
                scenes[i].source.continuesClip = true
                scenes[i].source.chain = nil
                used += s.duration
            } else {
                used = modelMade ? incomingHalf + s.duration : 0
            }
        }
    }

    private func split(_ scene: Scene, longest: Double?, beats: [Double]) -> [Scene] {
        guard let longest, longest > 0.5, scene.duration > longest + 1e-6 else { return [scene] }
        let parts = Int((scene.duration / longest).rounded(.up))
        // How far a cut may move to a beat while every part stays within the longest clip.
        let slack = min(longest * 0.2, (longest - scene.duration / Double(parts)) / 2)
        var cuts: [Double] = []
        for k in 1..<parts {
            let even = scene.start + scene.duration * Double(k) / Double(parts)
            let lower = (cuts.last ?? scene.start) + 0.5
            let near = beats.filter { $0 > lower && $0 < scene.end - 0.5 && abs($0 - even) <= slack }
                .min { abs($0 - even) < abs($1 - even) }
            cuts.append(FrameClock.snap(near ?? even))
        }
        let bounds = [scene.start] + cuts + [scene.end]
        return (0..<parts).map { k in
            var part = scene
            part.start = bounds[k]; part.end = bounds[k + 1]
            if k > 0 { part.source.chain = scene.source.media == nil ? true : nil; part.reason = "split: the video model makes at most \(String(format: "%.1f", longest)) s" }
            if k + 1 < parts { part.transition = Transition(kind: .dissolve, duration: min(0.2, (bounds[k + 1] - bounds[k]) / 2)) }
            return part
        }
    }
}
