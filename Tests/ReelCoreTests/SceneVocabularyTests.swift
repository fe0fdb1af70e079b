import Foundation
import Testing
import ReelCore

@Suite("Scene vocabulary")
struct SceneVocabularyTests {
    static let neon = Palette(name: "neon", colors: [RGB(0xff, 0x2e, 0x97), RGB(0x00, 0xe5, 0xff)])

    /// A music-video or ad prompt and what it must draw (at least these layers and subjects, this light and weather).
    struct Case: Sendable, CustomTestStringConvertible {
        var prompt: String
        var layers: Set<SceneVisual.Layer>
        var subjects: Set<SceneVisual.Subject> = []
        var time: SceneVisual.TimeOfDay?
        var weather: SceneVisual.Weather?
        var testDescription: String { prompt }
    }

    static let cases: [Case] = [
        Case(prompt: "wide establishing shot of neon city at night, opening, sparse and calm, synthwave",
             layers: [.sky, .skyline, .buildings, .road, .neonGlow, .grid, .stars], time: .night, weather: .clear),
        Case(prompt: "tracking shot of rain, building momentum", layers: [.rain], weather: .rain),
        Case(prompt: "forest at dawn, calm", layers: [.treeLine, .foliage, .sun], time: .dawn),
        Case(prompt: "waves at sunset", layers: [.waves, .sun], time: .sunset),
        Case(prompt: "hero product moment, our new soda bottle, turntable", layers: [], subjects: [.productBox, .bottle]),
        Case(prompt: "end card with call to action, brand logo", layers: [], subjects: [.logoPlate]),
        Case(prompt: "a dancer in the fog", layers: [.fog], subjects: [.figure], weather: .fog),
        Case(prompt: "snowy mountains, winter morning", layers: [.mountains, .snow], time: .dawn, weather: .snow),
        Case(prompt: "racing car on a desert highway", layers: [.road, .dunes, .skyline], subjects: [.car]),
        Case(prompt: "festival crowd, confetti and fireworks", layers: [.confetti, .sparks], time: .night),
        Case(prompt: "city skyline under a storm", layers: [.skyline, .rain], weather: .storm),
        Case(prompt: "golden hour over the lake, cinematic", layers: [.water, .mountains, .godRays, .lensFlare, .sun], time: .sunset),
    ]

    @Test(arguments: cases) func promptNamesItsLayersAndSubjects(_ c: Case) {
        let v = SceneVocabulary.visual(prompt: c.prompt, palette: Self.neon, role: .build)
        #expect(v.isScene)
        #expect(c.layers.isSubset(of: Set(v.layers)), "\(v.layers)")
        #expect(c.subjects.isSubset(of: Set(v.subjects)), "\(v.subjects)")
        if let time = c.time { #expect(v.timeOfDay == time) }
        if let weather = c.weather { #expect(v.weather == weather) }
        #expect(v.layers.first == .sky && v.layers == v.layers.sorted(), "the sky first, layers back to front")
        #expect(v.palette == Self.neon)
    }

    @Test func wordsTheTableDoesNotKnowFallBackToTheAbstractMotifs() {
        let v = SceneVocabulary.visual(prompt: "macro detail of abstract light, peak intensity, vivid motion", palette: Self.neon, role: .peak)
        #expect(!v.isScene)
        #expect(v.abstractMotif == "abstract")
        // A shot or camera word alone draws nothing either.
        #expect(!SceneVocabulary.visual(prompt: "slow push-in of quiet feelings", palette: Self.neon, role: .intro).isScene)
    }

    @Test func recordsTheMatchedWordsOnceInPromptOrder() {
        let v = SceneVocabulary.visual(prompt: "Rain, rain and NEON city; tracking shot", palette: Self.neon, role: .build)
        #expect(v.words == ["rain", "neon", "city", "tracking"])
        #expect(v.camera == .pan)
    }

    @Test func nightAndRainTakeTheStarsAwayAndMoodDarkensAnUnlitPrompt() {
        let rainy = SceneVocabulary.visual(prompt: "night city, rain", palette: Self.neon, role: .build)
        #expect(!rainy.layers.contains(.stars))
        let dark = SceneVocabulary.visual(prompt: "mountains", palette: Self.neon, role: .build, mood: ["dark"])
        #expect(dark.timeOfDay == .night && dark.layers.contains(.moon))
        let plain = SceneVocabulary.visual(prompt: "mountains", palette: Self.neon, role: .build)
        #expect(plain.timeOfDay == .day && plain.layers.contains(.sun))
    }

    @Test func aSubjectAloneGetsAHorizonAndAProductTurns() {
        let v = SceneVocabulary.visual(prompt: "perfume", palette: Self.neon, role: .intro)
        #expect(v.subjects == [.bottle] && v.layers.contains(.grid) && v.camera == .orbit)
    }

    @Test func theTableHasAtLeastSixtyDistinctWords() {
        let words = SceneVocabulary.entries.map(\.word)
        #expect(Set(words).count == words.count, "no word twice")
        #expect(words.count >= 60)
        #expect(SceneVocabulary.entries.filter(\.drawsSomething).count >= 60)
    }

    @Test func theDocumentedTableListsEveryWord() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/scene-vocabulary.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let documented = Set(text.split(separator: "\n").filter { $0.hasPrefix("| ") }.compactMap {
            $0.split(separator: "|").first.map { $0.trimmingCharacters(in: .whitespaces) }
        })
        let missing = SceneVocabulary.entries.map(\.word).filter { !documented.contains($0) }
        #expect(missing.isEmpty, "docs/scene-vocabulary.md lacks \(missing)")
    }

    @Test func theSamePromptAlwaysMapsTheSameWay() {
        let a = SceneVocabulary.visual(prompt: "neon city at night, rain, synthwave", palette: Self.neon, role: .peak)
        let b = SceneVocabulary.visual(prompt: "neon city at night, rain, synthwave", palette: Self.neon, role: .peak)
        #expect(a == b)
    }
}

@Suite("Energy per frame")
struct EnergyPerFrameTests {
    @Test func eachFrameReadsTheCurveAtItsTimeInTheSong() {
        let curve = EnergyCurve(hop: 0.1, values: [0, 0.1, 0.2, 0.3, 0.4, 0.5])
        // 30 fps: frame 3 is 0.1 s into the video; the video starts 0.2 s into the song.
        #expect(curve.perFrame(songStart: 0.2, startFrame: 0, frames: 7) == [0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4])
        #expect(curve.perFrame(songStart: 0, startFrame: 15, frames: 2) == [0.5, 0.5], "past the end the last value holds")
        #expect(EnergyCurve(hop: 0.1, values: []).perFrame(songStart: 0, startFrame: 0, frames: 3).isEmpty)
    }
}
