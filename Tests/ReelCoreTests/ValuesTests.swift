import Foundation
import Testing
@testable import ReelCore

@Suite("Beat grid, timeline, plan validation, manifest and costs")
struct ValuesTests {
    @Test func snapping() {
        let grid = BeatGrid(beats: [0.5, 1.0, 1.5, 2.0, 2.5], downbeats: [0.5, 2.5])
        #expect(BeatGrid.nearest(to: 1.2, in: grid.beats) == 1.0)
        #expect(BeatGrid.nearest(to: 1.3, in: grid.beats) == 1.5)
        #expect(BeatGrid.nearest(to: -4, in: grid.beats) == 0.5)
        #expect(BeatGrid.nearest(to: 9, in: grid.beats) == 2.5)
        #expect(BeatGrid.nearest(to: 1, in: []) == nil)
        // Downbeats win within the tolerance; otherwise the nearest beat; otherwise the time itself, on a frame.
        #expect(grid.snap(2.3, tolerance: 0.3) == FrameClock.snap(2.5))
        #expect(grid.snap(1.1, tolerance: 0.3) == FrameClock.snap(1.0))
        #expect(grid.snap(7.01, tolerance: 0.3) == FrameClock.snap(7.01))
        #expect(FrameClock.frame(at: 1.0166) == 30 && FrameClock.frame(at: 1.0167) == 31)
    }

    func plan(_ bounds: [Double], _ transitions: [Transition?]) throws -> Plan {
        let brief = try PromptParser().parse("test")
        let scenes = (0..<(bounds.count - 1)).map { i in
            Scene(index: i, start: bounds[i], end: bounds[i + 1], prompt: "p\(i)", content: "c", role: .build, energy: 0.5,
                  reason: "test", transition: transitions[i], source: .procedural)
        }
        return Plan(brief: brief, seed: 1, songStart: 0, duration: bounds.last!, tempo: 120, scenes: scenes)
    }

    @Test func clipSpansIncludeHalfOfEachTransition() throws {
        let p = try plan([0, 2, 4, 6], [Transition(kind: .fade, duration: 0.4), .cut, nil])
        let spans = Timeline.clipSpans(of: p)
        #expect(spans[0].startFrame == 0 && spans[0].frames == 60 + 6)
        #expect(spans[1].startFrame == 54 && spans[1].frames == 6 + 60)
        #expect(spans[2].startFrame == 120 && spans[2].frames == 60)
        let timeline = Timeline(plan: p, clipPaths: ["a", "b", "c"], size: FrameSize(64, 36), encoder: Preset.draft.encoder, audioPath: nil)
        #expect(timeline.cutFrames == [60, 120])
        #expect(timeline.durationFrames == 180)
    }

    /// The message of the `.badPlan` error `p.validate()` throws, or nil if it passes or throws something else.
    func badPlanMessage(_ p: Plan) -> String? {
        do { try p.validate(); return nil } catch let e as ReelError where e.code == .badPlan { return e.message } catch { return nil }
    }

