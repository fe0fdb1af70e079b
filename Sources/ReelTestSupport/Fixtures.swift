import Foundation
import ReelCore
import ReelMedia
import ReelProviders

/// Media made for tests, with ffmpeg or sample by sample, and folders that clean up after themselves.
public enum Fixtures {
    /// A fresh empty folder under the system's temporary folder.
    public static func temporaryDirectory(_ name: String = "test") throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes mono 16-bit PCM WAV.
    public static func writeWAV(_ samples: [Float], sampleRate: Int, to path: String) throws {
        var data = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8)); u32(UInt32(36 + samples.count * 2))
        data.append(contentsOf: Array("WAVEfmt ".utf8)); u32(16); u16(1); u16(1)
        u32(UInt32(sampleRate)); u32(UInt32(sampleRate * 2)); u16(2); u16(16)
        data.append(contentsOf: Array("data".utf8)); u32(UInt32(samples.count * 2))
        data.reserveCapacity(data.count + samples.count * 2)
        for s in samples { u16(UInt16(bitPattern: Int16(max(-1, min(1, s)) * 32767))) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// A click track: a short decaying tone burst on each beat (accented on the first of each bar).
    /// Returns the samples and the exact beat times.
    public static func clickTrack(beatTimes: [Double], duration: Double, sampleRate: Int = 22_050,
                                  beatsPerBar: Int = 4, noise: Float = 0) -> [Float] {
        var out = [Float](repeating: 0, count: Int(duration * Double(sampleRate)))
        var rng = SeededGenerator(seed: 99)
        if noise > 0 { for i in out.indices { out[i] = noise * Float(Double.random(in: -1...1, using: &rng)) } }
        let length = Int(0.03 * Double(sampleRate))
        for (i, t) in beatTimes.enumerated() {
            let start = Int((t * Double(sampleRate)).rounded())
            let accent = i % beatsPerBar == 0
            let freq = accent ? 1600.0 : 1000.0
            // A low thump under the accented click, as a kick drum would give.
            for j in 0..<length where start + j < out.count {
                let time = Double(j) / Double(sampleRate)
                let env = exp(-time / 0.006)
                var v = 0.8 * env * sin(2 * .pi * freq * time)
                if accent { v += 0.6 * exp(-time / 0.02) * sin(2 * .pi * 60 * time) }
                out[start + j] += Float(v)
            }
        }
        return out
    }

    /// Evenly spaced beats at `bpm`, starting at `offset`.
    public static func beats(bpm: Double, duration: Double, offset: Double = 0.5) -> [Double] {
        stride(from: offset, to: duration - 0.05, by: 60 / bpm).map { $0 }
    }

    /// Runs ffmpeg with the given arguments (after the runner's `FFmpegPreamble`) and throws if it fails.
    public static func ffmpeg(_ arguments: [String]) async throws {
        try await SubprocessRunner().ffmpeg(arguments, failure: .processFailed, what: "ffmpeg fixture")
    }

    /// A song made of a click track at `bpm` under a chord, written as WAV; returns its path and beat times.
    public static func song(bpm: Double, duration: Double, in dir: String, name: String = "song.wav") throws -> (path: String, beats: [Double]) {
        let beats = beats(bpm: bpm, duration: duration)
        var samples = clickTrack(beatTimes: beats, duration: duration)
        for i in samples.indices {
            let t = Double(i) / 22_050
            samples[i] += Float(0.08 * (sin(2 * .pi * 220 * t) + sin(2 * .pi * 277.2 * t) + sin(2 * .pi * 329.6 * t)))
        }
        let path = (dir as NSString).appendingPathComponent(name)
        try writeWAV(samples, sampleRate: 22_050, to: path)
        return (path, beats)
    }
}

/// A video provider for tests: each scene is one solid colour (from a fixed list), so cuts can be measured exactly.
public struct SolidColorClipProvider: ClipProvider {
    public static let colors: [RGB] = [RGB(230, 30, 30), RGB(30, 200, 40), RGB(40, 60, 230), RGB(240, 220, 30),
                                       RGB(220, 40, 220), RGB(30, 220, 220), RGB(250, 250, 250), RGB(20, 20, 20)]
    public init() {}

    public static func color(forScene index: Int) -> RGB { colors[index % colors.count] }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        let c = Self.color(forScene: request.scene.index)
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=\(c.hex.replacingOccurrences(of: "#", with: "0x")):s=\(request.size):r=30",
                                   "-frames:v", String(request.frames), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
                                   "-pix_fmt", "yuv420p", request.output])
        return ClipResult(path: request.output)
    }
}

/// A provider that fails the test loudly if the code under test calls it.
public struct UnexpectedClipProvider: ClipProvider {
    public init() {}
    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        throw ReelError(.internalError, "UnexpectedClipProvider was asked for scene \(request.scene.index): the test did not expect any generation")
    }
}

/// Collects progress events for assertions.
public final class RecordingProgress: ProgressSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [ProgressEvent] = []
    public init() {}
    public func report(_ event: ProgressEvent) { lock.lock(); stored.append(event); lock.unlock() }
    public var events: [ProgressEvent] { lock.lock(); defer { lock.unlock() }; return stored }
}
