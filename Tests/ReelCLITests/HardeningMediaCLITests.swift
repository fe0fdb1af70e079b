import Foundation
import ReelCore
import ReelTestSupport
import Testing

/// Issue 14, item 3: the hostile-media corpus given to `generate --media DIR` and `--audio FILE` of the built binary.
/// Each is refused with exit 2 and one line that names the file, and nothing is written at the output path.
@Suite("hostile media on the command line (issue 14, item 3)", .serialized)
struct HardeningMediaCLITests {
    /// The lines of standard error that are not progress.
    static func errorLines(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { !$0.hasPrefix("reelsmith: analyze") && !$0.hasPrefix("reelsmith: plan") }
    }

    @Test func everyHostileFileIsRefusedAsMediaAndAsAudio() async throws {
        let dir = try Fixtures.temporaryDirectory("cli-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = try await HostileMedia.make(in: dir + "/corpus")
        for entry in corpus {
            let folder = (entry.path as NSString).deletingLastPathComponent
            let media = try await reelsmith(["generate", "city at night", "--media", folder, "--duration", "4", "--out", "out/v.mp4"], in: dir)
            #expect(media.exitCode == 2, "--media \(entry): exit \(media.exitCode) \(media.stderr)")
            let lines = Self.errorLines(media.stderr)
            #expect(lines.count == 1, "--media \(entry): \(media.stderr)")
            #expect(media.stderr.contains(entry.name), "--media \(entry): the line names the file: \(media.stderr)")
            if let word = entry.refusalMentions {
                #expect(media.stderr.contains(word), "--media \(entry): the line says what it is: \(media.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/out/v.mp4"), "--media \(entry)")

            // A WAV under another name is a good song: only the files that are not plain audio are refused as one.
            guard entry.plainKind != "audio" else { continue }
            let audio = try await reelsmith(["generate", "city at night", "--audio", entry.path, "--out", "out/v.mp4"], in: dir)
            #expect(audio.exitCode == 2, "--audio \(entry): exit \(audio.exitCode) \(audio.stderr)")
            #expect(Self.errorLines(audio.stderr).count == 1, "--audio \(entry): \(audio.stderr)")
            #expect(audio.stderr.contains(entry.name), "--audio \(entry): the line names the file: \(audio.stderr)")
            if let word = entry.refusalMentions {
                #expect(audio.stderr.contains(word), "--audio \(entry): the line says what it is: \(audio.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/out/v.mp4"), "--audio \(entry)")
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/out")) ?? []
        #expect(leftovers.isEmpty, "left \(leftovers)")
    }
}
