import Foundation
import Testing
@testable import ReelCore

@Suite("Handing scenes to a video model")
struct SceneRoutingTests {
    let wan = ClipModel(provider: "replicate", model: "wan-video/wan-2.2-i2v-fast", acceptsFirstFrame: true, longestClip: 5.0625)

    func plan(duration: Double = 30, bpm: Double = 120) throws -> (Plan, AudioAnalysis) {
        let analysis = steadyAnalysis(bpm: bpm, duration: 60)
        let brief = try PromptParser().parse("neon city at night, rain, synthwave, slow and calm")
        return (RulePlanner().plan(brief: brief, analysis: analysis, songStart: 0, duration: duration, seed: 5), analysis)
    }

    @Test func proceduralScenesGoToTheModelAndNoneIsLongerThanItsLongestClip() throws {
        let (plan, analysis) = try plan()
        let routed = plan.routed(to: wan, beats: analysis.beats)
        try routed.validate()
        #expect(routed.scenes.allSatisfy { $0.source.provider == "replicate" && $0.source.model == wan.model })
        #expect(routed.scenes.allSatisfy { $0.duration <= 5.0625 + 1e-6 }, "\(routed.scenes.map(\.duration))")
        #expect(routed.scenes.first?.source.chain == nil, "the first scene has nothing to continue from")
        #expect(routed.duration == plan.duration)
    }

    @Test func aSplitSceneContinuesOneShotAndCutsOnABeat() throws {
        let brief = try PromptParser().parse("ocean waves")
        let scene = Scene(index: 0, start: 0, end: 12, prompt: "ocean waves", content: "waves", role: .intro, energy: 0.3,
                          reason: "test", transition: nil, source: .procedural)
        let plan = Plan(brief: brief, seed: 1, songStart: 0, duration: 12, tempo: 120, scenes: [scene])
        let beats = stride(from: 0.0, to: 12, by: 0.5).map { $0 + 0.13 }
        let routed = plan.routed(to: wan, beats: beats)
        try routed.validate()
        #expect(routed.scenes.count == 3)
        #expect(routed.scenes.dropFirst().allSatisfy { $0.source.chain == true })
        let grid = BeatGrid(beats: beats, downbeats: [])
        for cut in routed.cuts { #expect(grid.isOnBeat(cut, tolerance: 0.5 / 30 + 1e-9), "cut \(cut) is off the beat") }
    }

    @Test func theUsersClipsStayAndTheirImagesBecomeFirstFrames() throws {
        let brief = try PromptParser().parse("my holiday")
        let image = SceneSource(provider: "user-media", model: "image", media: "/tmp/a.png")
        let clip = SceneSource(provider: "user-media", model: "video", media: "/tmp/b.mp4", mediaOffset: 0)
        let scenes = [image, clip].enumerated().map { i, source in
            Scene(index: i, start: Double(i) * 2, end: Double(i + 1) * 2, prompt: "p", content: "c", role: .build, energy: 0.5,
                  reason: "r", transition: i == 0 ? .cut : nil, source: source)
        }
        let routed = Plan(brief: brief, seed: 1, songStart: 0, duration: 4, tempo: nil, scenes: scenes).routed(to: wan)
        #expect(routed.scenes[0].source.provider == "replicate")
        #expect(routed.scenes[0].source.media == "/tmp/a.png")
        #expect(routed.scenes[1].source == clip)
        let textOnly = ClipModel(provider: "replicate", model: "t2v", acceptsFirstFrame: false, longestClip: nil)
        let kept = Plan(brief: brief, seed: 1, songStart: 0, duration: 4, tempo: nil, scenes: scenes).routed(to: textOnly)
        #expect(kept.scenes[0].source == image, "a model without a first frame cannot show the user's image")
    }

    @Test func shortHardCutScenesShareAClipPricedPerClip() throws {
        let brief = try PromptParser().parse("city at night")
        let scenes = (0..<6).map { i in
            Scene(index: i, start: Double(i) * 2, end: Double(i + 1) * 2, prompt: "p\(i)", content: "c", role: i < 4 ? .build : .peak,
                  energy: 0.5, reason: "r", transition: i < 5 ? .cut : nil, source: .procedural)
        }
        let plan = Plan(brief: brief, seed: 1, songStart: 0, duration: 12, tempo: 120, scenes: scenes)
        let perClip = ClipModel(provider: "replicate", model: "wan", acceptsFirstFrame: true, longestClip: 5.0625, pricedPerClip: true)
        let routed = plan.routed(to: perClip)
        try routed.validate()
        // 2 s scenes: two fit in one 5.06 s clip; the arc role change at scene 4 starts a new clip.
        #expect(routed.scenes.map { $0.source.continuesClip == true } == [false, true, false, true, false, true])
        let perSecond = ClipModel(provider: "replicate", model: "seedance", acceptsFirstFrame: true, longestClip: 12, pricedPerClip: false)
        #expect(plan.routed(to: perSecond).scenes.allSatisfy { $0.source.continuesClip == nil })
    }

    @Test func aPlanThatChainsOntoAProceduralSceneIsRefused() throws {
        let (plan, analysis) = try plan()
        var routed = plan.routed(to: wan, beats: analysis.beats)
        routed.scenes[0].source = .procedural
        routed.scenes[1].source.chain = true
        #expect(throws: ReelError.self) { try routed.validate() }
        routed.scenes[0].source = SceneSource(provider: "replicate", model: wan.model)
        try routed.validate()
    }

    @Test func aModelThatMakesAnyLengthSplitsNothing() throws {
        let (plan, _) = try plan()
        let any = ClipModel(provider: "cog", model: "local", acceptsFirstFrame: false, longestClip: nil)
        let routed = plan.routed(to: any)
        #expect(routed.scenes.count == plan.scenes.count)
        #expect(routed.scenes.allSatisfy { $0.source.chain == nil })
    }
}

@Suite("Model registry values")
struct RegistryValueTests {
    @Test func clipLengthsCoverTheSceneWithTheShortestOffer() {
        let kling = Capabilities(durations: [5, 10])
        #expect(kling.duration(toCover: 3.2) == 5)
        #expect(kling.duration(toCover: 5.6) == 5, "slowing 5 s to 5.6 s is better than paying for 10 s")
        #expect(kling.duration(toCover: 7) == 10)
        #expect(kling.duration(toCover: 14) == 10)
        let seedance = Capabilities(durationRange: [2, 12])
        #expect(seedance.duration(toCover: 1.2) == 2)
        #expect(seedance.duration(toCover: 4.1) == 5)
        #expect(seedance.duration(toCover: 30) == 12)
        #expect(Capabilities().duration(toCover: 4) == nil)
    }

