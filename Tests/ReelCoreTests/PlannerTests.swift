import Foundation
import Testing
@testable import ReelCore

/// A steady analysis at `bpm` in 4/4 with optional sections and an energy curve.
func steadyAnalysis(bpm: Double, duration: Double, offset: Double = 0.5, sections: [Double] = [],
                    energy: (Double) -> Double = { _ in 0.5 }) -> AudioAnalysis {
    let beats = stride(from: offset, to: duration, by: 60 / bpm).map { $0 }
    let downbeats = beats.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
    let bounds = [0] + sections + [duration]
    let secs = (0..<(bounds.count - 1)).map { Section(start: bounds[$0], end: bounds[$0 + 1], label: String(UnicodeScalar(UInt8(65 + $0)))) }
    let values = stride(from: 0.0, to: duration, by: 0.1).map(energy)
    return AudioAnalysis(duration: duration, steady: true, tempo: bpm, beats: beats, downbeats: downbeats, meter: .fourFour,
                         sections: secs, energy: EnergyCurve(hop: 0.1, values: values), onsets: beats, peakDBFS: -3)
}

@Suite("Planning rules")
struct PlannerTests {
    let planner = RulePlanner()

    func brief(_ prompt: String = "neon city at night, rain, synthwave") throws -> Brief {
        try PromptParser().parse(prompt)
    }

    @Test func scenesCoverTheVideoContiguously() throws {
        let analysis = steadyAnalysis(bpm: 120, duration: 60)
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 30, seed: 1)
        try plan.validate()
        #expect(plan.scenes.first?.start == 0)
        #expect(plan.scenes.last?.end == 30)
        for (a, b) in zip(plan.scenes, plan.scenes.dropFirst()) { #expect(a.end == b.start) }
        #expect((4...20).contains(plan.scenes.count))
    }

