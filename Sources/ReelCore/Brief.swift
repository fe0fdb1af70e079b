/// What the video is for: it shapes the arc of the plan.
public enum Category: String, Codable, Sendable, CaseIterable {
    case musicVideo = "music-video"
    case adCreative = "ad-creative"
}

/// Which graph runs: the deterministic classic pipeline, or the agentic one with a critic.
public enum Mode: String, Codable, Sendable, CaseIterable {
    case classic, agentic
}

/// How quickly the cuts come.
public enum Pacing: String, Codable, Sendable, CaseIterable {
    case slow, moderate, fast
}

/// An RGB colour, written as `#rrggbb` in JSON.
public struct RGB: Codable, Sendable, Hashable, CustomStringConvertible {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }

    public init?(hex: String) {
        var s = Substring(hex)
        if s.hasPrefix("#") { s = s.dropFirst() }
        guard s.count == 6, let v = UInt32(s, radix: 16) else { return nil }
        self.init(UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff))
    }

    public var hex: String {
        "#" + [r, g, b].map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
    }
    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let colour = RGB(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a #rrggbb colour: \(text)"))
        }
        self = colour
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// A named set of colours the visuals are drawn from.
public struct Palette: Codable, Sendable, Hashable {
    public var name: String
    public var colors: [RGB]
    public init(name: String, colors: [RGB]) { self.name = name; self.colors = colors }
}

/// What the user asked for, parsed from the prompt and the options (DESIGN.md, "Brief").
public struct Brief: Codable, Sendable, Equatable {
    public var prompt: String
    public var category: Category
    public var aspect: AspectRatio
    public var preset: Preset
    public var mode: Mode
    /// Things to show, one phrase each ("neon city at night", "rain").
    public var subjects: [String]
    public var style: [String]
    public var mood: [String]
    public var palette: Palette
    /// 0 (calm) to 1 (intense), from the mood and pacing words.
    public var energy: Double
    public var pacing: Pacing
    /// Duration asked for in the prompt or with `--duration`; nil means "the song's length".
    public var duration: Double?

    public init(prompt: String, category: Category, aspect: AspectRatio, preset: Preset, mode: Mode,
                subjects: [String], style: [String], mood: [String], palette: Palette, energy: Double,
                pacing: Pacing, duration: Double?) {
        self.prompt = prompt; self.category = category; self.aspect = aspect; self.preset = preset
        self.mode = mode; self.subjects = subjects; self.style = style; self.mood = mood
        self.palette = palette; self.energy = energy; self.pacing = pacing; self.duration = duration
    }
}
