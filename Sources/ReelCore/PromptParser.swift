import Foundation

/// Turns a free-text prompt into a `Brief`: subjects, mood, style, palette, energy, pacing and duration.
///
/// Rule-based on purpose: it runs offline, is deterministic, and is what an LLM planner falls back to.
public struct PromptParser: Sendable {
    /// Options given on the command line; they win over words found in the prompt.
    public struct Overrides: Sendable {
        public var category: Category?
        public var aspect: AspectRatio
        public var preset: Preset
        public var mode: Mode
        public var style: String?
        public var mood: String?
        public var duration: Double?
        public init(category: Category? = nil, aspect: AspectRatio = .landscape, preset: Preset = .draft,
                    mode: Mode = .classic, style: String? = nil, mood: String? = nil, duration: Double? = nil) {
            self.category = category; self.aspect = aspect; self.preset = preset; self.mode = mode
            self.style = style; self.mood = mood; self.duration = duration
        }
    }

    public init() {}

    public func parse(_ prompt: String, overrides: Overrides = Overrides()) throws -> Brief {
        let trimmed = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ReelError(.badInput, "the prompt is empty: describe the video you want") }
        guard trimmed.count <= 2000 else {
            throw ReelError(.badInput, "the prompt is \(trimmed.count) characters long; keep it under 2000")
        }
        let lower = trimmed.lowercased()
        let words = Self.words(lower)
        let wordSet = Set(words)

        var mood = Lexicon.moods.filter { wordSet.contains($0.word) }.map(\.word)
        var style = Lexicon.styles.filter { Self.contains(phrase: $0, in: words) }
        if let extra = overrides.mood { mood += Self.words(extra.lowercased()).filter { !mood.contains($0) } }
        if let extra = overrides.style {
            let phrase = extra.lowercased().trimmingCharacters(in: .whitespaces)
            if !phrase.isEmpty && !style.contains(phrase) { style.append(phrase) }
        }

