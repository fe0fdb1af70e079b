import Foundation
import Testing
import ReelCore
import ReelTestSupport

/// Runs the real binary in a scratch folder.
func reelsmith(_ args: [String], in dir: String, interruptWhen: String? = nil) async throws -> ReelsmithProcess.Result {
    try await ReelsmithProcess.runAsync(args, in: dir, interruptWhen: interruptWhen).result
}

func jsonObject(_ text: String) throws -> [String: Any] {
    let line = try #require(text.split(separator: "\n").last, "no output")
    return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

@Suite("reelsmith command line", .serialized)
struct CommandLineTests {
    @Test func beatsJSONFollowsTheContract() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-beats")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 120, duration: 12, in: dir)
        let r = try await reelsmith(["beats", song.path, "--json"], in: dir)
        #expect(r.exitCode == 0)
        let o = try jsonObject(r.stdout)
        #expect(r.stdout.split(separator: "\n").count == 1)
        #expect(o["steady"] as? Bool == true)
        #expect(abs((o["tempo"] as? Double ?? 0) - 120) < 1.5)
        let beats = try #require(o["beats"] as? [Double])
        #expect(beats.count >= 20)
        #expect((o["downbeats"] as? [Double])?.isEmpty == false)
        let meter = try #require(o["meter"] as? [String: Any])
        #expect(meter["beatsPerBar"] as? Int == 4 && meter["beatUnit"] as? Int == 4)
        #expect((o["sections"] as? [[String: Any]])?.first?["label"] as? String == "A")
        let energy = try #require(o["energy"] as? [String: Any])
        #expect(energy["hop"] as? Double == 0.1)
        #expect((energy["values"] as? [Double])?.count == 120)

        let human = try await reelsmith(["beats", song.path], in: dir)
        #expect(human.exitCode == 0 && human.stdout.contains("120"))
    }

    @Test func noSteadyBeatIsAResultNotAnError() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-tone")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tone = (0..<(22_050 * 6)).map { Float(0.4 * sin(2 * Double.pi * 330 * Double($0) / 22_050)) }
        try Fixtures.writeWAV(tone, sampleRate: 22_050, to: "\(dir)/tone.wav")
        let r = try await reelsmith(["beats", "tone.wav", "--json"], in: dir)
        #expect(r.exitCode == 0)
        let o = try jsonObject(r.stdout)
        #expect(o["steady"] as? Bool == false)
        #expect(o["tempo"] is NSNull)
        #expect((o["beats"] as? [Double])?.isEmpty == true)
        try Fixtures.writeWAV([Float](repeating: 0, count: 22_050 * 4), sampleRate: 22_050, to: "\(dir)/silence.wav")
        let s = try jsonObject(try await reelsmith(["beats", "silence.wav", "--json"], in: dir).stdout)
        #expect(s["steady"] as? Bool == false && s["tempo"] is NSNull)
    }

    @Test func generateMakesAVideoAndManifestOffline() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-gen")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 128, duration: 10, in: dir)
        let r = try await reelsmith(["generate", "neon city at night, rain, synthwave", "--audio", song.path, "--out", "clips/v.mp4",
                               "--seed", "42", "--aspect", "1:1", "--json"], in: dir)
        #expect(r.exitCode == 0, "\(r.stderr)")
        let o = try jsonObject(r.stdout)
        #expect(o["video"] as? String == "clips/v.mp4")
        #expect(o["manifest"] as? String == "clips/v.manifest.json")
        #expect(abs((o["duration"] as? Double ?? 0) - 10) <= 1.0 / 30)
        #expect(o["cost"] as? Double == 0)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/clips/v.mp4"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/clips/v.manifest.json"))) as? [String: Any])
        #expect(manifest["seed"] as? Int == 42)
        #expect((manifest["brief"] as? [String: Any])?["aspect"] as? String == "1:1")
        #expect((manifest["video"] as? [String: Any])?["width"] as? Int == 540)
        let audio = try #require(manifest["audio"] as? [String: Any])
        #expect((audio["sha256"] as? String)?.count == 64)
        #expect(abs((audio["tempo"] as? Double ?? 0) - 128) < 1.5)
        let timings = try #require(manifest["timings"] as? [String: Double])
        #expect(Set(["analyze", "plan", "generate", "compose"]).isSubset(of: timings.keys))
        #expect((manifest["cost"] as? [String: Any])?["total"] as? Double == 0)
        // Progress went to standard error, not standard output.
        #expect(r.stderr.contains("compose"))
        #expect(r.stdout.split(separator: "\n").count == 1)
    }

    @Test func planThenGenerateFromTheEditedPlan() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-plan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 120, duration: 12, in: dir)
        let first = try await reelsmith(["plan", "forest at dawn, calm", "--audio", song.path, "--seed", "9", "--json"], in: dir)
        let second = try await reelsmith(["plan", "forest at dawn, calm", "--audio", song.path, "--seed", "9", "--json"], in: dir)
        #expect(first.exitCode == 0 && first.stdout == second.stdout, "same inputs and seed must give the same plan")
        var plan = try ReelJSON.decoder().decode(Plan.self, from: Data(first.stdout.utf8))
        plan.scenes[0].prompt = "a single red fox, close-up"
        try ReelJSON.encoder().encode(plan).write(to: URL(fileURLWithPath: "\(dir)/edited.json"))
        let r = try await reelsmith(["generate", "--plan", "edited.json", "--audio", song.path, "--out", "v.mp4", "--json"], in: dir)
        #expect(r.exitCode == 0, "\(r.stderr)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/v.manifest.json"))) as? [String: Any])
        let scenes = try #require((manifest["plan"] as? [String: Any])?["scenes"] as? [[String: Any]])
        #expect(scenes[0]["prompt"] as? String == "a single red fox, close-up")
        #expect(manifest["seed"] as? Int == 9)

        // A broken plan is refused with a clear error and nothing is written.
        try "{\"version\": 1}".write(toFile: "\(dir)/broken.json", atomically: true, encoding: .utf8)
        let bad = try await reelsmith(["generate", "--plan", "broken.json", "--out", "w.mp4"], in: dir)
        #expect(bad.exitCode == 2)
        #expect(bad.stderr.contains("broken.json"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/w.mp4"))

        // A plan keeps its own preset and aspect; an explicit option still wins.
        let portrait = try await reelsmith(["plan", "forest", "--audio", song.path, "--aspect", "9:16", "--preset", "preview", "--duration", "4", "--json"], in: dir)
        try portrait.stdout.write(toFile: "\(dir)/portrait.json", atomically: true, encoding: .utf8)
        _ = try await reelsmith(["generate", "--plan", "portrait.json", "--audio", song.path, "--out", "p.mp4"], in: dir)
        let kept = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/p.manifest.json"))) as? [String: Any])
        #expect((kept["video"] as? [String: Any])?["width"] as? Int == 720 && (kept["video"] as? [String: Any])?["height"] as? Int == 1280)
        _ = try await reelsmith(["generate", "--plan", "portrait.json", "--audio", song.path, "--aspect", "1:1", "--out", "q.mp4"], in: dir)
        let square = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/q.manifest.json"))) as? [String: Any])
        #expect((square["video"] as? [String: Any])?["width"] as? Int == 720 && (square["video"] as? [String: Any])?["height"] as? Int == 720)

        // --estimate --json is still a plan generate can read, with the price added.
        let priced = try await reelsmith(["plan", "forest", "--duration", "6", "--estimate", "--json"], in: dir)
        let pricedObject = try jsonObject(priced.stdout)
        #expect((pricedObject["estimate"] as? [String: Any])?["total"] as? Double == 0)
        #expect(try ReelJSON.decoder().decode(Plan.self, from: Data(priced.stdout.utf8)).scenes.isEmpty == false)

        let human = try await reelsmith(["plan", "forest", "--duration", "8", "--estimate"], in: dir)
        #expect(human.exitCode == 0 && human.stdout.contains("estimated cost: $0.00"))
    }

    /// Each bad input: exit 2, one clear line naming the problem, nothing at the output path.
    @Test func badInputGivesOneClearLineAndNoOutput() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "hello, I am text\n".write(toFile: "\(dir)/text.mp3", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: "\(dir)/empty.mp3", contents: Data())
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=300:d=20", "\(dir)/full.mp3"])
        let full = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/full.mp3"))
        try full.prefix(full.count / 3).write(to: URL(fileURLWithPath: "\(dir)/truncated.mp3"))
        try Fixtures.writeWAV([Float](repeating: 0, count: 22_050 * 5), sampleRate: 22_050, to: "\(dir)/silence.wav")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1260", "-c:a", "libmp3lame", "-b:a", "8k", "\(dir)/long.mp3"])
        let song = try Fixtures.song(bpm: 120, duration: 6, in: dir)
        try "x".write(toFile: "\(dir)/afile", atomically: true, encoding: .utf8)

        let cases: [(args: [String], needle: String)] = [
            (["--audio", "missing.mp3"], "missing.mp3"),
            (["--audio", "text.mp3"], "not an audio file"),
            (["--audio", "empty.mp3"], "empty"),
            (["--audio", "truncated.mp3"], "truncated"),
            (["--audio", "silence.wav"], "silent"),
            (["--audio", "long.mp3"], "20 minutes"),
            (["--audio", song.path, "--aspect", "5:3"], "5:3"),
            (["--audio", song.path, "--preset", "ultra"], "ultra"),
            (["--audio", song.path, "--duration", "-3"], "duration"),
            (["--audio", song.path, "--start", "99"], "start"),
            (["--audio", "."], "folder"),
            (["--audio", "/dev/zero"], "not a regular file"),
            (["--audio", song.path, "--out", "out/v.mov"], ".mp4"),
            (["--audio", song.path, "--duration", "5000"], "duration"),
        ]
        for c in cases {
            let out = c.args.contains("--out") ? [] : ["--out", "out/v.mp4"]
            let r = try await reelsmith(["generate", "city"] + c.args + out, in: dir)
            #expect(r.exitCode == 2, "\(c.args): exit \(r.exitCode)")
            let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("reelsmith: analyze") && !$0.hasPrefix("reelsmith: plan") }
            #expect(lines.count == 1, "\(c.args): \(r.stderr)")
            #expect(r.stderr.contains(c.needle), "\(c.args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/out/v.mp4"))
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/out")) ?? []
            #expect(leftovers.isEmpty, "\(c.args) left \(leftovers)")
        }
        // A folder the run had to create is gone again after a failure.
        let deep = try await reelsmith(["generate", "city", "--audio", "text.mp3", "--out", "brand/new/v.mp4"], in: dir)
        #expect(deep.exitCode == 2)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/brand"))
        // An output path that cannot be written: its folder would have to be inside a file.
        let r = try await reelsmith(["generate", "city", "--audio", song.path, "--out", "afile/v.mp4"], in: dir)
        #expect(r.exitCode == 2)
        #expect(r.stderr.contains("afile"))
        // With --json the error is one JSON object on standard output.
        let j = try await reelsmith(["generate", "city", "--audio", "text.mp3", "--out", "out/v.mp4", "--json"], in: dir)
        #expect(j.exitCode == 2)
        let error = try #require(try jsonObject(j.stdout)["error"] as? [String: Any])
        #expect(error["code"] as? String == "not-audio")
        #expect((error["message"] as? String)?.contains("text.mp3") == true)
        let usage = try await reelsmith(["generate", "city", "--aspect", "5:3", "--json"], in: dir)
        #expect(usage.exitCode == 2)
        #expect((try jsonObject(usage.stdout)["error"] as? [String: Any])?["code"] as? String == "usage")
    }

    @Test func ctrlCStopsAndLeavesNothing() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-int")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 120, duration: 60, in: dir)
        for stage in ["generate started", "compose started"] {
            let (r, _) = try ReelsmithProcess.run(["generate", "city at night", "--audio", song.path, "--out", "out/v.mp4", "--preset", "preview"],
                                                  in: dir, interruptWhen: stage)
            #expect(r.exitCode == 130, "interrupted at \(stage): \(r.stderr)")
            #expect(r.stderr.contains("interrupted"))
            let left = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/out")) ?? []
            #expect(left.isEmpty, "left \(left)")
        }
    }

    @Test func versionAndHelp() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-v")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try await reelsmith(["--version"], in: dir)
        #expect(v.exitCode == 0 && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ReelVersion.current)
        let h = try await reelsmith(["generate", "--help"], in: dir)
        #expect(h.exitCode == 0 && h.stdout.contains("--audio"))
        let u = try await reelsmith(["frobnicate"], in: dir)
        #expect(u.exitCode == 2)
    }
}
