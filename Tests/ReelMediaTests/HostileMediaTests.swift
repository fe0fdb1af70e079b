import Foundation
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelMedia

/// Issue 14, item 3: a file Reelsmith did not write is opened only by an allowed demuxer, read as a local file only,
/// and every child process has a deadline and an environment without secrets.
@Suite("Hostile media and child processes (issue 14, item 3)", .serialized)
struct HostileMediaTests {
    func refusal(_ work: () async throws -> Void) async -> ReelError? {
        do { try await work(); return nil } catch let e as ReelError { return e } catch { return ReelError(.internalError, "\(error)") }
    }

    @Test func theProbeRefusesEveryHostileFileAndNamesWhatItIs() async throws {
        let dir = try Fixtures.temporaryDirectory("hostile-probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let probe = MediaProbe()
        for entry in try await HostileMedia.make(in: dir) {
            let outcome: Result<MediaInfo, ReelError>
            do { outcome = .success(try await probe.probe(entry.path)) } catch let e as ReelError { outcome = .failure(e) }
            switch (outcome, entry.plainKind, entry.hostileName) {
            case (.success(let info), "audio"?, false):
                #expect(info.audio != nil && info.video == nil, "\(entry)")
                #expect(info.input.demuxer == "wav", "\(entry): opened later as what it is, not as its name says")
            case (.success(let info), let kind, let badName):
                Issue.record("\(entry) was accepted as \(info.formatName) (plain kind \(kind ?? "none"), hostile name \(badName))")
            case (.failure(let e), _, _):
                #expect(entry.plainKind == nil || entry.hostileName, "\(entry) is plain media but was refused: \(e.message)")
                #expect(e.code == .notMedia || e.code == .badInput, "\(entry): \(e.code)")
                #expect(e.message.contains(entry.name), "\(entry): the message names the file: \(e.message)")
                if let word = entry.refusalMentions {
                    #expect(e.message.contains(word), "\(entry): the message says what it is: \(e.message)")
                    #expect(e.cause is RefusedMedia, "\(entry)")
                }
            }
        }
    }

    @Test func anID3TagFollowedByAPlaylistIsRefusedAsAPlaylistBehindAnMP3Tag() async throws {
        let dir = try Fixtures.temporaryDirectory("hostile-id3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let entry = try #require(try await HostileMedia.make(in: dir).first { $0.name == "song.mp3" })
        let error = try #require(await refusal { _ = try await MediaProbe().probe(entry.path) })
        #expect(error.code == .notMedia)
        #expect(error.message.contains("HLS playlist") && error.message.contains("ID3"), "\(error.message)")
        // The same file as a song: refused before ffmpeg decodes it (ffmpeg on its own plays the segment it names).
        let asSong = try #require(await refusal { _ = try await FFmpegPCMSource().decode(path: entry.path, sampleRate: 22_050) })
        #expect(asSong.code == .notAudio)
        #expect(asSong.message.contains("song.mp3") && asSong.message.contains("playlist"), "\(asSong.message)")
        // What an unguarded probe makes of it: a playlist, which it then follows to the files it names.
        let unguarded = try await SubprocessRunner().run("ffprobe", ["-v", "error", "-show_entries", "format=format_name:stream=codec_name",
                                                                     "-of", "compact", entry.path], timeout: ProcessDeadline.quick)
        let seen = String(decoding: unguarded.stdout, as: UTF8.self)
        #expect(seen.contains("format_name=hls") && seen.contains("codec_name=mp3"), "the attack is real on this ffmpeg: \(seen)")
    }

    @Test func plainMediaOpensWithTheDemuxerItWasFoundToBe() async throws {
        let dir = try Fixtures.temporaryDirectory("plain-probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(String, [String], String)] = [
            ("a.mp3", ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libmp3lame"], "mp3"),
            ("a.m4a", ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"], "mov"),
            ("a.flac", ["-f", "lavfi", "-i", "sine=d=1"], "flac"),
            ("a.ogg", ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libvorbis"], "ogg"),
            ("v.webm", ["-f", "lavfi", "-i", "testsrc=s=64x48:d=1", "-c:v", "libvpx", "-b:v", "200k"], "matroska"),
            ("p.jpg", ["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1"], "jpeg_pipe"),
            ("p.gif", ["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1"], "gif"),
            // ffmpeg's own JPEGs are claimed by the image-sequence demuxer for the extension: read by content instead.
            ("photo.jpg", ["-f", "lavfi", "-i", "testsrc=s=640x360", "-frames:v", "1"], "jpeg_pipe"),
            ("photo.jpeg", ["-f", "lavfi", "-i", "testsrc=s=640x360", "-frames:v", "1"], "jpeg_pipe"),
            ("p.bmp", ["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1"], "bmp_pipe"),
            ("p.webp", ["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1"], "webp_pipe"),
        ]
        for (name, args, demuxer) in cases {
            let path = "\(dir)/\(name)"
            try await Fixtures.ffmpeg(args + [path])
            let info = try await MediaProbe().probe(path)
            #expect(info.input.demuxer == demuxer, "\(name): \(info.formatName)")
            #expect(info.input.arguments.suffix(6) == ["-f", demuxer, "-protocol_whitelist", "file", "-i", "file:" + path])
            // And ffmpeg opens it that way.
            try await SubprocessRunner().ffmpeg(info.input.arguments + ["-f", "null", "-"], failure: .processFailed, what: name)
        }
    }

    @Test func imageSequenceNamesAreRecognised() {
        for name in ["frame%03d.png", "x%d.jpg", "a%%b%2d.mp4"] { #expect(MediaProbe.isSequencePattern(name), "\(name)") }
        for name in ["100% love.mp3", "a%.png", "song.mp3", "%x.png", "50%"] { #expect(!MediaProbe.isSequencePattern(name), "\(name)") }
    }

    @Test func aChildSeesNoSecretFromTheParentEnvironment() async throws {
        let secret = "sk-hardening-\(UUID().uuidString)"
        // A name no other test reads, and ones that look like the real secrets.
        setenv("HOSTILE_MEDIA_TEST_SECRET_API_KEY", secret, 1)
        defer { unsetenv("HOSTILE_MEDIA_TEST_SECRET_API_KEY") }
        let out = try await SubprocessRunner().run("env", [], timeout: ProcessDeadline.quick)
        let env = String(decoding: out.stdout, as: UTF8.self)
        #expect(out.exitCode == 0)
        #expect(!env.contains(secret), "the child saw the parent's secret")
        #expect(!env.contains("HOSTILE_MEDIA_TEST_SECRET_API_KEY"))
        #expect(env.contains("PATH="), "a child still finds its tools")

        let parent = ["PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "TMPDIR": "/tmp", "REPLICATE_API_TOKEN": "r8_x",
                      "OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant", "S3_SECRET_ACCESS_KEY": "s3", "S3_ACCESS_KEY_ID": "AK",
                      "DATABASE_URL": "postgres://u:pw@db/x", "AWS_SECRET_ACCESS_KEY": "aws", "REELSMITH_CONFIG": "/etc/r.json"]
        #expect(SubprocessRunner.childEnvironment(from: parent) == ["PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "TMPDIR": "/tmp"])
        #expect(SubprocessRunner.childEnvironment(from: [:])["PATH"] != nil)
    }

    @Test func aChildPastItsDeadlineIsKilledWithATypedError() async throws {
        let dir = try Fixtures.temporaryDirectory("deadline")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A child that ignores SIGTERM: only the SIGKILL that follows ends it.
        let pidFile = "\(dir)/pid"
        let error = try #require(await refusal {
            _ = try await SubprocessRunner().run("sh", ["-c", "echo $$ > '\(pidFile)'; trap '' TERM; exec sleep 120"],
                                                 timeout: .milliseconds(300))
        })
        #expect(error.code == .processTimedOut)
        let stopped = try #require(error.cause as? ProcessTimedOut)
        #expect(stopped.tool == "sh")
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the child is gone (killed and reaped)")

        // Through runChecked the message says what took too long.
        let checked = try #require(await refusal {
            try await SubprocessRunner().runChecked("sleep", ["120"], failure: .processFailed, what: "waiting for nothing",
                                                    timeout: .milliseconds(200))
        })
        #expect(checked.code == .processTimedOut && checked.message.hasPrefix("waiting for nothing took longer than"))
    }

    @Test func aProbePastItsDeadlineRefusesTheFileByName() async throws {
        let dir = try Fixtures.temporaryDirectory("probe-stall")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("RIFF".utf8).write(to: URL(fileURLWithPath: "\(dir)/stall.wav"))
        let probe = MediaProbe(runner: StalledRunner(), timeout: .seconds(7))
        let error = try #require(await refusal { _ = try await probe.probe("\(dir)/stall.wav") })
        #expect(error.code == .notMedia && error.cause is ProcessTimedOut)
        #expect(error.message.contains("stall.wav") && error.message.contains("7 s"), "\(error.message)")
        let song = try #require(await refusal { _ = try await FFmpegPCMSource(runner: StalledRunner()).decode(path: "\(dir)/stall.wav", sampleRate: 22_050) })
        #expect(song.code == .notAudio && song.message.contains("stall.wav"), "\(song.message)")
    }

    @Test func ffmpegRunsStartWithTheRunnersPreamble() async throws {
        let runner = RecordingRunner()
        try await runner.ffmpeg(["-i", "x"], failure: .processFailed, what: "x")
        _ = try await runner.runFFmpeg(["-v", "info"])
        #expect(runner.calls.map(\.arguments) == [FFmpegPreamble.arguments + ["-i", "x"], FFmpegPreamble.arguments + ["-v", "info"]])
        #expect(runner.calls.allSatisfy { $0.tool == "ffmpeg" })
    }
}

/// Records what would run; every run succeeds with no output.
final class RecordingRunner: ProcessRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(tool: String, arguments: [String])] = []
    var calls: [(tool: String, arguments: [String])] { lock.withLock { recorded } }

    func run(_ tool: String, _ arguments: [String], stdoutLimit: Int, timeout: Duration,
             onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput {
        lock.withLock { recorded.append((tool, arguments)) }
        return ProcessOutput(exitCode: 0, stdout: Data(), stderrTail: "")
    }
}

/// A runner whose every child passes its deadline (as `SubprocessRunner` reports it).
struct StalledRunner: ProcessRunner {
    func run(_ tool: String, _ arguments: [String], stdoutLimit: Int, timeout: Duration,
             onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput {
        let stopped = ProcessTimedOut(tool: tool, timeout: timeout)
        throw ReelError(.processTimedOut, stopped.description, cause: stopped)
    }
}