    @Test func planValidationNamesTheProblem() throws {
        try plan([0, 2, 4], [Transition(kind: .fade, duration: 0.4), nil]).validate()
        #expect(badPlanMessage(try plan([0, 2, 2.01], [nil, nil]))?.contains("shorter than") == true)
        var gap = try plan([0, 2, 4], [nil, nil]); gap.scenes[1].start = 2.5
        #expect(badPlanMessage(gap)?.contains("scene 1 starts at 2.5") == true)
        #expect(badPlanMessage(try plan([0, 2, 4], [Transition(kind: .fade, duration: 3), nil]))?.contains("transition") == true)
        var empty = try plan([0, 2], [nil]); empty.scenes[0].prompt = " "
        #expect(badPlanMessage(empty)?.contains("empty prompt") == true)
        // Wild numbers are refused before any frame arithmetic (which would otherwise trap).
        var huge = try plan([0, 2, 4], [nil, nil]); huge.scenes[0].start = 1e300
        #expect(badPlanMessage(huge)?.contains("outside") == true)
        var nan = try plan([0, 2, 4], [nil, nil]); nan.scenes[1].end = .nan
        #expect(badPlanMessage(nan) != nil)
        var negative = try plan([0, 2], [nil]); negative.songStart = -3
        #expect(badPlanMessage(negative)?.contains("songStart") == true)
        var provider = try plan([0, 2], [nil]); provider.scenes[0].source = SceneSource(provider: "magic", model: "x")
        #expect(badPlanMessage(provider)?.contains("magic") == true)
        var media = try plan([0, 2], [nil]); media.scenes[0].source = SceneSource(provider: "user-media", model: "image", media: "/nonexistent.png")
        #expect(badPlanMessage(media)?.contains("/nonexistent.png") == true)
        #expect(FrameClock.frame(at: 1e300) > 0 && FrameClock.frame(at: -.infinity) < 0)
    }

    @Test func planRoundTripsThroughJSON() throws {
        let p = try plan([0, 2, 4], [Transition(kind: .dissolve, duration: 0.4), nil])
        let data = try ReelJSON.encoder().encode(p)
        #expect(try ReelJSON.decoder().decode(Plan.self, from: data) == p)
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.contains("\"songStart\""))
        #expect(json.contains("\"aspect\" : \"16:9\""))
    }

    @Test func manifestShapeFollowsTheContract() throws {
        let p = try plan([0, 2], [nil])
        var ledger = CostLedger()
        ledger.append(CostEntry(role: "video.draft", provider: "replicate", model: "o/m", scene: 0, units: 5, unit: "second",
                                unitPrice: 0.01, cacheHit: false, predictionId: "abc", at: Date(timeIntervalSince1970: 0)))
        ledger.append(CostEntry(role: "video.draft", provider: "replicate", model: "o/m", scene: 0, units: 5, unit: "second",
                                unitPrice: 0.01, cacheHit: true, predictionId: "abc", at: Date(timeIntervalSince1970: 0)))
        let m = Manifest(createdAt: Date(timeIntervalSince1970: 0), seed: 7, brief: p.brief, audio: nil, plan: p,
                         video: VideoSummary(path: "out/x.mp4", width: 960, height: 540, fps: 30, duration: 2),
                         timings: StageTimings(), cost: ledger, warnings: [])
        let object = try #require(JSONSerialization.jsonObject(with: ReelJSON.encoder().encode(m)) as? [String: Any])
        #expect(object["audio"] is NSNull)
        #expect(object["version"] as? Int == 1)
        #expect(object["seed"] as? Int == 7)
        let cost = try #require(object["cost"] as? [String: Any])
        #expect(cost["currency"] as? String == "USD")
        #expect(cost["total"] as? Double == 0.05)
        let brief = try #require(object["brief"] as? [String: Any])
        #expect(brief["category"] as? String == "music-video")
        let scenes = try #require((object["plan"] as? [String: Any])?["scenes"] as? [[String: Any]])
        #expect(Set(["index", "start", "end", "prompt", "reason", "source", "transition"]).isSubset(of: scenes[0].keys))
        #expect(scenes[0]["transition"] is NSNull)
        #expect(ledger.byScene[0] == 0.05)
    }

    @Test func energyCurveMeanAndDownsampling() {
        let curve = EnergyCurve(hop: 0.1, values: (0..<100).map { Double($0) / 100 })
        #expect(abs(curve.mean(from: 0, to: 1) - 0.045) < 1e-9)
        let small = curve.downsampled(toAtMost: 10)
        #expect(small.values.count == 10)
        #expect(abs(small.hop - 1.0) < 1e-9)
    }

    @Test func seededGeneratorIsStable() {
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
        #expect(ContentHash.stableHash64("x") == ContentHash.stableHash64("x"))
        #expect(ContentHash.sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
