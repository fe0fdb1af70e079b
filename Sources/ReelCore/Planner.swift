import Foundation

/// A user's image or clip that scenes can be made from.
public struct MediaItem: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case image, video }
    public var path: String
    public var kind: Kind
    /// Seconds, for clips.
    public var duration: Double?
    public init(path: String, kind: Kind, duration: Double?) { self.path = path; self.kind = kind; self.duration = duration }
}

/// The rule-based planner: scenes on the beat grid, shorter where the music is intense, each with a prompt,
/// a transition and a reason. Deterministic for a given seed.
public struct RulePlanner: Sendable {
    /// The longest video Reelsmith makes from a song by default, in seconds.
    public static let maxDefaultDuration = 180.0
    /// The length of a video without a song, in seconds.
    public static let defaultDurationWithoutSong = 30.0

    public init() {}

    /// How long the video will be: what was asked for, else the song's length from `start`, capped at 3 minutes.
    public static func videoDuration(requested: Double?, songDuration: Double?, start: Double) throws -> Double {
        guard start >= 0 else { throw ReelError(.badInput, "--start must be zero or more seconds") }
        if let requested, !(requested > 0) { throw ReelError(.badInput, "--duration must be a positive number of seconds") }
        guard let song = songDuration else { return FrameClock.snap(requested ?? defaultDurationWithoutSong) }
        let remaining = song - start
        guard remaining >= 1 else {
            throw ReelError(.badInput, String(format: "--start %.2f s leaves less than 1 s of the song (%.2f s long)", start, song))
        }
        let wanted = requested ?? min(remaining, maxDefaultDuration)
        return FrameClock.snap(min(wanted, remaining))
    }

    /// Plans the scenes of a video of `duration` seconds that begins `songStart` seconds into the song.
    public func plan(brief: Brief, analysis: AudioAnalysis?, songStart: Double, duration: Double, seed: UInt64,
                     media: [MediaItem] = []) -> Plan {
        let cuts = cutPoints(brief: brief, analysis: analysis, songStart: songStart, duration: duration)
        var rng = SeededGenerator.derived(seed: seed, "plan")
        let composer = PromptComposer(brief: brief)
        var scenes: [Scene] = []
        let bounds = [0.0] + cuts.map(\.time) + [duration]
        let count = bounds.count - 1
        let energies = Self.energies(brief: brief, analysis: analysis, songStart: songStart, bounds: bounds)
        let roles = Self.roles(energies: energies, bounds: bounds, duration: duration, hasAudio: analysis != nil, cuts: cuts)
        let beatLength = Self.beatLength(analysis)
        let sources = Self.sources(media: media, bounds: bounds)
        for i in 0..<count {
            let content = composer.content(forScene: i, role: roles[i], rng: &rng)
            let transition: Transition? = i + 1 < count
                ? chooseTransition(brief: brief, cut: cuts[i], beatLength: beatLength,
                                   before: bounds[i + 1] - bounds[i], after: bounds[i + 2] - bounds[i + 1],
                                   nextRole: roles[i + 1], rng: &rng)
                : nil
            scenes.append(Scene(index: i, start: bounds[i], end: bounds[i + 1],
                                prompt: composer.prompt(content: content, role: roles[i]), content: content, role: roles[i],
                                energy: (energies[i] * 1000).rounded() / 1000,
                                reason: i + 1 < count ? cuts[i].reason : "end of video", transition: transition, source: sources[i]))
        }
        return Plan(brief: brief, seed: seed, songStart: songStart, duration: duration, tempo: analysis?.tempo, scenes: scenes)
    }

    // MARK: - Shared with PlanDraft (the LLM planner's answer is built into a Plan by the same rules)

    /// The length of one beat in seconds (0.5 s, a virtual 120 BPM, without a tempo).
    static func beatLength(_ analysis: AudioAnalysis?) -> Double { analysis?.tempo.map { 60 / $0 } ?? 0.5 }

