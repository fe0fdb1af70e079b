import Foundation

/// Reelsmith's version, as printed by `--version` and written into manifests.
public enum ReelVersion {
    public static let current = "0.1.0"
}

/// The JSON conventions of every file and object Reelsmith writes: camelCase keys, ISO 8601 dates.
public enum ReelJSON {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// What the manifest says about the song.
public struct AudioSummary: Codable, Sendable, Hashable {
    public var file: String
    public var sha256: String
    public var duration: Double
    /// Where in the song the video begins.
    public var start: Double
    public var steady: Bool
    public var tempo: Double?
    public var meter: String?
    public var beats: Int
    public var downbeats: Int
    public var sections: Int

    public init(file: String, sha256: String, analysis: AudioAnalysis, start: Double) {
        self.file = file; self.sha256 = sha256; self.duration = analysis.duration; self.start = start
        self.steady = analysis.steady; self.tempo = analysis.tempo.map { ($0 * 100).rounded() / 100 }
        self.meter = analysis.meter?.description; self.beats = analysis.beats.count
        self.downbeats = analysis.downbeats.count; self.sections = analysis.sections.count
    }
}

/// What the manifest says about the rendered file.
public struct VideoSummary: Codable, Sendable, Hashable {
    public var path: String
    public var width: Int
    public var height: Int
    public var fps: Int
    public var duration: Double
    public init(path: String, width: Int, height: Int, fps: Int, duration: Double) {
        self.path = path; self.width = width; self.height = height; self.fps = fps; self.duration = duration
    }
}

/// Seconds spent in each stage.
public struct StageTimings: Codable, Sendable, Hashable {
    public var analyze: Double?
    public var plan: Double?
    public var generate: Double?
    public var critique: Double?
    public var compose: Double?
    public init() {}

    public subscript(stage: Stage) -> Double? {
        get {
            switch stage {
            case .analyze: analyze
            case .plan: plan
            case .generate: generate
            case .critique: critique
            case .compose: compose
            }
        }
        set {
            let v = newValue.map { ($0 * 1000).rounded() / 1000 }
            switch stage {
            case .analyze: analyze = v
            case .plan: plan = v
            case .generate: generate = v
            case .critique: critique = v
            case .compose: compose = v
            }
        }
    }
}

/// The record written beside every video (CONTRACTS.md, "Manifest").
public struct Manifest: Codable, Sendable {
    public var version: Int
    public var reelsmith: String
    public var createdAt: Date
    public var seed: UInt64
    public var brief: Brief
    public var audio: AudioSummary?
    public var plan: Plan
    public var video: VideoSummary
    public var timings: StageTimings
    public var cost: CostLedger
    public var warnings: [String]

    public init(createdAt: Date, seed: UInt64, brief: Brief, audio: AudioSummary?, plan: Plan, video: VideoSummary,
                timings: StageTimings, cost: CostLedger, warnings: [String]) {
        self.version = 1; self.reelsmith = ReelVersion.current; self.createdAt = createdAt; self.seed = seed
        self.brief = brief; self.audio = audio; self.plan = plan; self.video = video; self.timings = timings
        self.cost = cost; self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey {
        case version, reelsmith, createdAt, seed, brief, audio, plan, video, timings, cost, warnings
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(reelsmith, forKey: .reelsmith)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(seed, forKey: .seed)
        try c.encode(brief, forKey: .brief)
        // `audio` is null, not absent, without a song (CONTRACTS.md).
        if let audio { try c.encode(audio, forKey: .audio) } else { try c.encodeNil(forKey: .audio) }
        try c.encode(plan, forKey: .plan)
        try c.encode(video, forKey: .video)
        try c.encode(timings, forKey: .timings)
        try c.encode(cost, forKey: .cost)
        try c.encode(warnings, forKey: .warnings)
    }
}
