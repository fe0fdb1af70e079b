import CFFTW
import Foundation
import ReelCore

/// A short-time Fourier transform of PCM reduced to mel bands, frame by frame. FFTW does the FFT
/// (a library made for it, rather than a hand-written radix-2).
struct MelSpectrogram {
    let sampleRate: Int
    let fftSize: Int
    let hop: Int
    let bandCount: Int
    /// `frames × bandCount`, row-major, log-compressed magnitudes.
    var bands: [Float]
    /// `frames × 12`, row-major: magnitude per pitch class (55 Hz to 2 kHz), for harmonic change.
    var chroma: [Float]
    var frameCount: Int

    /// Centre frequency of each band, in Hz.
    var bandCentres: [Double]

    /// Seconds per frame.
    var frameDuration: Double { Double(hop) / Double(sampleRate) }

    /// FFTW's planner is not thread-safe; executing a plan is.
    private static let planLock = NSLock()

    init(pcm: PCMBuffer, fftSize: Int = 1024, hop: Int = 256, bandCount: Int = 64,
         minHz: Double = 30, maxHz: Double = 10_000) {
        self.sampleRate = pcm.sampleRate
        self.fftSize = fftSize
        self.hop = hop
        self.bandCount = bandCount
        let n = pcm.samples.count
        // Frames are centred on k·hop, as librosa's are, so frame k describes time k·hop/sr.
        let frames = n / hop + 1
        self.frameCount = frames
        let filters = MelFilterBank(bands: bandCount, fftSize: fftSize, sampleRate: Double(sampleRate),
                                    minHz: minHz, maxHz: min(maxHz, Double(sampleRate) / 2))
        let window = (0..<fftSize).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(fftSize))) }
        self.bandCentres = filters.filters.map(\.centreHz)
        var out = [Float](repeating: 0, count: frames * bandCount)
        var chromaOut = [Float](repeating: 0, count: frames * 12)
        let binHz = Double(sampleRate) / Double(fftSize)
        let pitchClass: [Int] = (0...(fftSize / 2)).map { k in
            let hz = Double(k) * binHz
            guard hz >= 55, hz <= 2000 else { return -1 }
            let midi = Int((12 * log2(hz / 440) + 69).rounded())
            return ((midi % 12) + 12) % 12
        }

        let input = fftwf_alloc_real(fftSize)!
        let spectrum = fftwf_alloc_complex(fftSize / 2 + 1)!
        defer { fftwf_free(input); fftwf_free(spectrum) }
        Self.planLock.lock()
        let plan = fftwf_plan_dft_r2c_1d(Int32(fftSize), input, spectrum, UInt32(FFTW_ESTIMATE))
        Self.planLock.unlock()
        defer { Self.planLock.lock(); fftwf_destroy_plan(plan); Self.planLock.unlock() }

        var magnitude = [Float](repeating: 0, count: fftSize / 2 + 1)
        pcm.samples.withUnsafeBufferPointer { samples in
            for f in 0..<frames {
                let start = f * hop - fftSize / 2
                for i in 0..<fftSize {
                    let j = start + i
                    input[i] = (j >= 0 && j < n) ? samples[j] * window[i] : 0
                }
                fftwf_execute(plan)
                for k in 0...(fftSize / 2) {
                    let re = spectrum[k].0, im = spectrum[k].1
                    magnitude[k] = (re * re + im * im).squareRoot()
                }
                for k in 0...(fftSize / 2) where pitchClass[k] >= 0 { chromaOut[f * 12 + pitchClass[k]] += magnitude[k] }
                let row = f * bandCount
                for b in 0..<bandCount {
                    var sum: Float = 0
                    let filter = filters.filters[b]
                    for (offset, w) in filter.weights.enumerated() { sum += magnitude[filter.start + offset] * w }
                    // log(1 + γ·x): compresses the dynamic range like a dB scale but stays finite at zero.
                    out[row + b] = log1p(100 * sum)
                }
            }
        }
        self.bands = out
        self.chroma = chromaOut
    }

    /// Centre frequency (Hz) of each band.
    static func melToHz(_ m: Double) -> Double { 700 * (pow(10, m / 2595) - 1) }
    static func hzToMel(_ hz: Double) -> Double { 2595 * log10(1 + hz / 700) }
}

/// Triangular mel filters over FFT bins, stored sparsely.
struct MelFilterBank {
    struct Filter { var start: Int; var weights: [Float]; var centreHz: Double }
    var filters: [Filter]

    init(bands: Int, fftSize: Int, sampleRate: Double, minHz: Double, maxHz: Double) {
        let lo = MelSpectrogram.hzToMel(minHz), hi = MelSpectrogram.hzToMel(maxHz)
        let edges = (0...(bands + 1)).map { MelSpectrogram.melToHz(lo + (hi - lo) * Double($0) / Double(bands + 1)) }
        let binHz = sampleRate / Double(fftSize)
        filters = (0..<bands).map { b in
            let l = edges[b], c = edges[b + 1], r = edges[b + 2]
            let first = max(0, Int((l / binHz).rounded(.down))), last = min(fftSize / 2, Int((r / binHz).rounded(.up)))
            var weights: [Float] = []
            for k in first...max(first, last) {
                let f = Double(k) * binHz
                let w = f <= c ? (f - l) / max(c - l, 1e-9) : (r - f) / max(r - c, 1e-9)
                weights.append(Float(max(0, w)))
            }
            // Bands narrower than a bin still get the nearest bin, so low bands are never empty.
            if weights.allSatisfy({ $0 == 0 }) { weights = [1]; return Filter(start: min(fftSize / 2, Int((c / binHz).rounded())), weights: weights, centreHz: c) }
            return Filter(start: first, weights: weights, centreHz: c)
        }
    }
}
