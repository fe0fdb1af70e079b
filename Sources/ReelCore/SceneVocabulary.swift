import Foundation

/// What the offline renderer draws for one scene: layers back to front, subjects, light, weather, camera and colours,
/// chosen from the scene prompt by `SceneVocabulary`. Recorded per scene in the manifest (`source.visual`).
public struct SceneVisual: Codable, Sendable, Hashable {
    /// A drawn layer, listed back to front.
    public enum Layer: String, Codable, Sendable, CaseIterable, Comparable {
        // sky and celestial bodies
        case sky, stars, moon, sun
        // far layer
        case mountains, skyline, dunes, treeLine = "tree-line", waves
        // near layer
        case grid, water, road, buildings, foliage
        // light
        case godRays = "god-rays", neonGlow = "neon-glow"
        // particles
        case fog, rain, snow, sparks, confetti
        // lens
        case lensFlare = "lens-flare"

        /// Drawing order: the order of the cases.
        public static func < (a: Layer, b: Layer) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// A simple subject in front of the layers.
    public enum Subject: String, Codable, Sendable, CaseIterable {
        case figure, car, productBox = "product-box", bottle, logoPlate = "logo-plate"
    }

    public enum TimeOfDay: String, Codable, Sendable, CaseIterable { case dawn, day, sunset, night }
    public enum Weather: String, Codable, Sendable, CaseIterable { case clear, rain, snow, fog, storm }
    public enum CameraMove: String, Codable, Sendable, CaseIterable { case pan, zoom, parallax, orbit }

    public var layers: [Layer]
    public var subjects: [Subject]
    public var timeOfDay: TimeOfDay
    public var weather: Weather
    public var camera: CameraMove
    /// The colours lights, subjects and accents are drawn in (mood, style or brand palette).
    public var palette: Palette
    /// The prompt's words the table knew, in prompt order.
    public var words: [String]
    /// Set when the table knew no word that draws something: the abstract motif drawn instead.
    public var abstractMotif: String?

    public init(layers: [Layer], subjects: [Subject], timeOfDay: TimeOfDay, weather: Weather, camera: CameraMove,
                palette: Palette, words: [String], abstractMotif: String? = nil) {
        self.layers = layers; self.subjects = subjects; self.timeOfDay = timeOfDay; self.weather = weather
        self.camera = camera; self.palette = palette; self.words = words; self.abstractMotif = abstractMotif
    }

    /// True when the procedural scene vocabulary draws this scene (false: the abstract motifs do).
    public var isScene: Bool { abstractMotif == nil }
}

/// The table from prompt words (music-video and ad nouns and adjectives) to what the offline renderer draws, and the
/// pure mapping from a scene prompt to a `SceneVisual`. `docs/scene-vocabulary.md` prints the table for users.
public enum SceneVocabulary {
    /// What one word contributes. Empty fields contribute nothing.
    public struct Entry: Sendable, Hashable {
        public var word: String
        public var layers: [SceneVisual.Layer]
        public var subjects: [SceneVisual.Subject]
        public var timeOfDay: SceneVisual.TimeOfDay?
        public var weather: SceneVisual.Weather?
        public var camera: SceneVisual.CameraMove?

        init(_ word: String, _ layers: [SceneVisual.Layer] = [], subjects: [SceneVisual.Subject] = [],
             time: SceneVisual.TimeOfDay? = nil, weather: SceneVisual.Weather? = nil, camera: SceneVisual.CameraMove? = nil) {
            self.word = word; self.layers = layers; self.subjects = subjects; self.timeOfDay = time
            self.weather = weather; self.camera = camera
        }

        /// True when the word draws something (a layer or subject), not only sets the light or the camera.
        public var drawsSomething: Bool { !layers.isEmpty || !subjects.isEmpty }
    }

