import ArgumentParser
import Foundation
import ReelCore
import ReelPipeline

extension AspectRatio: ExpressibleByArgument {}
extension Preset: ExpressibleByArgument {}
extension Category: ExpressibleByArgument {}
extension Mode: ExpressibleByArgument {}

/// The options `generate` and `plan` share (CONTRACTS.md, "Command line").
struct VideoOptions: ParsableArguments {
    @Argument(help: "What the video should show, e.g. \"neon city at night, rain, synthwave\".")
    var prompt: String?

    @ArgumentParser.Option(help: "A song to cut to (any format ffmpeg reads).")
    var audio: String?

    @ArgumentParser.Option(help: "A folder of your own images and clips to build scenes from.")
    var media: String?

    @ArgumentParser.Option(help: "Length in seconds (default: the song's length, capped at 180; 30 without a song).")
    var duration: Double?

    @ArgumentParser.Option(help: "Where in the song the video begins, in seconds.")
    var start: Double = 0

    @ArgumentParser.Option(help: "music-video or ad-creative (default: from the prompt).")
    var category: Category?

    @ArgumentParser.Option(help: "16:9, 9:16, 1:1 or 4:5 (default 16:9, or the plan's).")
    var aspect: AspectRatio?

    @ArgumentParser.Option(help: "Style words, e.g. \"synthwave\".")
    var style: String?

    @ArgumentParser.Option(help: "Mood words, e.g. \"dark, dreamy\".")
    var mood: String?

    @ArgumentParser.Option(help: "draft, preview or final (default draft, or the plan's).")
    var preset: Preset?

    @ArgumentParser.Option(help: "Seed: the same inputs and seed give the same plan and pictures (default: random, recorded in the manifest).")
    var seed: UInt64?

    @ArgumentParser.Option(help: "classic or agentic.")
    var mode: Mode = .classic

    @ArgumentParser.Option(help: "Generate from a plan printed by `reelsmith plan --json` (and edited).")
    var plan: String?

    @Flag(help: "Use only offline providers (the default while no provider is configured).")
    var offline = false

    @Flag(help: "Do not read or write the generation cache.")
    var noCache = false

    @ArgumentParser.Option(help: "Refuse paid calls past this many US dollars.")
    var budget: Double?

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    func validate() throws {
        if plan == nil && (prompt ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("a prompt is required (or --plan FILE)")
        }
        if let duration, !(duration > 0) || duration > 3600 { throw ValidationError("--duration must be between 0 and 3600 seconds") }
        if !(start >= 0) { throw ValidationError("--start must be zero or more seconds") }
        if let budget, !(budget >= 0) { throw ValidationError("--budget must be zero or more US dollars") }
        if mode == .agentic { throw ValidationError("--mode agentic is not available in this version yet; use --mode classic") }
    }

    /// The request these options describe.
    func request(output: String) throws -> GenerateRequest {
        var loadedPlan: Plan?
        if let plan {
            guard let data = FileManager.default.contents(atPath: plan) else {
                throw ReelError(.fileNotFound, "the plan file '\(plan)' does not exist or cannot be read")
            }
            do { loadedPlan = try ReelJSON.decoder().decode(Plan.self, from: data) } catch {
                throw ReelError(.badPlan, "the plan file '\(plan)' is not a Reelsmith plan: \(Self.describe(error))")
            }
        }
        if let audio { try FileCheck.requireRegularFile(audio, what: "audio file") }
        let overrides = PromptParser.Overrides(category: category, aspect: aspect ?? .landscape, preset: preset ?? .draft, mode: mode,
                                               style: style, mood: mood, duration: duration)
        var request = GenerateRequest(prompt: prompt ?? loadedPlan?.brief.prompt ?? "", overrides: overrides, audioPath: audio,
                                      mediaDirectory: media, start: loadedPlan?.songStart ?? start,
                                      seed: loadedPlan?.seed ?? seed ?? UInt64.random(in: 0...UInt64(Int64.max)),
                                      plan: loadedPlan, output: output)
        request.planPreset = preset
        request.planAspect = aspect
        return request
    }

    /// Options that a plan already fixes, named when they were given alongside `--plan` (they are ignored).
    var optionsIgnoredWithPlan: [String] {
        guard plan != nil else { return [] }
        var ignored: [String] = []
        if prompt != nil { ignored.append("the prompt") }
        if duration != nil { ignored.append("--duration") }
        if start != 0 { ignored.append("--start") }
        if seed != nil { ignored.append("--seed") }
        if style != nil { ignored.append("--style") }
        if mood != nil { ignored.append("--mood") }
        if media != nil { ignored.append("--media") }
        if category != nil { ignored.append("--category") }
        return ignored
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "bad value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        default:
            return "\(error)"
        }
    }
}

/// `out/<slug-of-prompt>-<8 hex>.mp4` (CONTRACTS.md).
func defaultOutputPath(prompt: String) -> String {
    var slug = ""
    for ch in prompt.lowercased() {
        if ch.isLetter || ch.isNumber, ch.isASCII { slug.append(ch) } else if !slug.hasSuffix("-") { slug.append("-") }
        if slug.count >= 40 { break }
    }
    slug = slug.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    return "out/\(slug.isEmpty ? "video" : slug)-\(String(repeating: "0", count: 8 - hex.count) + hex).mp4"
}