    /// The scene length the pacing and the Brief's energy aim for, before the music's energy shortens or lengthens it.
    static func targetBase(_ brief: Brief) -> Double { baseLength(brief.pacing) * (1.2 - 0.4 * brief.energy) }

    /// The shortest scene the planner makes: about a beat, at least 0.9 s, at most 1.5 s.
    static func minSceneLength(_ analysis: AudioAnalysis?) -> Double { max(0.9, min(beatLength(analysis), 1.5)) }

    /// The longest scene the planner makes for a base length.
    static func maxSceneLength(base: Double, minLength: Double) -> Double { max(minLength * 2, min(12, base * 3)) }

    /// Mean musical energy of each scene between `bounds` (the Brief's energy without a song).
    static func energies(brief: Brief, analysis: AudioAnalysis?, songStart: Double, bounds: [Double]) -> [Double] {
        (0..<(bounds.count - 1)).map { i in
            analysis.map { $0.energy.mean(from: songStart + bounds[i], to: songStart + bounds[i + 1]) } ?? brief.energy
        }
    }

    /// Arc roles for the scenes; the scene a drop opens is a peak, whatever its neighbours.
    static func roles(energies: [Double], bounds: [Double], duration: Double, hasAudio: Bool, cuts: [Cut]) -> [ArcRole] {
        var roles = Self.roles(energies: energies, bounds: bounds, duration: duration, hasAudio: hasAudio)
        for (i, cut) in cuts.enumerated() where cut.drop && i + 1 < roles.count - 1 { roles[i + 1] = .peak }
        return roles
    }

    /// Where each scene's picture comes from: the user's media in turn (clips continue where they left off), else procedural.
    static func sources(media: [MediaItem], bounds: [Double]) -> [SceneSource] {
        var mediaUse: [String: Double] = [:]
        return (0..<(bounds.count - 1)).map { i in
            guard !media.isEmpty else { return SceneSource.procedural }
            let item = media[i % media.count]
            let offset = mediaUse[item.path, default: 0]
            let source = SceneSource(provider: "user-media", model: item.kind == .image ? "image" : "clip",
                                     media: item.path, mediaOffset: item.kind == .video ? offset : nil)
            if item.kind == .video, let total = item.duration, total > 0 {
                let next = offset + (bounds[i + 1] - bounds[i])
                mediaUse[item.path] = next < total ? next : 0
            }
            return source
        }
    }

    // MARK: - Cut points

    /// A planned cut with the reason it is there.
    struct Cut { var time: Double; var reason: String; var sectionChange: Bool; var drop = false }

    /// Candidate cut times on the video's timeline, each with its kind of grid point.
    struct Candidate {
        var time: Double; var weight: Double; var reason: String; var section: Bool; var drop = false
    }

    /// Base scene length for the pacing, before the music's energy shortens or lengthens it.
    static func baseLength(_ pacing: Pacing) -> Double {
        switch pacing { case .slow: 6.0; case .moderate: 3.6; case .fast: 2.0 }
    }

    func cutPoints(brief: Brief, analysis: AudioAnalysis?, songStart: Double, duration: Double) -> [Cut] {
        let base = Self.targetBase(brief)
        let candidates = Self.candidates(analysis: analysis, songStart: songStart, duration: duration, base: base)
        let minLength = Self.minSceneLength(analysis)
        let maxLength = Self.maxSceneLength(base: base, minLength: minLength)
        var cuts: [Cut] = []
        var t = 0.0
        while duration - t > minLength * 1.5 {
            let localEnergy = analysis.map { $0.energy.mean(from: songStart + t, to: songStart + t + base) } ?? brief.energy
            // High energy shortens scenes (down to ~0.55x), quiet passages lengthen them (up to ~1.45x).
            let target = base * (1.45 - 0.9 * localEnergy)
            let window = candidates.filter { $0.time >= t + minLength && $0.time <= t + maxLength && duration - $0.time >= minLength }
            guard !window.isEmpty else { break }
            // A section change inside the target range is always taken: the picture changes when the music does.
            let chosen: Candidate
            if let section = window.first(where: { $0.section && $0.time <= t + target * 1.5 }) {
                chosen = section
            } else {
                chosen = window.min(by: { cost($0, from: t, target: target) < cost($1, from: t, target: target) })!
            }
            cuts.append(Cut(time: chosen.time, reason: chosen.reason, sectionChange: chosen.section, drop: chosen.drop))
            t = chosen.time
        }
        return cuts
    }

