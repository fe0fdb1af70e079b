import ArgumentParser
import Foundation
import ReelAudio
import ReelCore
import ReelMedia
import ReelPipeline
import ReelProviders

/// The `reelsmith` command and its subcommands.
public struct Reelsmith: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "reelsmith",
        abstract: "Beat-synced music videos and ad creatives from a prompt, a song and your own media.",
        version: ReelVersion.current,
        subcommands: [Generate.self, PlanCommand.self, Beats.self, Models.self, Doctor.self, Serve.self, WorkerCommand.self, Users.self])
    public init() {}
}

/// Something a command prints on success with `--json`.
protocol JSONReporting { var json: Bool { get } }

struct Generate: ConfiguredCommand, JSONReporting {
    static let configuration = CommandConfiguration(abstract: "Make a finished video.")

    @OptionGroup var options: VideoOptions

    @ArgumentParser.Option(help: "The video file to write (default: out/<prompt>-<hex>.mp4).")
    var out: String?

    @ArgumentParser.Option(help: "Keep the scene clips in this folder (for inspection and benchmarks).")
    var workDir: String?

    var json: Bool { options.json }

    func run(config: Configuration) async throws {
        var request = try options.request(output: out ?? defaultOutputPath(prompt: options.prompt ?? "video"))
        request.workDirectory = workDir
        let progress = TerminalProgress()
        if !options.optionsIgnoredWithPlan.isEmpty {
            progress.report(.warning("the plan fixes these, so they are ignored: \(options.optionsIgnoredWithPlan.joined(separator: ", "))"))
        }
        let scratch = try WorkDirectory(keeping: nil)
        defer { scratch.removeIfTemporary() }
        let pipeline = try config.pipeline(options: options, progress: progress, scratch: scratch.root)
        let result: GenerateOutcome
        do {
            result = try await pipeline.generate(request)
        } catch let e as ReelError where !e.isUserInput && options.seed == nil && options.plan == nil && pipeline.usesModels {
            // Paid generations are cached under their seed: naming it is how a failed run is repeated without paying
            // again for what it finished.
            throw ReelError(e.code, e.message + " (seed \(request.seed): re-run with --seed \(request.seed) to reuse what was generated)", cause: e)
        }
        let m = result.manifest
        if json {
            try printJSON(GenerateReport(video: result.video, manifest: result.manifestPath, duration: m.video.duration,
                                         cost: m.cost.total, seed: m.seed, scenes: m.plan.scenes.count, warnings: m.warnings))
        } else {
            TerminalProgress.write(String(format: "reelsmith: %d scenes, %.2f s, cost $%.2f, manifest %@\n",
                                          m.plan.scenes.count, m.video.duration, m.cost.total, result.manifestPath))
            print(result.video)
        }
    }
}

struct GenerateReport: Encodable {
    var video: String, manifest: String, duration: Double, cost: Double, seed: UInt64, scenes: Int, warnings: [String]
}

struct PlanCommand: ConfiguredCommand, JSONReporting {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Print the plan of scenes without generating.")

    @OptionGroup var options: VideoOptions

    @Flag(help: "Price the plan before anything is spent.")
    var estimate = false

    @ArgumentParser.Option(help: "Accepted for symmetry with generate; plan writes no video.")
    var out: String?

    @ArgumentParser.Option(help: "Also draw the plan as a storyboard PNG: one frame per scene with its time, prompt, reason and transition.")
    var storyboard: String?

    var json: Bool { options.json }

