import Foundation
import ReelCore
import ReelDraw
import ReelMedia
import ReelTestSupport
import Testing
@testable import ReelProviders

/// The animatic drawn for real: clips made by the procedural provider through ffmpeg, decoded again with ffmpeg and
/// measured, so each promise of the scene vocabulary is checked on pixels.
@Suite("Animatic: scenes drawn from the prompt", .serialized)
struct AnimaticTests {
    static let size = FrameSize(480, 270)

    /// Draws `prompt` as a short clip and returns its decoded frames (rgb24, full size).
    func frames(_ prompt: String, seed: UInt64 = 7, frames count: Int = 8, energy: [Double] = [], in dir: String) async throws -> [FrameSampler.Frame] {
        let brief = try PromptParser().parse(prompt)
        let scene = Scene(index: 0, start: 0, end: Double(count) / 30, prompt: prompt, content: prompt, role: .build, energy: 0.5,
                          reason: "test", transition: nil, source: .procedural)
        let out = "\(dir)/clip-\(UUID().uuidString.prefix(6)).mp4"
        _ = try await ProceduralClipProvider().makeClip(ClipRequest(scene: scene, frames: count, size: Self.size, brief: brief, seed: seed,
                                                                    output: out, energy: energy))
        let decoded = try await FrameSampler().frames(of: out, width: Self.size.width, height: Self.size.height)
        #expect(decoded.count == count)
        return decoded
    }

    /// Rec. 709 luma of every pixel, row by row.
    func luma(_ f: FrameSampler.Frame) -> [Double] {
        stride(from: 0, to: f.pixels.count, by: 3).map { (i: Int) -> Double in
            let r = Double(f.pixels[i]), g = Double(f.pixels[i + 1]), b = Double(f.pixels[i + 2])
            return 0.2126 * r + 0.7152 * g + 0.0722 * b
        }
    }

    func meanLuma(_ f: FrameSampler.Frame) -> Double { let l = luma(f); return l.reduce(0, +) / Double(l.count) }

    /// Energy of horizontal differences (what vertical streaks make) over energy of vertical differences.
    func streakRatio(_ f: FrameSampler.Frame) -> Double {
        let l = luma(f), w = Self.size.width, h = Self.size.height
        var gx = 0.0, gy = 0.0
        for y in 0..<(h - 1) {
            for x in 0..<(w - 1) {
                let v = l[y * w + x]
                let dx = l[y * w + x + 1] - v, dy = l[(y + 1) * w + x] - v
                gx += dx * dx; gy += dy * dy
            }
        }
        return gx / max(1, gy)
    }

    /// The largest change of mean luma from one row to the next: a horizon is one strong step.
    func strongestRowStep(_ f: FrameSampler.Frame) -> Double {
        let l = luma(f), w = Self.size.width, h = Self.size.height
        let rows = (0..<h).map { y in l[(y * w)..<((y + 1) * w)].reduce(0, +) / Double(w) }
        return zip(rows, rows.dropFirst()).map { abs($1 - $0) }.max() ?? 0
    }

