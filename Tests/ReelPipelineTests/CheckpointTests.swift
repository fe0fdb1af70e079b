import Foundation
import Testing
import ReelCore
import ReelMedia
import ReelProviders
import ReelTestSupport
@testable import ReelPipeline

/// Checkpoints in a folder: the plan as JSON, scene clips by key (what the server keeps in its database and storage).
actor FolderCheckpoints: PipelineCheckpoints {
    let root: String
    private(set) var planSaves = 0
    init(root: String) { self.root = root }

    func savedPlan() async throws -> PlanCheckpoint? {
        guard let data = FileManager.default.contents(atPath: "\(root)/plan.json") else { return nil }
        return try JSONDecoder().decode(PlanCheckpoint.self, from: data)
    }
    func savePlan(_ checkpoint: PlanCheckpoint) async throws {
        planSaves += 1
        try ReelJSON.encoder().encode(checkpoint).write(to: URL(fileURLWithPath: "\(root)/plan.json"))
    }
    func restoreScene(key: String, index: Int, to path: String) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: "\(root)/\(key).mp4") else { return false }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: "\(root)/\(key).mp4", toPath: path)
        return true
    }
    func saveScene(key: String, index: Int, clipAt path: String) async throws {
        try? FileManager.default.removeItem(atPath: "\(root)/\(key).mp4")
        try FileManager.default.copyItem(atPath: path, toPath: "\(root)/\(key).mp4")
    }
    var sceneFiles: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasSuffix(".mp4") } }
}

@Suite("Checkpoints and resume")
struct CheckpointTests {
    func made(_ events: [ProgressEvent]) -> [Int] { events.compactMap { if case .sceneStarted(let i) = $0 { i } else { nil } }.sorted() }
    func reused(_ events: [ProgressEvent]) -> [Int] { events.compactMap { if case .sceneReused(let i) = $0 { i } else { nil } }.sorted() }

    @Test func aSecondRunRestoresEveryFinishedSceneAndAVariantRemakesOnlyItsScene() async throws {
        let dir = try Fixtures.temporaryDirectory("checkpoints")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = "\(dir)/store"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let checkpoints = FolderCheckpoints(root: store)
        let song = try Fixtures.song(bpm: 120, duration: 10, in: dir)
        let request = GenerateRequest(prompt: "neon rain", audioPath: song.path, seed: 3, output: "\(dir)/first.mp4")

        let first = RecordingProgress()
        let one = try await colourPipeline(progress: first).generate(request, checkpoints: checkpoints)
        let scenes = one.manifest.plan.scenes.count
        #expect(scenes >= 2)
        #expect(made(first.events) == Array(0..<scenes))
        #expect(await checkpoints.sceneFiles.count == scenes)
        #expect(await checkpoints.planSaves == 1)

        // The same run again (another worker after a crash): the saved plan is taken up, nothing is made again.
        let second = RecordingProgress()
        var again = request
        again.output = "\(dir)/second.mp4"
        let two = try await colourPipeline(progress: second).generate(again, checkpoints: checkpoints)
        #expect(made(second.events).isEmpty)
        #expect(reused(second.events) == Array(0..<scenes))
        #expect(two.manifest.plan == one.manifest.plan)
        #expect(await checkpoints.planSaves == 1)
        let info = try await MediaProbe().probe("\(dir)/second.mp4")
        #expect(abs((info.video?.duration ?? 0) - one.manifest.plan.duration) <= 1.0 / 30 + 1e-6)

        // Scene 1 asked for again: only it is made; the plan is the stored one.
        let third = RecordingProgress()
        var regenerate = request
        regenerate.output = "\(dir)/third.mp4"
        regenerate.plan = one.manifest.plan
        regenerate.sceneVariants = [1: 1]
        _ = try await colourPipeline(progress: third).generate(regenerate, checkpoints: checkpoints)
        #expect(made(third.events) == [1])
        #expect(reused(third.events) == Array(0..<scenes).filter { $0 != 1 })
    }

    @Test func sceneKeysFollowWhatShapesTheClip() throws {
        let brief = try PromptParser().parse("city at night, 8 seconds", overrides: .init())
        let plan = RulePlanner().plan(brief: brief, analysis: nil, songStart: 0, duration: 8, seed: 1, media: [])
        func requests(_ plan: Plan, seed: UInt64 = 1) -> [ClipRequest] {
            plan.scenes.map { ClipRequest(scene: $0, frames: 60, size: FrameSize(960, 540), brief: plan.brief, seed: seed, output: "/w/\($0.index).mp4") }
        }
        let base = SceneCheckpointKey.keys(for: requests(plan))
        #expect(Set(base).count == plan.scenes.count)
        #expect(SceneCheckpointKey.keys(for: requests(plan)) == base)
        // Another worker's folder does not change a key; another prompt for scene 0 changes only scene 0's key.
        let moved = requests(plan).map { var r = $0; r.output = "/elsewhere/\(r.scene.index).mp4"; return r }
        #expect(SceneCheckpointKey.keys(for: moved) == base)
        var edited = plan
        edited.scenes[0].prompt += ", brighter"
        let changed = SceneCheckpointKey.keys(for: requests(edited))
        #expect(changed[0] != base[0] && Array(changed.dropFirst()) == Array(base.dropFirst()))
        // A scene chained to the one before it changes with it.
        var chained = edited
        chained.scenes[1].source.chain = true
        var chainedBase = plan
        chainedBase.scenes[1].source.chain = true
        #expect(SceneCheckpointKey.keys(for: requests(chained))[1] != SceneCheckpointKey.keys(for: requests(chainedBase))[1])
        #expect(SceneCheckpointKey.seed(7, variant: 0) == 7 && SceneCheckpointKey.seed(7, variant: 1) != 7)
    }

    @Test func mediaPathsSurviveAMoveToAnotherFolder() throws {
        let scene = Scene(index: 0, start: 0, end: 1, prompt: "p", content: "c", role: .intro, energy: 0.5, reason: "r", transition: nil,
                          source: SceneSource(provider: "user-media", model: "image", media: "/a/media/x.png"))
        let brief = try PromptParser().parse("p", overrides: .init())
        let plan = Plan(brief: brief, seed: 1, songStart: 0, duration: 1, tempo: nil, scenes: [scene])
        let relative = plan.relativisingMedia(to: "/a/media")
        #expect(relative.scenes[0].source.media == "x.png")
        #expect(relative.anchoringMedia(to: "/b/m").scenes[0].source.media == "/b/m/x.png")
    }
}
