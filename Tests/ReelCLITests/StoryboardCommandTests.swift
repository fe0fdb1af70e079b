import Foundation
import Testing
import ReelCore
import ReelTestSupport

@Suite("reelsmith plan --storyboard", .serialized)
struct StoryboardCommandTests {
    @Test func planDrawsTheStoryboardAndRecordsWhatEachSceneDraws() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-board")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try await reelsmith(["plan", "neon city at night, rain, synthwave", "--duration", "12", "--seed", "5",
                                     "--storyboard", "boards/first.png", "--json"], in: dir)
        #expect(r.exitCode == 0, "\(r.stderr)")
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/boards/first.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        let plan = try jsonObject(r.stdout)
        let scenes = try #require(plan["scenes"] as? [[String: Any]])
        #expect(!scenes.isEmpty)
        for scene in scenes {
            let visual = try #require((scene["source"] as? [String: Any])?["visual"] as? [String: Any], "source.visual is recorded")
            let layers = try #require(visual["layers"] as? [String])
            #expect(layers.first == "sky")
            #expect(visual["timeOfDay"] as? String == "night", "\(visual)")
            let prompt = try #require(scene["prompt"] as? String)
            if prompt.contains("city") { #expect(Set(["skyline", "buildings", "road"]).isSubset(of: Set(layers)), "\(layers)") }
            if prompt.contains("rain") { #expect(layers.contains("rain") && visual["weather"] as? String == "rain") }
            #expect((visual["words"] as? [String])?.contains("synthwave") == true)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/boards")
        #expect(names == ["first.png"], "no temporary file left: \(names)")
    }

    @Test func aBadStoryboardPathIsRefusedBeforeAnythingIsPlanned() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-board-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wrong = try await reelsmith(["plan", "forest at dawn", "--storyboard", "board.jpg"], in: dir)
        #expect(wrong.exitCode == 2)
        #expect(wrong.stderr.contains("must end in .png"), "\(wrong.stderr)")
        #expect(wrong.stdout.isEmpty, "no plan printed")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/file"))
        let unwritable = try await reelsmith(["plan", "forest at dawn", "--storyboard", "file/board.png", "--json"], in: dir)
        #expect(unwritable.exitCode == 2)
        let error = try #require(try jsonObject(unwritable.stdout)["error"] as? [String: Any])
        #expect(error["code"] as? String == "output-not-writable")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["file"], "nothing half-written")
    }
}