    @Test func aNightPromptIsDarkerThanADawnPrompt() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-light")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let night = try await frames("mountains at night", in: dir)
        let dawn = try await frames("mountains at dawn", in: dir)
        let n = night.map(meanLuma).reduce(0, +) / Double(night.count)
        let d = dawn.map(meanLuma).reduce(0, +) / Double(dawn.count)
        #expect(n < 45, "night mean luma \(n)")
        #expect(d > n + 50, "dawn \(d) against night \(n)")
    }

    @Test func rainAddsFineVerticalStreaks() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-rain")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dry = try await frames("mountains at dusk", in: dir)
        let wet = try await frames("mountains at dusk, rain", in: dir)
        let dryRatio = dry.map(streakRatio).reduce(0, +) / Double(dry.count)
        let wetRatio = wet.map(streakRatio).reduce(0, +) / Double(wet.count)
        #expect(wetRatio > 3 * dryRatio, "horizontal/vertical gradient energy: rain \(wetRatio), dry \(dryRatio)")
        #expect(wetRatio > 1, "rain streaks are vertical: more change across than down (\(wetRatio))")
    }

    @Test func aSkylineHasAHorizonEdgeAnEmptySkyHasNone() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-horizon")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let skyline = try await frames("city skyline at dusk", frames: 2, in: dir)
        let sky = try await frames("sunset sky", frames: 2, in: dir)
        let edge = strongestRowStep(skyline[1]), smooth = strongestRowStep(sky[1])
        #expect(edge > 8, "skyline's strongest row-to-row step \(edge)")
        #expect(edge > 3 * smooth, "skyline \(edge) against the empty sky's strongest step \(smooth)")
    }

    @Test func theSameSeedGivesTheSameFramesAnotherSeedOthers() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-seed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prompt = "neon city at night, rain, synthwave, a dancer"
        let a = try await frames(prompt, seed: 42, frames: 6, in: dir)
        let b = try await frames(prompt, seed: 42, frames: 6, in: dir)
        let c = try await frames(prompt, seed: 43, frames: 6, in: dir)
        #expect(a.map { ContentHash.sha256(Data($0.pixels)) } == b.map { ContentHash.sha256(Data($0.pixels)) })
        #expect(a.map(\.pixels) != c.map(\.pixels))
        // The drawing itself, before any encoder: byte for byte.
        let visual = SceneVocabulary.visual(prompt: prompt, palette: try PromptParser().parse(prompt).palette, role: .peak)
        let one = SceneDrawing(visual: visual, width: 160, height: 90, frames: 10, seed: 42, energy: [0.2, 0.9])
        let two = SceneDrawing(visual: visual, width: 160, height: 90, frames: 10, seed: 42, energy: [0.2, 0.9])
        #expect(ContentHash.sha256(Data(one.bgra(frame: 7))) == ContentHash.sha256(Data(two.bgra(frame: 7))))
    }

    @Test func louderMusicMovesTheSceneFurther() async throws {
        let visual = SceneVocabulary.visual(prompt: "neon city at night, tracking shot", palette: try PromptParser().parse("neon").palette, role: .build)
        let calm = SceneDrawing(visual: visual, width: 160, height: 90, frames: 30, seed: 1, energy: [0])
        let loud = SceneDrawing(visual: visual, width: 160, height: 90, frames: 30, seed: 1, energy: [1])
        // How many pixels changed over the first second: the camera and the scenery run on the music's clock.
        func moved(_ d: SceneDrawing) -> Int { zip(d.bgra(frame: 0), d.bgra(frame: 29)).filter { abs(Int($0) - Int($1)) > 24 }.count }
        #expect(moved(loud) > moved(calm), "pixels changed after 1 s: loud \(moved(loud)), calm \(moved(calm))")
    }

    @Test func unknownWordsKeepTheAbstractMotifs() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-abstract")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scene = Scene(index: 0, start: 0, end: 1, prompt: "kaleidoscope of feelings", content: "kaleidoscope", role: .build, energy: 0.5,
                          reason: "test", transition: nil, source: .procedural)
        let brief = try PromptParser().parse("kaleidoscope of feelings")
        let visual = Animatic.visual(for: scene, brief: brief)
        #expect(!visual.isScene && visual.abstractMotif == ProceduralRecipe.Motif.fractal.rawValue)
        let f = try await frames("kaleidoscope of feelings", frames: 3, in: dir)
        #expect(f.count == 3)
    }

    @Test func theStoryboardHasOnePanelPerScene() async throws {
        let dir = try Fixtures.temporaryDirectory("animatic-board")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (prompt, duration) in [("neon city at night, rain, synthwave", 30.0), ("perfume ad, golden hour", 9.0)] {
            let brief = try PromptParser().parse(prompt)
            let plan = RulePlanner().plan(brief: brief, analysis: nil, songStart: 0, duration: duration, seed: 3, media: [])
            let board = Animatic.storyboard(for: plan)
            let path = "\(dir)/board.png"
            try board.writePNG(to: path)
            let layout = board.layout
            let image = try #require(try await FrameSampler().frames(of: path, width: layout.width, height: layout.height).first)
            // Count the caption boxes along a line through each row of captions, against the board's background.
            let background = image.pixels[0..<3].map(Int.init)
            var panels = 0
            for row in 0..<layout.rows {
                let y = layout.picture(row * layout.columns).y + layout.pictureHeight + layout.captionHeight - 24
                var inside = false
                for x in 0..<layout.width {
                    let i = (y * layout.width + x) * 3
                    let differs = (0..<3).map { abs(Int(image.pixels[i + $0]) - background[$0]) }.reduce(0, +) > 12
                    if differs && !inside { panels += 1 }
                    inside = differs
                }
            }
            #expect(panels == plan.scenes.count, "\(prompt): \(panels) panels for \(plan.scenes.count) scenes")
        }
    }
}
