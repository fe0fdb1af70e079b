import Foundation
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelMedia

@Suite("Filter graphs")
struct FilterGraphTests {
    @Test func renderingAndEscaping() {
        typealias F = FilterGraph.Filter
        var g = FilterGraph()
        g.add(["0:v"], [F("scale", ["w": "960", "h": "540"]), F("format", [(nil, "yuv420p")])], ["a"])
        g.add(["a", "1:v"], [F("xfade", ["transition": "fade", "duration": "0.5", "offset": "1.75"])], ["out"])
        #expect(g.description == "[0:v]scale=w=960:h=540,format=yuv420p[a];[a][1:v]xfade=transition=fade:duration=0.5:offset=1.75[out]")
        #expect(F("geq", ["lum": "128+sin(X/4,2)"]).description == "geq=lum='128+sin(X/4,2)'")
        #expect(F("drawtext", ["text": "a:b"]).description == "drawtext=text='a\\:b'")
        #expect(F("drawtext", ["text": "it's"]).description == "drawtext=text=its")
        #expect(F("null").description == "null")
    }

    @Test func escapedValuesReachFFmpegIntact() async throws {
        // A value with commas, a colon and brackets must survive both parsing levels: ffmpeg accepts it.
        var g = FilterGraph()
        g.add([], [FilterGraph.Filter("color", ["c": "red", "s": "32x32", "d": "0.1"]),
                   FilterGraph.Filter("geq", ["lum": "clip(128+100*sin(X/3),0,255)", "cb": "128", "cr": "128"]),
                   FilterGraph.Filter("drawtext", ["text": "a:b, [c]; d", "fontsize": "8"])], ["v"])
        let dir = try Fixtures.temporaryDirectory("fg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Fixtures.ffmpeg(["-filter_complex", g.description, "-map", "[v]", "-frames:v", "1", "\(dir)/x.png"])
        #expect(FileManager.default.fileExists(atPath: "\(dir)/x.png"))
    }

    @Test func timelineGraphCentresTransitionsOnCuts() throws {
        let brief = try PromptParser().parse("x")
        let scenes = [
            Scene(index: 0, start: 0, end: 2, prompt: "a", content: "a", role: .intro, energy: 0, reason: "", transition: Transition(kind: .wipeleft, duration: 0.4), source: .procedural),
            Scene(index: 1, start: 2, end: 3, prompt: "b", content: "b", role: .peak, energy: 0, reason: "", transition: .cut, source: .procedural),
            Scene(index: 2, start: 3, end: 4, prompt: "c", content: "c", role: .outro, energy: 0, reason: "", transition: nil, source: .procedural),
        ]
        let plan = Plan(brief: brief, seed: 1, songStart: 12.5, duration: 4, tempo: 120, scenes: scenes)
        let timeline = Timeline(plan: plan, clipPaths: ["a.mp4", "b.mp4", "c.mp4"], size: FrameSize(960, 540), encoder: Preset.draft.encoder, audioPath: "song.wav")
        let graph = TimelineRenderer.filterGraph(timeline).description
        #expect(graph.contains("xfade=transition=wipeleft:duration=0.400000:offset=1.800000"))
        #expect(graph.contains("[j1][c2]concat=n=2:v=1:a=0,settb=1/30[j2]"))
        #expect(graph.contains("trim=end_frame=66"))          // 60 frames + half of 12
        #expect(graph.contains("loudnorm=I=-14.000000"))
        #expect(graph.contains("afade=t=out"))
        let args = try TimelineRenderer.arguments(timeline, output: "o.mp4", audio: MediaInput.own("song.wav", demuxer: "wav"))
        #expect(args.contains("+faststart"))
        #expect(args[args.firstIndex(of: "-ss")! + 1] == "12.500000")
        #expect(args[args.firstIndex(of: "-crf")! + 1] == "28")
        #expect(args[args.firstIndex(of: "-preset")! + 1] == "veryfast")
        // Every input is opened by a named demuxer, local files only: the clips as MP4, the song as it was probed.
        #expect(args.indices.filter { args[$0] == "-f" }.map { args[$0 + 1] } == ["mov", "mov", "mov", "wav", "mp4"])
        #expect(args.filter { $0 == "-protocol_whitelist" }.count == 4)
        #expect(throws: ReelError.self) { try TimelineRenderer.arguments(timeline, output: "o.mp4", audio: nil) }
    }
}

@Suite("Probing and decoding bad input")
struct DecodeTests {
    let source = FFmpegPCMSource()

    func code(of work: () async throws -> Void) async -> ReelError.Code? {
        do { try await work(); return nil } catch let e as ReelError { return e.code } catch { return .internalError }
    }