    func run(config: Configuration) async throws {
        // The storyboard's path is checked before any planning, so a bad one costs nothing and leaves nothing.
        var board: OutputFile?
        if let storyboard {
            guard storyboard.lowercased().hasSuffix(".png") else {
                throw ReelError(.badInput, "the storyboard file must end in .png: '\(storyboard)'")
            }
            board = try OutputFile(path: storyboard)
        }
        defer { board?.discard() }
        var request = try options.request(output: "unused.mp4")
        request.composeMissingSong = false
        let scratch = try WorkDirectory(keeping: nil)
        defer { scratch.removeIfTemporary() }
        let pipeline = try config.pipeline(options: options, progress: TerminalProgress(quiet: true), scratch: scratch.root)
        let outcome = try await pipeline.plan(request)
        let plan = outcome.plan
        if let board {
            try Animatic.storyboard(for: plan).writePNG(to: board.temporaryPath)
            try board.commit()
            TerminalProgress.write("reelsmith: storyboard of \(plan.scenes.count) scenes written to \(board.path)\n")
        }
        let priced = estimate ? await pipeline.estimate(plan, songToCompose: request.audioPath == nil && request.plan == nil) : nil
        if json {
            // With --estimate the object is still a plan (generate --plan reads it) with an `estimate` key added.
            try printJSON(PlanWithEstimate(plan: plan, estimate: priced))
            return
        }
        print(String(format: "%d scenes, %.2f s, seed %llu%@", plan.scenes.count, plan.duration, plan.seed,
                     plan.tempo.map { String(format: ", %.1f BPM", $0) } ?? ""))
        for s in plan.scenes {
            let t = s.transition.map { $0.kind == .cut ? "cut" : String(format: "%@ %.2fs", $0.kind.rawValue, $0.duration) } ?? "end"
            print(String(format: "%3d  %7.3f–%7.3f  %-6@ %@  [%@; → %@]", s.index, s.start, s.end, s.role.rawValue, s.prompt, s.reason, t))
        }
        if let priced {
            if priced.calls.isEmpty {
                print(String(format: "estimated cost: $%.2f (every scene is made by an offline provider)", priced.total))
            } else {
                for c in priced.calls {
                    print(String(format: "  %@  %-14@ %@%@  $%.4f", c.scene.map { String(format: "scene %3d", $0) } ?? "whole    ",
                                 c.role, c.model, c.cached ? " (cached)" : "", c.cost))
                }
                print(String(format: "estimated cost: $%.4f (%d paid calls; planning already spent $%.4f)", priced.total,
                             priced.calls.filter { !$0.cached }.count, priced.planning))
            }
        }
    }

    struct PlanWithEstimate: Encodable {
        var plan: Plan
        var estimate: CostEstimate?
        enum Key: String, CodingKey { case estimate }
        func encode(to encoder: any Encoder) throws {
            try plan.encode(to: encoder)
            if let estimate {
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(estimate, forKey: .estimate)
            }
        }
    }
}

struct Beats: ConfiguredCommand, JSONReporting {
    static let configuration = CommandConfiguration(abstract: "Print the tempo and beat times of a song.")

    @Argument(help: "The audio file.") var file: String
    @Flag(help: "Print one JSON object on standard output.") var json = false
    @Flag(help: "Analyse afresh: neither read nor write the analysis cache.") var noCache = false

    func run(config: Configuration) async throws {
        try FileCheck.requireRegularFile(file, what: "audio file")
        let cache = config.analysisCache(disabled: noCache)
        let analysis = try await AudioAnalyzer().analyze(path: file, source: FFmpegPCMSource(), cache: cache).analysis
        let report = BeatsReport(analysis)
        if json { try printJSON(report); return }
        if let tempo = report.tempo {
            print(String(format: "tempo %.1f BPM, meter %@, %d beats, %d downbeats, %d sections", tempo,
                         analysis.meter?.description ?? "?", report.beats.count, report.downbeats.count, report.sections.count))
        } else {
            print(analysis.isSilent ? "no steady beat (the audio is silent)" : "no steady beat")
        }
        print(report.beats.map { String(format: "%.3f", $0) }.joined(separator: " "))
    }
}

/// `beats --json` (CONTRACTS.md): `tempo` and `meter` are null, not absent, without a steady beat.
struct BeatsReport: Encodable {
    var duration: Double, steady: Bool, tempo: Double?, beats: [Double], downbeats: [Double], meter: Meter?
    var sections: [Section], energy: EnergyCurve, onsets: [Double], tempoCurve: EnergyCurve

    init(_ a: AudioAnalysis) {
        let ms = { (x: Double) in (x * 1000).rounded() / 1000 }
        duration = ms(a.duration); steady = a.steady; tempo = a.tempo; beats = a.beats.map(ms); downbeats = a.downbeats.map(ms)
        meter = a.meter
        sections = a.sections.map { Section(start: ms($0.start), end: ms($0.end), label: $0.label) }
        energy = a.energy.downsampled(toAtMost: 1200); onsets = a.onsets.map(ms); tempoCurve = a.tempoCurve
    }

    enum CodingKeys: String, CodingKey { case duration, steady, tempo, tempoCurve, beats, downbeats, meter, sections, energy, onsets }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(duration, forKey: .duration); try c.encode(steady, forKey: .steady)
        if let tempo { try c.encode(tempo, forKey: .tempo) } else { try c.encodeNil(forKey: .tempo) }
        try c.encode(beats, forKey: .beats); try c.encode(downbeats, forKey: .downbeats)
        if let meter { try c.encode(meter, forKey: .meter) } else { try c.encodeNil(forKey: .meter) }
        try c.encode(sections, forKey: .sections); try c.encode(energy, forKey: .energy); try c.encode(onsets, forKey: .onsets)
        try c.encode(tempoCurve, forKey: .tempoCurve)
    }
}

/// Prints one JSON object on standard output.
func printJSON(_ value: some Encodable) throws {
    let data = try ReelJSON.encoder(pretty: false).encode(value)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
