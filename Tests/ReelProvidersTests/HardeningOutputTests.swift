import Foundation
import ReelCore
import ReelMedia
@testable import ReelProviders
import ReelTestSupport
import Testing

/// Issue 14, item 3: the hostile-media corpus served by a loopback Replicate as a prediction's output. Each is refused
/// (the prediction succeeded and was billed, so it is `outputLost` and metered as lost), nothing is kept, nothing crashes.
@Suite("hostile provider outputs (issue 14, item 3)")
struct HardeningOutputTests {
    @Test func everyHostileOutputIsRefusedAndNothingIsKept() async throws {
        let dir = try Fixtures.temporaryDirectory("hostile-output")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = try await HostileMedia.make(in: dir + "/corpus")
        let s = try await ReplicateClientTests.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        for entry in corpus {
            await s.fake.inject(.serveFile(path: entry.path, contentType: entry.contentType), on: .download)
            // A video is expected: even the plain WAVs and the PNG are the wrong kind.
            let error = await expectReelError(.outputLost) {
                _ = try await ReplicateClientTests.client(s.fake).run(ReplicateClientTests.videoCall(s.folder), observer: RecordingObserver())
            }
            // (A pattern-like name is harmless here: the output is saved under a name of Reelsmith's.)
            if let word = entry.refusalMentions, !entry.hostileName, let error {
                #expect(error.message.contains(word), "\(entry): \(error.message)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: s.folder).isEmpty, "\(entry): nothing kept")
        }
        await s.fake.shutdown()
    }

    /// An ffprobe left to guess reads this file as the local video its playlist names, so it used to pass as a video.
    @Test func aPlaylistBehindAnID3TagIsMeteredAsLostAndTheRetryIsUsed() async throws {
        let dir = try Fixtures.temporaryDirectory("hostile-output-runner")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let entry = try #require(try await HostileMedia.make(in: dir + "/corpus").first { $0.name == "clip.mp4" })
        let fake = try await FakeReplicate.start(token: ModelRunnerTests.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.05)
        await fake.inject(.serveFile(path: entry.path, contentType: "video/mp4"), on: .download)
        let (runner, meter) = ModelRunnerTests().runner(fake, chain: RegistryLoader.shipped.chain(for: .videoDraft), dir: dir)
        let keyframe = dir + "/key.png"
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=64x36", "-frames:v", "1", keyframe])
        let out = try await runner.run(ModelRequest(role: .videoDraft, scene: 0, prompt: "rain", firstFrame: keyframe,
                                                    duration: 3, aspect: .landscape, preset: .draft, seed: 1))
        let ledger = await meter.ledger
        #expect(ledger.entries.map(\.status) == ["lost", "succeeded"], "the refused output was paid for and is metered")
        let bill = await fake.bill
        #expect(abs(ledger.total - bill) < 1e-9)
        let info = try await MediaProbe().probe(try #require(out.files.first))
        #expect(info.video != nil && info.input.demuxer == "mov")
        await fake.shutdown()
    }
}