    @Test func decodesAudioToMonoAtTheAskedRate() async throws {
        let dir = try Fixtures.temporaryDirectory("decode")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=440:d=3:sample_rate=44100", "-ac", "2", "\(dir)/a.mp3"])
        let pcm = try await source.decode(path: "\(dir)/a.mp3", sampleRate: 22_050)
        #expect(abs(pcm.duration - 3) < 0.1)
        #expect(pcm.samples.map(abs).max()! > 0.05)
    }

    @Test func badAudioFilesAreNamedErrors() async throws {
        let dir = try Fixtures.temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "just some text, not a song\n".write(toFile: "\(dir)/text.mp3", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: "\(dir)/empty.mp3", contents: Data())
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=300:d=20", "\(dir)/full.mp3"])
        let full = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/full.mp3"))
        try full.prefix(full.count / 3).write(to: URL(fileURLWithPath: "\(dir)/truncated.mp3"))
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x64:d=1", "\(dir)/video-only.mp4"])

        #expect(await code { _ = try await source.decode(path: "\(dir)/missing.mp3", sampleRate: 22_050) } == .fileNotFound)
        #expect(await code { _ = try await source.decode(path: "\(dir)/text.mp3", sampleRate: 22_050) } == .notAudio)
        #expect(await code { _ = try await source.decode(path: "\(dir)/empty.mp3", sampleRate: 22_050) } == .notAudio)
        #expect(await code { _ = try await source.decode(path: "\(dir)/truncated.mp3", sampleRate: 22_050) } == .notAudio)
        #expect(await code { _ = try await source.decode(path: "\(dir)/video-only.mp4", sampleRate: 22_050) } == .notAudio)
        do {
            _ = try await source.decode(path: "\(dir)/truncated.mp3", sampleRate: 22_050)
        } catch let e as ReelError {
            #expect(e.message.contains("truncated.mp3") && e.message.contains("truncated"))
        }
    }

    @Test func wavFilesAreReadDirectlyInEveryCommonFormat() async throws {
        let dir = try Fixtures.temporaryDirectory("wav")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (codec, rate, channels) in [("pcm_s16le", 44_100, 2), ("pcm_s24le", 48_000, 1), ("pcm_f32le", 22_050, 2), ("pcm_u8", 16_000, 1)] {
            let path = "\(dir)/\(codec).wav"
            try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=440:d=2:sample_rate=\(rate)", "-ac", String(channels), "-c:a", codec, path])
            let pcm = try await source.decode(path: path, sampleRate: 22_050)
            #expect(abs(pcm.duration - 2) < 0.01, "\(codec)")
            #expect(pcm.sampleRate == rate / max(1, rate / 22_050))
            let peak = pcm.samples.map(abs).max() ?? 0
            #expect(peak > 0.05 && peak <= 1, "\(codec) peak \(peak)")
        }
        // A WAV written to a pipe carries no data size; it is read to the end of the file.
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=440:d=3", "-f", "wav", "\(dir)/piped.wav"])
        var piped = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/piped.wav"))
        if let r = piped.range(of: Data("data".utf8)) { piped.replaceSubrange(r.upperBound..<(r.upperBound + 4), with: [0xff, 0xff, 0xff, 0xff]) }
        try piped.write(to: URL(fileURLWithPath: "\(dir)/streamed.wav"))
        #expect(abs(try await source.decode(path: "\(dir)/streamed.wav", sampleRate: 22_050).duration - 3) < 0.01)
        // A WAV cut short says so.
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=440:d=10", "\(dir)/long.wav"])
        let whole = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/long.wav"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: "\(dir)/cut.wav"))
        #expect(await code { _ = try await source.decode(path: "\(dir)/cut.wav", sampleRate: 22_050) } == .notAudio)
    }

    @Test func songsOverTwentyMinutesAreRefusedBeforeDecoding() async throws {
        let dir = try Fixtures.temporaryDirectory("long")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1230", "-c:a", "libmp3lame", "-b:a", "8k", "\(dir)/long.mp3"])
        #expect(await code { _ = try await source.decode(path: "\(dir)/long.mp3", sampleRate: 22_050) } == .audioTooLong)
    }

    @Test func probeTellsImagesFromVideosByContent() async throws {
        let dir = try Fixtures.temporaryDirectory("probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1", "\(dir)/picture.mp4.png"])
        try FileManager.default.moveItem(atPath: "\(dir)/picture.mp4.png", toPath: "\(dir)/named-like-a-video.mp4")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x48:d=2", "\(dir)/clip.mp4"])
        let probe = MediaProbe()
        let image = try await probe.probe("\(dir)/named-like-a-video.mp4")
        #expect(image.isImage)
        #expect(image.video?.width == 64)
        let clip = try await probe.probe("\(dir)/clip.mp4")
        #expect(!clip.isImage)
        #expect(abs((clip.duration ?? 0) - 2) < 0.1)
    }
}