    @Test func everyCutIsOnABeatOrDownbeat() throws {
        let analysis = steadyAnalysis(bpm: 128, duration: 60, offset: 0.37)
        let grid = BeatGrid(beats: analysis.beats, downbeats: analysis.downbeats)
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 40, seed: 3)
        for cut in plan.cuts {
            #expect(grid.isOnBeat(cut, tolerance: 0.5 / 30 + 1e-9), "cut at \(cut) is not on a beat")
        }
    }

    @Test func cutsFollowTheSongWhenStartingLater() throws {
        let analysis = steadyAnalysis(bpm: 100, duration: 90, offset: 0.21)
        let start = 17.3
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: start, duration: 30, seed: 3)
        let grid = BeatGrid(beats: analysis.beats, downbeats: analysis.downbeats)
        for cut in plan.cuts { #expect(grid.isOnBeat(cut + start, tolerance: 1.0 / 30)) }
    }

    @Test func barsWhereTheTempoAllowsBeatsOtherwise() throws {
        // 120 BPM: bars of 2 s fit a moderate pacing, so every cut is a downbeat.
        let moderate = planner.plan(brief: try brief(), analysis: steadyAnalysis(bpm: 120, duration: 60), songStart: 0, duration: 40, seed: 5)
        let grid = BeatGrid(beats: steadyAnalysis(bpm: 120, duration: 60).beats, downbeats: steadyAnalysis(bpm: 120, duration: 60).downbeats)
        for cut in moderate.cuts { #expect(grid.downbeatIndex(near: cut, tolerance: 1.0 / 30) != nil, "cut at \(cut)") }
        // 60 BPM with fast pacing: bars of 4 s are too long, so cuts land on beats between downbeats too.
        let slowSong = steadyAnalysis(bpm: 60, duration: 60)
        let fast = planner.plan(brief: try brief("punchy fast cuts, skate park"), analysis: slowSong, songStart: 0, duration: 40, seed: 5)
        let slowGrid = BeatGrid(beats: slowSong.beats, downbeats: slowSong.downbeats)
        #expect(fast.cuts.contains { slowGrid.downbeatIndex(near: $0, tolerance: 1.0 / 30) == nil })
        for cut in fast.cuts { #expect(slowGrid.isOnBeat(cut, tolerance: 1.0 / 30)) }
    }

    @Test func highEnergyGivesShorterScenes() throws {
        // Quiet first half, loud second half.
        let analysis = steadyAnalysis(bpm: 120, duration: 64) { $0 < 32 ? 0.1 : 0.95 }
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 64, seed: 9)
        let quiet = plan.scenes.filter { $0.end <= 32 }.map(\.duration)
        let loud = plan.scenes.filter { $0.start >= 32 }.map(\.duration)
        let mean = { (x: [Double]) in x.reduce(0, +) / Double(x.count) }
        #expect(mean(loud) < mean(quiet))
        #expect(plan.scenes.contains { $0.role == .peak && $0.start >= 32 })
    }

    @Test func pacingChangesSceneLength() throws {
        let analysis = steadyAnalysis(bpm: 120, duration: 60)
        let fast = planner.plan(brief: try brief("fast punchy cuts, city"), analysis: analysis, songStart: 0, duration: 40, seed: 2)
        let slow = planner.plan(brief: try brief("slow dreamy clouds"), analysis: analysis, songStart: 0, duration: 40, seed: 2)
        #expect(fast.scenes.count > slow.scenes.count)
    }

    @Test func sectionBoundariesAreCutsWithStrongerTransitions() throws {
        let analysis = steadyAnalysis(bpm: 120, duration: 60, sections: [16.5, 32.5])
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 48, seed: 4)
        for boundary in [16.5, 32.5] {
            let scene = try #require(plan.scenes.first { abs($0.end - boundary) < 0.02 }, "no cut at \(boundary)")
            #expect(scene.reason.contains("section"))
            #expect([.fadewhite, .fadeblack, .zoomin, .circleclose, .radial, .pixelize].contains(scene.transition?.kind))
        }
    }

    @Test func aDropGetsAHardCutOrFlashAndAPeak() throws {
        // Quiet until 16.5 s, then loud: a drop at the section boundary.
        let analysis = steadyAnalysis(bpm: 120, duration: 40, sections: [16.5]) { $0 < 16.5 ? 0.2 : 0.95 }
        for seed in [1, 2, 3] as [UInt64] {
            let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 32, seed: seed)
            let before = try #require(plan.scenes.firstIndex { abs($0.end - 16.5) < 0.02 })
            #expect(plan.scenes[before].reason.contains("drop"))
            #expect([.cut, .fadewhite].contains(plan.scenes[before].transition?.kind))
            #expect(plan.scenes[before + 1].role == .peak)
        }
    }

    @Test func transitionsFitTheirScenesAndAreCentred() throws {
        for prompt in ["slow dreamy ocean", "fast punchy city", "forest"] {
            let plan = planner.plan(brief: try brief(prompt), analysis: steadyAnalysis(bpm: 140, duration: 60), songStart: 0, duration: 45, seed: 11)
            try plan.validate()
            for s in plan.scenes.dropLast() {
                let t = try #require(s.transition)
                #expect(Timeline.frames(of: t) % 2 == 0)
            }
            #expect(plan.scenes.last?.transition == nil)
        }
    }

    @Test func sameSeedSamePlanDifferentSeedDifferentPlan() throws {
        let analysis = steadyAnalysis(bpm: 120, duration: 60)
        let a = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 30, seed: 42)
        let b = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 30, seed: 42)
        let c = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 30, seed: 43)
        #expect(a == b)
        #expect(a.scenes.map(\.prompt) != c.scenes.map(\.prompt) || a.scenes.map(\.transition) != c.scenes.map(\.transition))
    }

    @Test func scenePromptsCarryStyleContentAndArc() throws {
        let plan = planner.plan(brief: try brief("neon city at night, rain, synthwave, dark"),
                                analysis: steadyAnalysis(bpm: 120, duration: 60), songStart: 0, duration: 30, seed: 1)
        #expect(plan.scenes[0].role == .intro)
        #expect(plan.scenes.last?.role == .outro)
        #expect(plan.scenes[0].prompt.contains("opening"))
        for s in plan.scenes {
            #expect(s.prompt.contains("synthwave"))
            #expect(s.prompt.contains("dark mood"))
        }
        #expect(plan.scenes.contains { $0.prompt.contains("rain") })
        #expect(plan.scenes.contains { $0.prompt.contains("neon city at night") })
        #expect(Set(plan.scenes.map(\.prompt)).count > plan.scenes.count / 2)
    }

    @Test func withoutASongTheVideoIs30SecondsOnAFrameGrid() throws {
        let duration = try RulePlanner.videoDuration(requested: nil, songDuration: nil, start: 0)
        #expect(duration == 30)
        let plan = planner.plan(brief: try brief(), analysis: nil, songStart: 0, duration: duration, seed: 1)
        try plan.validate()
        for cut in plan.cuts { #expect(abs(cut * 30 - (cut * 30).rounded()) < 1e-6) }
    }

    @Test func durationRules() throws {
        #expect(try RulePlanner.videoDuration(requested: nil, songDuration: 400, start: 0) == 180)
        #expect(try RulePlanner.videoDuration(requested: nil, songDuration: 95.5, start: 10) == 85.5)
        #expect(try RulePlanner.videoDuration(requested: 20, songDuration: 95.5, start: 10) == 20)
        #expect(try RulePlanner.videoDuration(requested: 200, songDuration: 95.5, start: 0) == 95.5)
        #expect(throws: ReelError.self) { try RulePlanner.videoDuration(requested: nil, songDuration: 30, start: 40) }
    }

    @Test func noSteadyBeatCutsOnOnsets() throws {
        var analysis = steadyAnalysis(bpm: 120, duration: 40)
        analysis.steady = false; analysis.beats = []; analysis.downbeats = []; analysis.tempo = nil
        analysis.onsets = [1.13, 3.71, 5.02, 7.9, 9.3, 12.44, 15.1, 18.05, 21.7, 25.2]
        let plan = planner.plan(brief: try brief(), analysis: analysis, songStart: 0, duration: 30, seed: 1)
        try plan.validate()
        for cut in plan.cuts { #expect(analysis.onsets.contains { abs($0 - cut) <= 0.5 / 30 + 1e-9 }) }
        #expect(plan.scenes.dropLast().allSatisfy { $0.reason.contains("onset") })
    }

    @Test func userMediaIsAssignedInTurn() throws {
        let media = [MediaItem(path: "/m/a.jpg", kind: .image, duration: nil), MediaItem(path: "/m/b.mp4", kind: .video, duration: 3)]
        let plan = planner.plan(brief: try brief(), analysis: steadyAnalysis(bpm: 120, duration: 60), songStart: 0, duration: 20, seed: 1, media: media)
        #expect(plan.scenes[0].source.media == "/m/a.jpg")
        #expect(plan.scenes[0].source.model == "image")
        #expect(plan.scenes[1].source.media == "/m/b.mp4")
        #expect(plan.scenes[1].source.mediaOffset == 0)
    }
}

@Suite("Plan edits")
struct PlanEditTests {
    func plan() throws -> Plan {
        let brief = try PromptParser().parse("harbour at dawn, 12 seconds", overrides: .init())
        return RulePlanner().plan(brief: brief, analysis: nil, songStart: 0, duration: 12, seed: 4, media: [])
    }

    @Test func aNewPromptChangesOnlyThatScene() throws {
        let p = try plan()
        let edited = try p.editingScene(1, prompt: "  a lighthouse, brighter  ")
        #expect(edited.scenes[1].prompt == "a lighthouse, brighter")
        #expect(edited.scenes.enumerated().allSatisfy { $0.offset == 1 || $0.element == p.scenes[$0.offset] })
    }

    @Test func aNewLengthMovesOnlyTheNextCut() throws {
        let p = try plan()
        let edited = try p.editingScene(0, duration: p.scenes[0].duration + 0.5)
        #expect(edited.duration == p.duration)
        #expect(abs(edited.scenes[0].end - (p.scenes[0].end + 0.5)) < 1e-9 && edited.scenes[1].start == edited.scenes[0].end)
        #expect(edited.scenes[1].end == p.scenes[1].end)
        #expect(Array(edited.scenes.dropFirst(2)) == Array(p.scenes.dropFirst(2)))
        try edited.validate()
    }

    @Test func badEditsAreRefused() throws {
        let p = try plan()
        #expect(throws: ReelError.self) { try p.editingScene(99, prompt: "x") }
        #expect(throws: ReelError.self) { try p.editingScene(0, prompt: "   ") }
        #expect(throws: ReelError.self) { try p.editingScene(0, duration: -1) }
        #expect(throws: ReelError.self) { try p.editingScene(0, duration: .nan) }
        #expect(throws: ReelError.self) { try p.editingScene(0, duration: 0.01) }
        #expect(throws: ReelError.self) { try p.editingScene(0, duration: p.scenes[0].duration + p.scenes[1].duration) }
        #expect(throws: ReelError.self) { try p.editingScene(p.scenes.count - 1, duration: p.scenes.last!.duration + 1) }
    }
}
