import Foundation
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelMedia

@Suite("Streaming into a child's standard input")
struct StandardInputRunnerTests {
    /// `count` raw 16×16 BGRA frames, each a different grey.
    static func frames(_ count: Int) -> [[UInt8]] {
        (0..<count).map { i in [UInt8](repeating: UInt8(truncatingIfNeeded: i * 8), count: 16 * 16 * 4) }
    }

    static let rawInput = ["-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgra", "-s", "16x16",
                           "-r", "30", "-i", "-"]

    @Test func framesWrittenToStandardInputBecomeAVideo() async throws {
        let dir = try Fixtures.temporaryDirectory("stdin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await SubprocessRunner().runChecked("ffmpeg", Self.rawInput + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "\(dir)/v.mp4"],
                                                           failure: .processFailed, what: "encoding") { input in
            for frame in Self.frames(12) { try await input.write(frame) }
        }
        #expect(out.exitCode == 0)
        let decoded = try await FrameSampler().frames(of: "\(dir)/v.mp4", width: 16, height: 16)
        #expect(decoded.count == 12)
        #expect(decoded[11].meanColor.r > decoded[1].meanColor.r + 40, "the frames arrive in order")
    }

    @Test func aChildThatGivesUpIsAnErrorWithItsMessageNotACrash() async throws {
        // ffmpeg cannot open its output, exits at once, and the writer keeps writing into a closed pipe.
        do {
            _ = try await SubprocessRunner().runChecked("ffmpeg", Self.rawInput + ["/nonexistent-folder/v.mp4"],
                                                        failure: .processFailed, what: "encoding") { input in
                for frame in Self.frames(400) { try await input.write(frame) }
            }
            Issue.record("the failed child must be reported")
        } catch let error as ReelError {
            #expect(error.code == .processFailed)
            #expect(error.message.hasPrefix("encoding failed: "), "\(error.message)")
            #expect(error.message.contains("nonexistent-folder") || error.message.lowercased().contains("no such file"), "\(error.message)")
        }
    }

    @Test func aFeedingErrorOfTheCallerIsRethrown() async throws {
        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            _ = try await SubprocessRunner().run("ffmpeg", Self.rawInput + ["-f", "null", "-"], timeout: .seconds(60)) { input in
                try await input.write(Self.frames(1)[0])
                throw Stop()
            }
        }
    }

    @Test func aFeedThatOutlivesItsDeadlineStopsTheChild() async throws {
        // ffmpeg waits for frames that never come; the deadline, not the caller, ends it.
        do {
            _ = try await SubprocessRunner().runChecked("ffmpeg", Self.rawInput + ["-f", "null", "-"], failure: .processFailed,
                                                        what: "encoding", timeout: .milliseconds(800)) { input in
                try await input.write(Self.frames(1)[0])
                try await Task.sleep(for: .seconds(120))
            }
            Issue.record("the deadline must stop the child")
        } catch let error as ReelError {
            #expect(error.code == .processTimedOut, "\(error.message)")
            #expect(error.message.hasPrefix("encoding took longer than"), "\(error.message)")
        }
    }

    @Test func aStreamedChildGetsTheMinimalEnvironment() async throws {
        setenv("STREAM_TEST_SECRET_API_KEY", "sk-must-not-leak", 1)
        defer { unsetenv("STREAM_TEST_SECRET_API_KEY") }
        let dir = try Fixtures.temporaryDirectory("stdin-env")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await SubprocessRunner().runChecked("sh", ["-c", "cat >/dev/null; env > \(dir)/env.txt"], failure: .processFailed,
                                                    what: "env", timeout: .seconds(60)) { input in
            try await input.write([1, 2, 3])
        }
        let env = try String(contentsOfFile: "\(dir)/env.txt", encoding: .utf8)
        #expect(env.contains("PATH="))
        #expect(!env.contains("sk-must-not-leak"))
    }
}