    @Test func anOverrideReplacesARolesChainAndUnknownRolesAreRefused() throws {
        let base = try ModelRegistry.parse(Data(#"{"version":1,"roles":{"image.fast":[{"provider":"replicate","model":"a/b","output":"image","inputs":{"prompt":"prompt"},"capabilities":{},"price":{"unit":"image","usd":0.003}}]}}"#.utf8), source: "base")
        let user = try ModelRegistry.parse(Data(#"{"version":1,"roles":{"image.fast":[{"provider":"cog","model":"local-sdxl","output":"image","inputs":{"prompt":"prompt"},"capabilities":{},"price":{"unit":"image","usd":0}}]}}"#.utf8), source: "mine.json")
        let merged = base.overlaid(with: user)
        #expect(merged.chain(for: .imageFast).map(\.model) == ["local-sdxl"])
        #expect(throws: ReelError.self) { try ModelRegistry.parse(Data(#"{"version":1,"roles":{"video.superfast":[]}}"#.utf8), source: "bad.json") }
        do {
            _ = try ModelRegistry.parse(Data(#"{"version":1,"roles":{"video.superfast":[]}}"#.utf8), source: "bad.json")
        } catch let e as ReelError {
            #expect(e.code == .badRegistry && e.message.contains("video.superfast") && e.message.contains("bad.json"))
            #expect(e.isUserInput)
        }
        #expect(throws: ReelError.self) { try ModelRegistry.parse(Data("not json".utf8), source: "x") }
        #expect(throws: ReelError.self) { try merged.entry(named: "nobody/nothing") }
        #expect(throws: ReelError.self) { try Role.named("video.fast") }
    }

    @Test func pricesByResolutionAndTokens() {
        let wan = Pricing(unit: "video", usd: 0.05, byResolution: ["480p": 0.05, "720p": 0.11])
        #expect(wan.unitPrice(resolution: "720p") == 0.11)
        #expect(wan.unitPrice(resolution: nil) == 0.05)
        let llm = Pricing(unit: "token", usd: 0, inputPerMillion: 3, outputPerMillion: 15)
        #expect(abs(llm.tokenCost(input: 1000, output: 2000) - 0.033) < 1e-12)
    }
}