    private func cost(_ c: Candidate, from t: Double, target: Double) -> Double {
        abs(c.time - t - target) / target - c.weight
    }

    static func candidates(analysis: AudioAnalysis?, songStart: Double, duration: Double, base: Double) -> [Candidate] {
        let frameTime = { (songTime: Double) in FrameClock.snap(songTime - songStart) }
        let inside = { (t: Double) in t > 0.3 && t < duration - 0.3 }
        guard let analysis else {
            // No song: a steady grid at a virtual 120 BPM, bars of 2 s.
            return stride(from: 0.5, to: duration, by: 0.5).map { t in
                let bar = (t / 2).rounded() == t / 2
                return Candidate(time: FrameClock.snap(t), weight: bar ? 0.15 : 0, reason: bar ? "bar (no song)" : "half bar (no song)", section: false)
            }.filter { inside($0.time) }
        }
        var out: [Candidate] = []
        let sectionStarts = analysis.sections.dropFirst().map(\.start)
        let grid = BeatGrid(beats: analysis.beats, downbeats: analysis.downbeats)
        if analysis.steady, !analysis.beats.isEmpty {
            let beatLength = 60 / (analysis.tempo ?? 120)
            let barLength = beatLength * Double(analysis.meter?.countedBeatsPerBar ?? 4)
            // Cut on bars where a bar is short enough for the pacing; otherwise on beats.
            let useBars = barLength <= base * 1.25 && !analysis.downbeats.isEmpty
            let downbeatSet = Set(analysis.downbeats.map { FrameClock.frame(at: $0) })
            for (i, b) in analysis.downbeats.enumerated() {
                let t = frameTime(b)
                guard inside(t) else { continue }
                let phrase8 = i % 8 == 0, phrase4 = i % 4 == 0
                let reason = phrase8 ? "downbeat, phrase start (8 bars)" : phrase4 ? "downbeat, phrase start (4 bars)" : "downbeat"
                out.append(Candidate(time: t, weight: phrase8 ? 0.35 : phrase4 ? 0.25 : 0.12, reason: reason, section: false))
            }
            if !useBars || analysis.downbeats.isEmpty {
                for b in analysis.beats where !downbeatSet.contains(FrameClock.frame(at: b)) {
                    let t = frameTime(b)
                    if inside(t) { out.append(Candidate(time: t, weight: 0, reason: "beat", section: false)) }
                }
            }
            for s in sectionStarts {
                let snapped = grid.snap(s, tolerance: beatLength * 1.01)
                let t = frameTime(snapped)
                // A drop: the music jumps in energy at the boundary.
                let rise = analysis.energy.mean(from: snapped, to: snapped + 2) - analysis.energy.mean(from: snapped - 2, to: snapped)
                let reason = rise > 0.2 ? "drop (section boundary, energy rises)" : "section boundary, downbeat"
                if inside(t) { out.append(Candidate(time: t, weight: 0.5, reason: reason, section: true, drop: rise > 0.2)) }
            }
        } else {
            for o in analysis.onsets {
                let t = frameTime(o)
                if inside(t) { out.append(Candidate(time: t, weight: 0, reason: "onset (no steady beat)", section: false)) }
            }
            for s in sectionStarts {
                let t = frameTime(s)
                if inside(t) { out.append(Candidate(time: t, weight: 0.5, reason: "section boundary (energy change)", section: true)) }
            }
            if out.isEmpty {
                out = stride(from: base, to: duration, by: base).map {
                    Candidate(time: FrameClock.snap($0), weight: 0, reason: "even split (no onsets)", section: false)
                }.filter { inside($0.time) }
            }
        }
        return out.sorted { $0.time < $1.time }
    }

