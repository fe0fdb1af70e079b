import Foundation
import ReelCore
import ReelMedia
import ReelProviders
import ReelTestSupport
import Testing

/// Issue 14, item 3, for `--media DIR`: a file made to make ffmpeg open other files stops the scan with its name; a
/// stray file of a format Reelsmith does not take (notes, a TGA) is skipped as before.
@Suite("media folder scan (issue 14, item 3)")
struct MediaLibraryHardeningTests {
    @Test func strayFilesAreSkippedAndHostileOnesStopTheScan() async throws {
        let dir = try Fixtures.temporaryDirectory("media-scan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=640x360", "-frames:v", "1", "\(dir)/photo.jpg"])
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1", "\(dir)/old.tga"])
        try Data("shot list\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/notes.txt"))
        let scan = try await MediaLibrary().scan(dir)
        #expect(scan.items.map { ($0.path as NSString).lastPathComponent } == ["photo.jpg"])
        #expect(scan.skipped.count == 2 && scan.skipped.contains { $0.hasPrefix("old.tga: ") } && scan.skipped.contains { $0.hasPrefix("notes.txt: ") },
                "\(scan.skipped)")

        let corpus = try await HostileMedia.make(in: dir + "/corpus")
        let playlist = try #require(corpus.first { $0.name == "clip.mp4" })
        try FileManager.default.copyItem(atPath: playlist.path, toPath: "\(dir)/clip.mp4")
        do {
            _ = try await MediaLibrary().scan(dir)
            Issue.record("a playlist behind an ID3 tag was taken as a clip")
        } catch let error as ReelError {
            #expect(error.code == .notMedia && error.message.contains("clip.mp4") && error.message.contains("playlist"), "\(error.message)")
        }
    }
}
