import Foundation
import Testing
import ReelCore

/// Issue 14, item 6: what users are told of an error carries no server internals; item 4: lengths asked in words.
@Suite("user-facing messages")
struct UserFacingMessagesTests {
    let messages = UserFacingMessages(privateTexts: ["/srv/reelsmith/work", "reelsmith-private-bucket"])

    @Test func pathsURLsAndPrivateNamesAreCut() {
        let cleaned = messages.message("the audio file '/srv/reelsmith/work/job-1/input/song.mp3' does not exist; see https://10.0.0.7:9000/reelsmith-private-bucket/x")
        #expect(cleaned == "the audio file 'song.mp3' does not exist; see (a network address)")
        #expect(messages.message("bucket reelsmith-private-bucket refused") == "bucket … refused")
        // Not paths: ratios and "and/or".
        #expect(messages.message("aspect 16/9 and/or 4:5") == "aspect 16/9 and/or 4:5")
    }

    @Test func serverFaultsGetAPlainSentenceAndToolOutputStaysInTheLog() {
        let storage = messages.failure(ReelError(.storageFailed, "S3 said NoSuchBucket for reelsmith-private-bucket at https://s3.internal"))
        #expect(storage.code == "storage-failed")
        #expect(!storage.message.contains("bucket-") && !storage.message.contains("internal"))
        let ffmpeg = messages.failure(ReelError(.renderFailed, "rendering the video failed: /srv/reelsmith/work/job-1/out/v.mp4: Invalid argument"))
        #expect(ffmpeg.message == "rendering the video failed on the server")
        let other = messages.failure(CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "/srv/x/y"]))
        #expect(other.code == "internal" && !other.message.contains("/srv"))
        let user = messages.failure(ReelError(.notMedia, "the media folder '/srv/reelsmith/work/job-1/input/media' holds no images"))
        #expect(user == JobFailure(code: "not-media", message: "the media folder 'media' holds no images"))
    }

    @Test func lengthsAskedInWordsIncludeHours() {
        #expect(PromptParser.requestedDuration(in: "a 60 minutes video") == 3600)
        #expect(PromptParser.requestedDuration(in: "2 hours of ocean waves") == 7200)
        #expect(PromptParser.requestedDuration(in: "1 hour 30 minutes") == 5400)
        #expect(PromptParser.requestedDuration(in: "80s synthwave") == nil)
    }
}
