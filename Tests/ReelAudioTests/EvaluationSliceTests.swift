import Foundation
import Testing
import ReelCore
import ReelMedia
import ReelTestSupport
@testable import ReelAudio

/// F-measure as mir_eval computes it for beats: first 5 s not scored, each truth matched at most once within 70 ms.
func fMeasure(truth: [Double], estimate: [Double], window: Double = 0.07) -> Double {
    let t = truth.filter { $0 >= 5 }, e = estimate.filter { $0 >= 5 }.sorted()
    guard !t.isEmpty, !e.isEmpty else { return 0 }
    var used = Set<Int>(), hits = 0
    for b in t {
        if let j = e.indices.filter({ !used.contains($0) && abs(e[$0] - b) <= window }).min(by: { abs(e[$0] - b) < abs(e[$1] - b) }) {
            used.insert(j); hits += 1
        }
    }
    let p = Double(hits) / Double(e.count), r = Double(hits) / Double(t.count)
    return p + r > 0 ? 2 * p * r / (p + r) : 0
}

@Suite("Accuracy on a slice of the MIDI evaluation set")
struct EvaluationSliceTests {
    struct Truth: Decodable { var file: String; var category: String; var beats: [Double]; var downbeats: [Double]; var meter: String }

    /// Renders the quick slice (6 excerpts of 15 s: steady, swing, syncopation, a tempo change, 3/4, 6/8) with
    /// fluidsynth and scores the analyser. Thresholds sit safely below the measured means (beats 0.97,
    /// downbeats 0.97 at algorithm version 4), so a regression fails the build.
    @Test func beatAndDownbeatFMeasure() async throws {
        let dir = try Fixtures.temporaryDirectory("evalslice")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let maker = root.appendingPathComponent("benchmarks/beats/make_set.py").path
        let status = try await Blocking.run {
            try ChildProcess("/usr/bin/env", ["python3", maker, dir, "--quick"], captureOutput: false).waitUntilExit()
        }
        try #require(status == 0, "make_set.py failed: are fluidsynth and timgm6mb-soundfont installed? (`make test` installs them)")
        let truth = try JSONDecoder().decode([Truth].self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/truth.json")))
        #expect(truth.count >= 6)
        var beatScores: [Double] = [], downbeatScores: [Double] = []
        for item in truth {
            let analysis = try await AudioAnalyzer().analyze(path: "\(dir)/\(item.file)", source: FFmpegPCMSource())
            let f = fMeasure(truth: item.beats, estimate: analysis.beats)
            beatScores.append(f)
            downbeatScores.append(fMeasure(truth: item.downbeats, estimate: analysis.downbeats))
            #expect(f >= 0.5, "\(item.file): beat F \(f)")
        }
        let meanBeat = beatScores.reduce(0, +) / Double(beatScores.count)
        let meanDownbeat = downbeatScores.reduce(0, +) / Double(downbeatScores.count)
        #expect(meanBeat >= 0.85, "mean beat F \(meanBeat): \(beatScores)")
        #expect(meanDownbeat >= 0.75, "mean downbeat F \(meanDownbeat): \(downbeatScores)")
    }
}

@Suite("Analysis cache")
struct AnalysisCacheTests {
    @Test func secondAnalysisIsServedFromTheCacheByContent() async throws {
        let dir = try Fixtures.temporaryDirectory("cache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let song = try Fixtures.song(bpm: 110, duration: 8, in: dir)
        let cache = AnalysisCache(directory: "\(dir)/cache")
        let first = try await AudioAnalyzer().analyze(path: song.path, source: FFmpegPCMSource(), cache: cache)
        let sha = try #require(first.sha256)
        #expect(sha == (try ContentHash.sha256(fileAt: song.path)))
        #expect(cache.load(sha256: sha) == first.analysis)
        // The same bytes under another name hit the cache: a source that fails proves nothing is decoded.
        try FileManager.default.copyItem(atPath: song.path, toPath: "\(dir)/renamed.wav")
        let second = try await AudioAnalyzer().analyze(path: "\(dir)/renamed.wav", source: FailingPCMSource(), cache: cache)
        #expect(second.analysis == first.analysis)
        // A corrupt entry is a miss, not an error.
        let entry = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/cache").first!
        try "garbage".write(toFile: "\(dir)/cache/\(entry)", atomically: true, encoding: .utf8)
        #expect(cache.load(sha256: sha) == nil)
        let third = try await AudioAnalyzer().analyze(path: song.path, source: FFmpegPCMSource(), cache: cache)
        #expect(third.analysis == first.analysis)
        // Without a cache nothing is hashed or stored.
        #expect(try await AudioAnalyzer().analyze(path: song.path, source: FFmpegPCMSource(), cache: nil).sha256 == nil)
    }

    struct FailingPCMSource: PCMSource {
        func decode(path: String, sampleRate: Int) async throws -> PCMBuffer {
            throw ReelError(.internalError, "the cache should have answered; nothing may be decoded")
        }
    }
}