    /// The table. A word is matched whole and lower-cased; a few plurals are listed beside their singular.
    public static let entries: [Entry] = [
        // places and far layers
        Entry("city", [.skyline, .buildings, .road]),
        Entry("skyline", [.skyline]),
        Entry("street", [.buildings, .road]), Entry("streets", [.buildings, .road]),
        Entry("urban", [.skyline, .buildings]),
        Entry("downtown", [.skyline, .buildings, .road]),
        Entry("buildings", [.buildings]), Entry("tower", [.skyline]),
        Entry("rooftop", [.skyline]),
        Entry("highway", [.road, .skyline], camera: .zoom),
        Entry("road", [.road]),
        Entry("drive", [.road], subjects: [.car], camera: .zoom),
        Entry("mountain", [.mountains]), Entry("mountains", [.mountains]),
        Entry("hills", [.mountains]),
        Entry("desert", [.dunes, .sun], time: .day),
        Entry("dunes", [.dunes]), Entry("sand", [.dunes]),
        Entry("forest", [.treeLine, .foliage]),
        Entry("trees", [.treeLine]), Entry("jungle", [.treeLine, .foliage]),
        Entry("garden", [.foliage]), Entry("flowers", [.foliage]), Entry("leaves", [.foliage]),
        Entry("nature", [.treeLine, .mountains]),
        Entry("ocean", [.waves, .water]), Entry("sea", [.waves, .water]),
        Entry("waves", [.waves]), Entry("surf", [.waves]),
        Entry("beach", [.waves, .dunes]),
        Entry("lake", [.water, .mountains]), Entry("river", [.water, .treeLine]),
        Entry("water", [.water]),
        Entry("synthwave", [.grid, .sun, .neonGlow], time: .night),
        Entry("retrowave", [.grid, .sun, .neonGlow], time: .night),
        Entry("outrun", [.grid, .road, .sun], subjects: [.car]),
        Entry("grid", [.grid]),
        Entry("sky", [.sky]),
        // light and time of day
        Entry("night", [.stars], time: .night), Entry("midnight", [.stars, .moon], time: .night),
        Entry("moon", [.moon], time: .night), Entry("moonlight", [.moon], time: .night),
        Entry("stars", [.stars], time: .night), Entry("space", [.stars], time: .night),
        Entry("galaxy", [.stars], time: .night), Entry("cosmic", [.stars], time: .night),
        Entry("dawn", [.sun], time: .dawn), Entry("sunrise", [.sun], time: .dawn), Entry("morning", [.sun], time: .dawn),
        Entry("day", [.sun], time: .day), Entry("summer", [.sun], time: .day), Entry("sunny", [.sun], time: .day),
        Entry("sunset", [.sun], time: .sunset), Entry("dusk", [.sun], time: .sunset), Entry("golden", [.sun, .godRays], time: .sunset),
        Entry("sun", [.sun]),
        Entry("neon", [.neonGlow], time: .night), Entry("cyberpunk", [.neonGlow, .skyline, .buildings], time: .night),
        Entry("club", [.neonGlow, .confetti], time: .night),
        Entry("rays", [.godRays]), Entry("heavenly", [.godRays]), Entry("cathedral", [.godRays]),
        Entry("flare", [.lensFlare]), Entry("cinematic", [.lensFlare]), Entry("glow", [.neonGlow]),
        // weather and particles
        Entry("rain", [.rain], weather: .rain), Entry("rainy", [.rain], weather: .rain),
        Entry("storm", [.rain], weather: .storm), Entry("thunder", [.rain], weather: .storm),
        Entry("snow", [.snow], weather: .snow), Entry("winter", [.snow], weather: .snow), Entry("snowy", [.snow], weather: .snow),
        Entry("fog", [.fog], weather: .fog), Entry("mist", [.fog], weather: .fog), Entry("misty", [.fog], weather: .fog),
        Entry("haze", [.fog], weather: .fog), Entry("smoke", [.fog]),
        Entry("sparks", [.sparks]), Entry("fire", [.sparks]), Entry("fireworks", [.sparks], time: .night),
        Entry("embers", [.sparks]),
        Entry("confetti", [.confetti]), Entry("party", [.confetti, .neonGlow]), Entry("celebration", [.confetti]),
        Entry("festival", [.confetti, .godRays]), Entry("concert", [.godRays, .neonGlow], subjects: [.figure]),
        // subjects
        Entry("dancer", subjects: [.figure]), Entry("dancing", subjects: [.figure]), Entry("singer", subjects: [.figure]),
        Entry("woman", subjects: [.figure]), Entry("man", subjects: [.figure]), Entry("girl", subjects: [.figure]),
        Entry("boy", subjects: [.figure]), Entry("person", subjects: [.figure]), Entry("silhouette", subjects: [.figure]),
        Entry("runner", subjects: [.figure]), Entry("skater", subjects: [.figure]),
        Entry("car", [.road], subjects: [.car]), Entry("cars", [.road], subjects: [.car]),
        Entry("racing", [.road], subjects: [.car], camera: .pan),
        Entry("product", subjects: [.productBox]), Entry("box", subjects: [.productBox]),
        Entry("package", subjects: [.productBox]), Entry("unboxing", subjects: [.productBox]),
        Entry("bottle", subjects: [.bottle]), Entry("drink", subjects: [.bottle]), Entry("perfume", subjects: [.bottle]),
        Entry("soda", subjects: [.bottle]), Entry("beer", subjects: [.bottle]),
        Entry("logo", subjects: [.logoPlate]), Entry("brand", subjects: [.logoPlate]),
        Entry("card", subjects: [.logoPlate]), Entry("launch", subjects: [.productBox]),
        // camera (shot words of the planner's prompts and the users')
        Entry("tracking", camera: .pan), Entry("side-scrolling", camera: .parallax), Entry("scrolling", camera: .parallax),
        Entry("aerial", camera: .parallax), Entry("push-in", camera: .zoom), Entry("pull-back", camera: .zoom),
        Entry("close-up", camera: .zoom), Entry("orbiting", camera: .orbit), Entry("orbit", camera: .orbit),
        Entry("turntable", camera: .orbit), Entry("pan", camera: .pan), Entry("zoom", camera: .zoom),
    ]

