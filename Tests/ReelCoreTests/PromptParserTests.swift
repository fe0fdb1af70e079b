import Testing
@testable import ReelCore

@Suite("Prompt parsing")
struct PromptParserTests {
    let parser = PromptParser()

    @Test func subjectsStyleMoodAndPalette() throws {
        let brief = try parser.parse("neon city at night, rain, synthwave, dark")
        #expect(brief.subjects == ["neon city at night", "rain"])
        #expect(brief.style.contains("synthwave"))
        #expect(brief.style.contains("neon"))
        #expect(brief.mood == ["dark"])
        #expect(brief.palette.name == "neon")
        #expect(brief.category == .musicVideo)
    }

    @Test func durationFromPrompt() throws {
        #expect(try parser.parse("cyberpunk music video, neon rain, 30 seconds").duration == 30)
        #expect(try parser.parse("a 2 minute ocean journey").duration == 120)
        #expect(try parser.parse("sunset drive, 45s").duration == 45)
        #expect(try parser.parse("sunset drive").duration == nil)
        #expect(try parser.parse("1 minute 30 seconds of ocean").duration == 90)
        #expect(try parser.parse("a 30s teaser").duration == 30)
        // Decades are styles, not lengths.
        #expect(try parser.parse("80s synthwave drive at night").duration == nil)
        #expect(try parser.parse("a 1970s disco party").duration == nil)
        #expect(throws: ReelError.self) { try parser.parse("ocean, 20000 seconds") }
        #expect(throws: ReelError.self) { try parser.parse("ocean, 99999999999999999999 seconds") }
        // The option wins over the prompt.
        #expect(try parser.parse("sunset, 30 seconds", overrides: .init(duration: 12)).duration == 12)
    }

    @Test func pacingWords() throws {
        #expect(try parser.parse("punchy fast cuts of a skate park").pacing == .fast)
        #expect(try parser.parse("slow dreamy clouds").pacing == .slow)
        #expect(try parser.parse("a lighthouse by the sea").pacing == .moderate)
        let fast = try parser.parse("energetic fast cuts, city")
        let slow = try parser.parse("calm slow ocean")
        #expect(fast.energy > slow.energy)
    }

    @Test func categoryFromPromptOrOption() throws {
        #expect(try parser.parse("ad for a new running shoe").category == .adCreative)
        #expect(try parser.parse("cyberpunk music video").category == .musicVideo)
        #expect(try parser.parse("forest", overrides: .init(category: .adCreative)).category == .adCreative)
    }

    @Test func categoryAndDurationWordsAreNotSubjects() throws {
        let brief = try parser.parse("cyberpunk music video, neon rain, 30 seconds")
        #expect(brief.subjects == ["neon rain"])
    }

    @Test func optionsAddStyleAndMood() throws {
        let brief = try parser.parse("mountains", overrides: .init(style: "watercolor", mood: "calm, hopeful"))
        #expect(brief.style == ["watercolor"])
        #expect(brief.mood == ["calm", "hopeful"])
    }

    @Test func emptyPromptIsAnError() {
        #expect(throws: ReelError.self) { try parser.parse("   ") }
        #expect(throws: ReelError.self) { try parser.parse(String(repeating: "a", count: 3000)) }
    }
}
