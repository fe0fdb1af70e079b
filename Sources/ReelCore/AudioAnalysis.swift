/// Mono PCM samples at a known rate: what the analysis works on.
public struct PCMBuffer: Sendable {
    public var sampleRate: Int
    public var samples: [Float]
    public init(sampleRate: Int, samples: [Float]) { self.sampleRate = sampleRate; self.samples = samples }
    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

/// Musical meter: beats per bar and the note value of one beat.
public struct Meter: Codable, Sendable, Hashable, CustomStringConvertible {
    public var beatsPerBar: Int
    public var beatUnit: Int
    public init(beatsPerBar: Int, beatUnit: Int) { self.beatsPerBar = beatsPerBar; self.beatUnit = beatUnit }
    public var description: String { "\(beatsPerBar)/\(beatUnit)" }
    public static let fourFour = Meter(beatsPerBar: 4, beatUnit: 4)
    public static let threeFour = Meter(beatsPerBar: 3, beatUnit: 4)
    public static let sixEight = Meter(beatsPerBar: 6, beatUnit: 8)

    /// Compound meters (6/8, 9/8, 12/8) are felt in dotted quarters: three eighths to a beat.
    public var isCompound: Bool { beatUnit == 8 && beatsPerBar % 3 == 0 }

    /// Beats (as `beats` lists them) in one bar: 2 in 6/8, where the beat is the dotted quarter.
    public var countedBeatsPerBar: Int { isCompound ? beatsPerBar / 3 : beatsPerBar }
}

/// A stretch of the song with a label; equal labels mean similar material.
public struct Section: Codable, Sendable, Hashable {
    public var start: Double
    public var end: Double
    public var label: String
    public init(start: Double, end: Double, label: String) { self.start = start; self.end = end; self.label = label }
}

/// An evenly sampled curve from 0 to 1.
public struct EnergyCurve: Codable, Sendable, Hashable {
    /// Seconds between values.
    public var hop: Double
    public var values: [Double]
    public init(hop: Double, values: [Double]) { self.hop = hop; self.values = values }

    /// Mean value over [start, end), or 0 outside the curve.
    public func mean(from start: Double, to end: Double) -> Double {
        guard !values.isEmpty, hop > 0 else { return 0 }
        let a = max(0, min(values.count - 1, Int(start / hop)))
        let b = max(a + 1, min(values.count, Int((end / hop).rounded(.up))))
        return values[a..<b].reduce(0, +) / Double(b - a)
    }

    /// The value at each of `frames` video frames from `startFrame` on, for a video whose first frame is `songStart`
    /// seconds into the song; the curve's ends hold beyond it.
    public func perFrame(songStart: Double, startFrame: Int, frames: Int) -> [Double] {
        guard !values.isEmpty, hop > 0 else { return [] }
        return (0..<max(0, frames)).map { f in
            let t = songStart + Double(startFrame + f) / Double(FrameClock.fps)
            return values[max(0, min(values.count - 1, Int(t / hop)))]
        }
    }

    /// The same curve with at most `maxCount` values, each the mean of the values it replaces.
    public func downsampled(toAtMost maxCount: Int) -> EnergyCurve {
        guard values.count > maxCount, maxCount > 0 else { return self }
        let factor = Int((Double(values.count) / Double(maxCount)).rounded(.up))
        var out: [Double] = []
        out.reserveCapacity(values.count / factor + 1)
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(values.count, i + factor)]
            out.append(chunk.reduce(0, +) / Double(chunk.count))
            i += factor
        }
        return EnergyCurve(hop: hop * Double(factor), values: out)
    }
}

/// What the music analysis found: the grid the plan cuts on (CONTRACTS.md, "beats --json").
public struct AudioAnalysis: Codable, Sendable, Hashable {
    public var duration: Double
    /// False for music with no steady pulse, speech and silence: `beats` is then empty and `tempo` nil.
    public var steady: Bool
    public var tempo: Double?
    public var beats: [Double]
    public var downbeats: [Double]
    public var meter: Meter?
    public var sections: [Section]
    public var energy: EnergyCurve
    /// Note and drum onsets, in seconds.
    public var onsets: [Double]
    /// Local tempo in BPM every few seconds (follows drifts and sudden changes); empty without a steady beat.
    public var tempoCurve: EnergyCurve
    /// Loudest sample, in dBFS.
    public var peakDBFS: Double

    public init(duration: Double, steady: Bool, tempo: Double?, beats: [Double], downbeats: [Double], meter: Meter?,
                sections: [Section], energy: EnergyCurve, onsets: [Double], peakDBFS: Double,
                tempoCurve: EnergyCurve = EnergyCurve(hop: 2, values: [])) {
        self.duration = duration; self.steady = steady; self.tempo = tempo; self.beats = beats
        self.downbeats = downbeats; self.meter = meter; self.sections = sections; self.energy = energy
        self.onsets = onsets; self.peakDBFS = peakDBFS; self.tempoCurve = tempoCurve
    }

    /// Local tempo from beat spacing: every `hop` seconds, 60 / the median gap between beats within 4 s.
    public static func tempoCurve(beats: [Double], duration: Double, hop: Double = 2) -> EnergyCurve {
        guard beats.count >= 3 else { return EnergyCurve(hop: hop, values: []) }
        let gaps = zip(beats.dropFirst(), beats).map { (time: ($0 + $1) / 2, gap: $0 - $1) }
        var values: [Double] = []
        var t = hop / 2
        while t < duration {
            var near = gaps.filter { abs($0.time - t) <= 4 }.map(\.gap)
            if near.isEmpty, let closest = gaps.min(by: { abs($0.time - t) < abs($1.time - t) }) { near = [closest.gap] }
            near.sort()
            values.append((60 / near[near.count / 2] * 10).rounded() / 10)
            t += hop
        }
        return EnergyCurve(hop: hop, values: values)
    }

    /// Silence is nothing above -60 dBFS (CONTRACTS.md).
    public var isSilent: Bool { peakDBFS <= -60 }
}