    /// The entries by word.
    public static let byWord: [String: Entry] = Dictionary(entries.map { ($0.word, $0) }, uniquingKeysWith: { a, _ in a })

    /// The words of a prompt, lower-cased, hyphenated words kept whole ("push-in") and also split ("push", "in").
    public static func words(of prompt: String) -> [String] {
        let raw = prompt.lowercased().split(whereSeparator: { !($0.isLetter || $0 == "-") }).map(String.init)
        var out: [String] = []
        for word in raw {
            let trimmed = word.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
            guard !trimmed.isEmpty else { continue }
            out.append(trimmed)
            if trimmed.contains("-") { out += trimmed.split(separator: "-").map(String.init) }
        }
        return out
    }

    /// What a scene prompt draws. Words the table knows choose layers, subjects, time of day, weather and camera;
    /// `palette` (mood, style or brand) chooses colours; what no word decides comes from the other words' defaults
    /// and from `role`, never from chance, so a prompt always maps the same way. With no word that draws something the
    /// result is abstract (`abstractMotif` = "abstract"; the caller names the motif it draws).
    public static func visual(prompt: String, palette: Palette, role: ArcRole, mood: [String] = []) -> SceneVisual {
        let matched = words(of: prompt).compactMap { byWord[$0] }
        var seen = Set<String>()
        let entries = matched.filter { seen.insert($0.word).inserted }
        var layers = Set<SceneVisual.Layer>([.sky])
        var subjects: [SceneVisual.Subject] = []
        for e in entries {
            layers.formUnion(e.layers)
            for s in e.subjects where !subjects.contains(s) { subjects.append(s) }
        }
        let weather = entries.lazy.compactMap(\.weather).first ?? .clear
        let moodSet = Set(mood.map { $0.lowercased() })
        let time: SceneVisual.TimeOfDay = entries.lazy.compactMap(\.timeOfDay).first
            ?? (moodSet.isDisjoint(with: ["dark", "moody", "noir", "eerie", "mysterious", "gothic"]) ? .day : .night)
        // Light a time of day implies, when no word placed a light in the sky.
        if !layers.contains(.sun), !layers.contains(.moon) {
            switch time {
            case .night: layers.insert(.moon)
            case .dawn, .sunset: layers.insert(.sun)
            case .day: if weather == .clear { layers.insert(.sun) }
            }
        }
        if time == .night { layers.insert(.stars) }
        if weather == .storm || weather == .rain { layers.remove(.stars); layers.remove(.godRays) }
        if time == .night { layers.remove(.godRays) }
        // A subject stands on something: a horizon if no word gave one.
        let far: Set<SceneVisual.Layer> = [.mountains, .skyline, .dunes, .treeLine, .waves, .grid, .water, .road]
        if !subjects.isEmpty, layers.isDisjoint(with: far) { layers.insert(.grid) }
        let camera = entries.lazy.compactMap(\.camera).first ?? defaultCamera(role: role, subjects: subjects)
        let drawn = entries.filter(\.drawsSomething)
        return SceneVisual(layers: layers.sorted(), subjects: subjects, timeOfDay: time, weather: weather, camera: camera,
                           palette: palette, words: entries.map(\.word), abstractMotif: drawn.isEmpty ? "abstract" : nil)
    }

    /// Products turn on a turntable; otherwise calm openings and endings zoom slowly and the middle pans.
    static func defaultCamera(role: ArcRole, subjects: [SceneVisual.Subject]) -> SceneVisual.CameraMove {
        if subjects.contains(.productBox) || subjects.contains(.bottle) { return .orbit }
        switch role {
        case .intro, .outro: return .zoom
        case .build: return .parallax
        case .peak: return .pan
        }
    }
}
