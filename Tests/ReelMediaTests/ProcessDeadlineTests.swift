import ReelMedia
import Testing

/// Issue 14, item 3: a child's deadline grows with the media, but not with what a crafted header claims.
@Suite("process deadlines")
struct ProcessDeadlineTests {
    @Test func aFileClaimingADayGetsNoMoreTimeThanTheLongestRealInput() {
        let day = 24.0 * 3600
        let longest = ProcessDeadline.longestMediaSeconds
        #expect(longest == FFmpegPCMSource.maxDuration)
        // The frame sampler's rate (10 s per media second): a day's claim used to give 10 days.
        #expect(ProcessDeadline.forMedia(seconds: day, perSecond: 10) == .seconds(60 + Int64(longest) * 10))
        #expect(ProcessDeadline.forMedia(seconds: .infinity, perSecond: 30) == .seconds(60))
        #expect(ProcessDeadline.forMedia(seconds: 10, perSecond: 30) == .seconds(360))
    }
}
