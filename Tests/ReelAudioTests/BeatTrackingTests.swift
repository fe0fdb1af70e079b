import Foundation
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelAudio

/// Largest distance from each true beat (after the first `skip` seconds) to the nearest detected beat.
func worstError(truth: [Double], detected: [Double], skip: Double = 2) -> Double {
    truth.filter { $0 >= skip }.map { t in abs((BeatGrid.nearest(to: t, in: detected) ?? 1e9) - t) }.max() ?? 0
}

@Suite("Beat tracking on synthetic signals")
struct BeatTrackingTests {
    let analyzer = AudioAnalyzer()
    let sr = 22_050

    @Test(arguments: [60.0, 75, 90, 100, 120, 128, 140, 160, 174, 200])
    func clickTrackBeatsWithin30ms(bpm: Double) throws {
        let truth = Fixtures.beats(bpm: bpm, duration: 20, offset: 0.37)
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 20))
        let result = analyzer.analyze(pcm)
        #expect(result.steady)
        let tempo = try #require(result.tempo)
        #expect(abs(tempo - bpm) / bpm < 0.02, "tempo \(tempo) for \(bpm)")
        #expect(worstError(truth: truth, detected: result.beats) <= 0.030, "beats off at \(bpm) BPM")
        #expect(result.beats.count >= truth.filter { $0 >= 2 }.count)
    }

    @Test func downbeatsOfAccentedBars() {
        let truth = Fixtures.beats(bpm: 120, duration: 24, offset: 0.5)
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 24, beatsPerBar: 4))
        let result = analyzer.analyze(pcm)
        #expect(result.meter == .fourFour)
        let trueDownbeats = truth.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        #expect(worstError(truth: trueDownbeats, detected: result.downbeats) <= 0.03)
        #expect(result.downbeats.count <= trueDownbeats.count + 1)
    }

    @Test func threeFourPattern() {
        let truth = Fixtures.beats(bpm: 150, duration: 24, offset: 0.3)
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 24, beatsPerBar: 3))
        let result = analyzer.analyze(pcm)
        #expect(result.meter == .threeFour)
        let trueDownbeats = truth.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        #expect(worstError(truth: trueDownbeats, detected: result.downbeats) <= 0.03)
    }

    @Test func tempoRampIsFollowed() {
        // 100 → 130 BPM over 30 s: each beat period shrinks a little.
        var truth: [Double] = []
        var t = 0.4
        while t < 30 { truth.append(t); t += 60 / (100 + 30 * t / 30) }
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 30))
        let result = analyzer.analyze(pcm)
        #expect(result.steady)
        let hits = truth.filter { $0 > 2 }.filter { b in abs((BeatGrid.nearest(to: b, in: result.beats) ?? 99) - b) <= 0.07 }
        #expect(Double(hits.count) / Double(truth.filter { $0 > 2 }.count) > 0.8)
    }

    @Test func suddenTempoChangeIsFollowedAndReported() {
        // 100 BPM for 15 s, then 130 BPM.
        var truth = Fixtures.beats(bpm: 100, duration: 15, offset: 0.3)
        let switchAt = truth.last! + 60 / 100
        truth += stride(from: switchAt, to: 30 - 0.05, by: 60 / 130).map { $0 }
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 30)))
        #expect(result.steady)
        let scored = truth.filter { $0 > 2 }
        let hits = scored.filter { b in abs((BeatGrid.nearest(to: b, in: result.beats) ?? 99) - b) <= 0.07 }
        #expect(Double(hits.count) / Double(scored.count) > 0.9)
        let curve = result.tempoCurve.values
        #expect(curve.count == 15)
        #expect(abs(curve[2] - 100) < 4, "\(curve)")
        #expect(abs(curve[12] - 130) < 4, "\(curve)")
    }

    @Test func silenceGapsKeepTheGrid() {
        // Two bursts of clicks at 120 BPM with 4 s of silence between them.
        let truth = Fixtures.beats(bpm: 120, duration: 30, offset: 0.5).filter { $0 < 12 || $0 >= 16 }
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 30))
        let result = analyzer.analyze(pcm)
        #expect(result.steady)
        #expect(worstError(truth: truth.filter { $0 > 2 && $0 < 12 }, detected: result.beats) <= 0.03)
        #expect(worstError(truth: truth.filter { $0 > 17 }, detected: result.beats) <= 0.03)
    }

    @Test func pureToneHasNoSteadyBeat() {
        let samples = (0..<(sr * 10)).map { Float(0.5 * sin(2 * Double.pi * 440 * Double($0) / 22_050)) }
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: samples))
        #expect(!result.steady)
        #expect(result.beats.isEmpty && result.tempo == nil)
        #expect(!result.isSilent)
    }

    @Test func freeTimePlayingHasNoSteadyBeat() {
        // Plucked notes at random (exponentially distributed) gaps: onsets, but no pulse.
        var rng = SeededGenerator(seed: 11)
        var samples = [Float](repeating: 0, count: sr * 20)
        var t = 0.3
        while t < 19.5 {
            let f = [262.0, 294, 330, 392, 440, 523][Int.random(in: 0..<6, using: &rng)]
            let start = Int(t * Double(sr))
            for j in 0..<Int(0.3 * Double(sr)) where start + j < samples.count {
                let x = Double(j) / Double(sr)
                samples[start + j] += Float(0.4 * exp(-x / 0.12) * sin(2 * .pi * f * x))
            }
            t += 0.08 - 0.45 * log(Double.random(in: 0.001..<1, using: &rng))
        }
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: samples))
        #expect(!result.steady, "found \(result.tempo ?? 0) BPM in free time")
        #expect(!result.onsets.isEmpty)
    }

    @Test func whiteNoiseHasNoSteadyBeat() {
        var rng = SeededGenerator(seed: 5)
        let samples = (0..<(sr * 15)).map { _ in Float(Double.random(in: -0.5...0.5, using: &rng)) }
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: samples))
        #expect(!result.steady)
        #expect(result.beats.isEmpty)
    }

    @Test func silenceIsSilent() {
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: [Float](repeating: 0, count: sr * 5)))
        #expect(result.isSilent)
        #expect(!result.steady)
        let nearlySilent = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: [Float](repeating: 0.0005, count: sr * 5)))
        #expect(nearlySilent.isSilent)
    }

    @Test func veryShortInput() {
        let truth = Fixtures.beats(bpm: 120, duration: 3, offset: 0.25)
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 3)))
        #expect(result.duration == 3)
        #expect(result.energy.values.count == 30)
        // Too short to be sure of a pulse is fine; inventing one far from the clicks is not.
        for b in result.beats { #expect(truth.contains { abs($0 - b) < 0.05 }) }
    }

    @Test func longInputStaysAccurate() {
        let duration = 600.0
        let truth = Fixtures.beats(bpm: 123, duration: duration, offset: 0.3)
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: duration)))
        #expect(result.steady)
        #expect(worstError(truth: truth, detected: result.beats) <= 0.03)
        #expect(result.energy.values.count == 6000)
    }

    @Test func noisyClicksStillTrack() {
        let truth = Fixtures.beats(bpm: 110, duration: 20, offset: 0.4)
        let pcm = PCMBuffer(sampleRate: sr, samples: Fixtures.clickTrack(beatTimes: truth, duration: 20, noise: 0.08))
        let result = analyzer.analyze(pcm)
        #expect(result.steady)
        #expect(worstError(truth: truth, detected: result.beats) <= 0.03)
    }

    @Test func energyFollowsLoudness() {
        var samples = [Float](repeating: 0, count: sr * 10)
        for i in samples.indices {
            let amp: Float = i < sr * 5 ? 0.02 : 0.6
            samples[i] = amp * Float(sin(2 * Double.pi * 330 * Double(i) / 22_050))
        }
        let result = analyzer.analyze(PCMBuffer(sampleRate: sr, samples: samples))
        #expect(result.energy.mean(from: 0, to: 4.5) < 0.4)
        #expect(result.energy.mean(from: 5.5, to: 10) > 0.9)
        #expect(result.sections.count >= 1)
    }
}