        let pacing = Self.pacing(words: words, wordSet: wordSet, mood: mood)
        let energy = Self.energy(mood: mood, pacing: pacing, wordSet: wordSet)
        let category = overrides.category ?? (Lexicon.adWords.contains(where: { Self.contains(phrase: $0, in: words) })
                                              ? .adCreative : .musicVideo)
        let duration = overrides.duration ?? Self.duration(in: lower)
        if let duration, !(duration > 0 && duration <= 3600) {
            throw ReelError(.badInput, "the duration must be between 0 and 3600 seconds (got \(duration))")
        }
        return Brief(prompt: trimmed, category: category, aspect: overrides.aspect, preset: overrides.preset,
                     mode: overrides.mode, subjects: Self.subjects(in: lower), style: style, mood: mood,
                     palette: Self.palette(words: words, wordSet: wordSet, mood: mood),
                     energy: energy, pacing: pacing, duration: duration)
    }

    // MARK: - Rules

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "'") }).map(String.init)
    }

    static func contains(phrase: String, in words: [String]) -> Bool {
        let parts = phrase.split(separator: " ").map(String.init)
        guard parts.count <= words.count else { return false }
        for i in 0...(words.count - parts.count) where Array(words[i..<i + parts.count]) == parts { return true }
        return false
    }

    static func pacing(words: [String], wordSet: Set<String>, mood: [String]) -> Pacing {
        var score = 0
        for phrase in Lexicon.fastPacing where contains(phrase: phrase, in: words) { score += 2 }
        for phrase in Lexicon.slowPacing where contains(phrase: phrase, in: words) { score -= 2 }
        for m in mood { score += Lexicon.moodEnergy[m].map { $0 > 0.65 ? 1 : ($0 < 0.35 ? -1 : 0) } ?? 0 }
        return score >= 2 ? .fast : (score <= -2 ? .slow : .moderate)
    }

    static func energy(mood: [String], pacing: Pacing, wordSet: Set<String>) -> Double {
        let known = mood.compactMap { Lexicon.moodEnergy[$0] }
        let base = known.isEmpty ? 0.5 : known.reduce(0, +) / Double(known.count)
        let shift: Double = switch pacing { case .fast: 0.15; case .slow: -0.15; case .moderate: 0 }
        return min(1, max(0, base + shift))
    }

    /// Seconds of video the prompt asks for ("a 60 minutes video", "2 hours", "45s"), if it names a length: what a
    /// service checks against its longest video before planning.
    public static func requestedDuration(in prompt: String) -> Double? {
        duration(in: prompt.lowercased())
    }

    /// Seconds asked for in the prompt ("30 seconds", "1 minute 30 seconds", "45s", "2 min", "1 hour"), if any.
    /// Decades ("80s", "90s style") are not durations.
    static func duration(in text: String) -> Double? {
        let pattern = #"(\d+(?:\.\d+)?)\s*(seconds|second|secs|sec|s|minutes|minute|mins|min|hours|hour|hrs|hr)\b"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        var total = 0.0, found = false
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let numberRange = Range(match.range(at: 1), in: text), let unitRange = Range(match.range(at: 2), in: text),
                  let value = Double(text[numberRange]) else { continue }
            let unit = text[unitRange]
            // "80s", "90s", "1970s": a decade written without a space, not a length ("30s" stays 30 seconds).
            let decade = [50.0, 60, 70, 80, 90].contains(value) || (value >= 1900 && value <= 2090 && value.truncatingRemainder(dividingBy: 10) == 0)
            if unit == "s", decade, unitRange.lowerBound == numberRange.upperBound { continue }
            total += unit.hasPrefix("h") ? value * 3600 : unit.hasPrefix("m") ? value * 60 : value
            found = true
        }
        return found ? total : nil
    }

    /// The prompt's comma-separated phrases that name something to show, with style, mood, pacing,
    /// category and duration words removed.
    static func subjects(in text: String) -> [String] {
        let moodAndPacing = Set(Lexicon.moods.map(\.word)).union(Lexicon.pacingWords)
        var result: [String] = []
        for phrase in text.split(whereSeparator: { ",;.\n".contains($0) }) {
            var kept = words(String(phrase))
            // Drop category phrases and durations.
            kept = removePhrases(Lexicon.categoryPhrases + Lexicon.adWords, from: kept)
            kept = kept.filter { !moodAndPacing.contains($0) && Double($0) == nil && !Lexicon.durationUnits.contains($0) }
            // Fillers inside a phrase stay ("city at night"); at its ends they go ("a city" → "city").
            while let first = kept.first, Lexicon.fillerWords.contains(first) { kept.removeFirst() }
            while let last = kept.last, Lexicon.fillerWords.contains(last) { kept.removeLast() }
            let contentWords = kept.filter { !Lexicon.styles.contains($0) && !Lexicon.fillerWords.contains($0) }
            guard !contentWords.isEmpty else { continue }
            let subject = kept.joined(separator: " ")
            if !result.contains(subject) { result.append(subject) }
        }
        return result
    }

    static func removePhrases(_ phrases: [String], from words: [String]) -> [String] {
        var out = words
        for phrase in phrases.sorted(by: { $0.count > $1.count }) {
            let parts = phrase.split(separator: " ").map(String.init)
            var i = 0
            while i + parts.count <= out.count {
                if Array(out[i..<i + parts.count]) == parts { out.removeSubrange(i..<i + parts.count) } else { i += 1 }
            }
        }
        return out
    }

    static func palette(words: [String], wordSet: Set<String>, mood: [String]) -> Palette {
        for (keys, palette) in Lexicon.palettes where keys.contains(where: { contains(phrase: $0, in: words) }) {
            return palette
        }
        for m in mood { if let p = Lexicon.moodPalettes[m] { return p } }
        return Lexicon.defaultPalette
    }
}