    // MARK: - Arc and transitions

    static func roles(energies: [Double], bounds: [Double], duration: Double, hasAudio: Bool) -> [ArcRole] {
        let n = energies.count
        guard n > 1 else { return [.build] }
        var roles = [ArcRole](repeating: .build, count: n)
        if hasAudio, n >= 3 {
            let sorted = energies.sorted()
            let threshold = sorted[Int(Double(n - 1) * 0.66)]
            for i in 1..<(n - 1) where energies[i] >= threshold && energies[i] > 0.05 { roles[i] = .peak }
        } else {
            for i in 0..<n {
                let mid = (bounds[i] + bounds[i + 1]) / 2 / duration
                if mid >= 0.55 && mid < 0.85 { roles[i] = .peak }
            }
        }
        roles[0] = .intro
        if n >= 3 { roles[n - 1] = .outro }
        if !roles.contains(.peak), n >= 3 {
            let mid = (1..<(n - 1)).max(by: { energies[$0] < energies[$1] }) ?? n / 2
            roles[mid] = .peak
        }
        return roles
    }

    func chooseTransition(brief: Brief, cut: Cut, beatLength: Double, before: Double, after: Double,
                          nextRole: ArcRole, rng: inout SeededGenerator) -> Transition {
        let kinds: [TransitionKind]
        if cut.drop {
            // Into a drop: a hard cut or a short white flash, right on the beat.
            if Bool.random(using: &rng) { return .cut }
            kinds = [.fadewhite]
        } else if cut.sectionChange {
            kinds = nextRole == .peak ? [.fadewhite, .zoomin, .pixelize] : [.fadeblack, .circleclose, .radial, .fadewhite]
        } else {
            switch brief.pacing {
            case .fast:
                // Fast pacing is mostly hard cuts, with a few snappy moves.
                if Double.random(in: 0..<1, using: &rng) < 0.55 { return .cut }
                kinds = [.pixelize, .slideleft, .slideright, .wipeleft, .zoomin, .hblur, .squeezeh]
            case .moderate:
                if nextRole == .peak, Double.random(in: 0..<1, using: &rng) < 0.4 { return .cut }
                kinds = [.fade, .dissolve, .wipeleft, .slideup, .circleopen, .smoothleft, .diagtl, .radial]
            case .slow:
                kinds = [.fade, .dissolve, .fadeblack, .smoothleft, .circleopen, .fadeslow, .hblur]
            }
        }
        let kind = kinds[Int.random(in: 0..<kinds.count, using: &rng)]
        return Self.transition(kind, beats: Self.transitionBeats(cut: cut, pacing: brief.pacing), beatLength: beatLength,
                               pacing: brief.pacing, before: before, after: after)
    }

    /// How many beats a transition into the next scene lasts: short into a drop, a beat (half when fast) at a
    /// section change, otherwise by pacing.
    static func transitionBeats(cut: Cut, pacing: Pacing) -> Double {
        if cut.drop { return 0.25 }
        if cut.sectionChange { return pacing == .fast ? 0.5 : 1 }
        switch pacing { case .fast: return 0.5; case .moderate: return 1; case .slow: return 2 }
    }

    /// A transition of `kind` lasting `beats` beats, capped, fitted between its scenes, an even number of frames
    /// (or a hard cut when fewer than 4 frames remain).
    static func transition(_ kind: TransitionKind, beats: Double, beatLength: Double, pacing: Pacing,
                           before: Double, after: Double) -> Transition {
        let seconds = min(beats * beatLength, pacing == .slow ? 1.6 : 0.8)
        // A transition is centred on its cut, so half of it must fit inside each neighbouring scene.
        let limit = 0.45 * min(before, after) * 2
        var frames = FrameClock.frame(at: min(seconds, limit))
        frames -= frames % 2   // even, so the cut sits exactly in its middle
        return frames >= 4 ? Transition(kind: kind, duration: FrameClock.seconds(frames)) : .cut
    }
}