/// The word lists behind `PromptParser`.
enum Lexicon {
    static let moods: [(word: String, energy: Double)] = [
        ("dark", 0.45), ("moody", 0.35), ("happy", 0.7), ("joyful", 0.75), ("cheerful", 0.7), ("sad", 0.2),
        ("melancholic", 0.2), ("melancholy", 0.2), ("dreamy", 0.25), ("ethereal", 0.25), ("energetic", 0.9),
        ("calm", 0.15), ("peaceful", 0.15), ("serene", 0.15), ("epic", 0.85), ("romantic", 0.35),
        ("mysterious", 0.4), ("aggressive", 0.95), ("angry", 0.9), ("uplifting", 0.7), ("nostalgic", 0.35),
        ("chill", 0.25), ("eerie", 0.35), ("intense", 0.9), ("playful", 0.65), ("hopeful", 0.55),
        ("haunting", 0.3), ("euphoric", 0.9), ("gritty", 0.65), ("warm", 0.45), ("cold", 0.4), ("bright", 0.65),
        ("lonely", 0.2), ("triumphant", 0.85), ("hypnotic", 0.5), ("wild", 0.9), ("elegant", 0.4), ("bold", 0.75),
        ("luxurious", 0.4), ("fun", 0.7), ("tense", 0.7),
    ]
    static let moodEnergy: [String: Double] = Dictionary(moods.map { ($0.word, $0.energy) }, uniquingKeysWith: { a, _ in a })

    static let styles: [String] = [
        "synthwave", "cyberpunk", "vaporwave", "noir", "film noir", "retro", "anime", "watercolor", "cinematic",
        "minimal", "minimalist", "glitch", "psychedelic", "vintage", "lofi", "lo-fi", "neon", "80s", "90s",
        "documentary", "surreal", "abstract", "pixel art", "8-bit", "oil painting", "sketch", "cartoon",
        "photorealistic", "hyperreal", "steampunk", "gothic", "pop art", "art deco", "brutalist", "handheld",
        "vhs", "black and white", "monochrome", "pastel", "futuristic", "sci-fi", "fantasy", "kaleidoscope",
    ]

    static let fastPacing = ["fast cuts", "fast", "quick cuts", "quick", "punchy", "frantic", "rapid", "high energy",
                             "energetic", "hard-hitting", "upbeat", "hyper", "aggressive", "intense"]
    static let slowPacing = ["slow", "slow cuts", "dreamy", "calm", "gentle", "ambient", "languid", "long takes",
                             "meditative", "peaceful", "serene", "chill", "relaxed", "slow motion"]
    static let pacingWords: Set<String> = ["fast", "slow", "cuts", "cut", "quick", "punchy", "frantic", "rapid", "gentle",
                                           "ambient", "languid", "meditative", "relaxed", "upbeat", "hyper", "motion",
                                           "takes", "long", "high", "energy", "hard-hitting"]
    static let fillerWords: Set<String> = ["a", "an", "the", "of", "with", "and", "in", "on", "at", "for", "to", "by",
                                           "style", "vibe", "vibes", "feel", "look", "video", "make", "me", "some",
                                           "featuring", "showing", "about", "like", "very", "lots", "lot"]
    static let categoryPhrases = ["music video", "clip", "visualizer", "visualiser"]
    static let adWords = ["ad", "advert", "advertisement", "commercial", "promo", "product launch", "campaign", "ad creative"]
    static let durationUnits: Set<String> = ["seconds", "second", "secs", "sec", "s", "minutes", "minute", "mins", "min",
                                             "hours", "hour", "hrs", "hr"]

    static let palettes: [([String], Palette)] = [
        (["neon", "cyberpunk", "synthwave"], Palette(name: "neon", colors: [RGB(0xff, 0x2e, 0x97), RGB(0x00, 0xe5, 0xff), RGB(0x7b, 0x2c, 0xff), RGB(0x0b, 0x0b, 0x2b)])),
        (["vaporwave", "pastel"], Palette(name: "pastel", colors: [RGB(0xff, 0x9a, 0xd5), RGB(0x9a, 0xd0, 0xff), RGB(0xc8, 0xa2, 0xff), RGB(0xff, 0xe1, 0xa8)])),
        (["sunset", "sunrise", "golden hour", "dusk"], Palette(name: "sunset", colors: [RGB(0xff, 0x7e, 0x3a), RGB(0xff, 0x3f, 0x6c), RGB(0x6a, 0x2c, 0x91), RGB(0xff, 0xc8, 0x57)])),
        (["ocean", "sea", "underwater", "water", "waves", "beach"], Palette(name: "ocean", colors: [RGB(0x00, 0x4e, 0x92), RGB(0x00, 0xa8, 0xb5), RGB(0x8e, 0xe4, 0xaf), RGB(0x02, 0x1b, 0x3a)])),
        (["forest", "jungle", "nature", "garden", "leaves"], Palette(name: "forest", colors: [RGB(0x1b, 0x5e, 0x20), RGB(0x66, 0xbb, 0x6a), RGB(0xc5, 0xe1, 0xa5), RGB(0x3e, 0x27, 0x23)])),
        (["fire", "lava", "flames", "volcano", "inferno"], Palette(name: "fire", colors: [RGB(0xff, 0x3d, 0x00), RGB(0xff, 0x9e, 0x00), RGB(0xff, 0xe0, 0x82), RGB(0x3b, 0x00, 0x00)])),
        (["ice", "snow", "winter", "frozen", "arctic"], Palette(name: "ice", colors: [RGB(0xe3, 0xf2, 0xfd), RGB(0x90, 0xca, 0xf9), RGB(0x42, 0x7d, 0xc2), RGB(0x0d, 0x1b, 0x2a)])),
        (["gold", "golden", "luxury", "luxurious"], Palette(name: "gold", colors: [RGB(0xd4, 0xaf, 0x37), RGB(0xff, 0xf1, 0xb5), RGB(0x1a, 0x1a, 0x1a), RGB(0x8a, 0x6d, 0x1d)])),
        (["noir", "black and white", "monochrome"], Palette(name: "monochrome", colors: [RGB(0xf5, 0xf5, 0xf5), RGB(0x9e, 0x9e, 0x9e), RGB(0x42, 0x42, 0x42), RGB(0x0a, 0x0a, 0x0a)])),
        (["desert", "sand", "dune", "dunes"], Palette(name: "desert", colors: [RGB(0xe0, 0xa9, 0x6d), RGB(0xc2, 0x6e, 0x3b), RGB(0xf6, 0xe0, 0xb5), RGB(0x5a, 0x3a, 0x22)])),
        (["space", "galaxy", "stars", "cosmic", "nebula"], Palette(name: "cosmic", colors: [RGB(0x1a, 0x0b, 0x3b), RGB(0x6a, 0x1b, 0x9a), RGB(0x00, 0xb8, 0xd4), RGB(0xf8, 0xbb, 0xd0)])),
    ]
    static let moodPalettes: [String: Palette] = [
        "dark": Palette(name: "dark", colors: [RGB(0x12, 0x12, 0x20), RGB(0x3a, 0x1c, 0x5a), RGB(0x8b, 0x1e, 0x3f), RGB(0x2e, 0x4a, 0x62)]),
        "happy": Palette(name: "bright", colors: [RGB(0xff, 0xd1, 0x66), RGB(0x06, 0xd6, 0xa0), RGB(0x11, 0x8a, 0xb2), RGB(0xef, 0x47, 0x6f)]),
        "calm": Palette(name: "calm", colors: [RGB(0xa8, 0xda, 0xdc), RGB(0x45, 0x7b, 0x9d), RGB(0xf1, 0xfa, 0xee), RGB(0x1d, 0x35, 0x57)]),
        "dreamy": Palette(name: "dreamy", colors: [RGB(0xcd, 0xb4, 0xdb), RGB(0xff, 0xc8, 0xdd), RGB(0xbd, 0xe0, 0xfe), RGB(0xa2, 0xd2, 0xff)]),
        "energetic": Palette(name: "electric", colors: [RGB(0xff, 0x00, 0x6e), RGB(0xfb, 0x56, 0x07), RGB(0xff, 0xbe, 0x0b), RGB(0x83, 0x38, 0xec)]),
        "sad": Palette(name: "blue", colors: [RGB(0x2b, 0x2d, 0x42), RGB(0x8d, 0x99, 0xae), RGB(0x1b, 0x26, 0x3b), RGB(0x41, 0x5a, 0x77)]),
        "epic": Palette(name: "epic", colors: [RGB(0x9d, 0x02, 0x08), RGB(0xe8, 0x5d, 0x04), RGB(0xfa, 0xa3, 0x07), RGB(0x03, 0x07, 0x1e)]),
    ]
    static let defaultPalette = Palette(name: "studio", colors: [RGB(0x26, 0x46, 0x53), RGB(0x2a, 0x9d, 0x8f), RGB(0xe9, 0xc4, 0x6a), RGB(0xe7, 0x6f, 0x51)])
}
