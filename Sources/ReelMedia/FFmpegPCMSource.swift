import Foundation
import ReelCore
import Synchronization

/// Decodes audio to mono float PCM: PCM WAV files directly, everything else through one ffmpeg run.
/// Every failure is a `ReelError` naming the file: missing, empty, not audio, truncated, too short, too long.
public struct FFmpegPCMSource: PCMSource {
    /// The longest song Reelsmith analyses, in seconds (20 minutes).
    public static let maxDuration = 20.0 * 60
    /// The shortest, in seconds.
    public static let minDuration = 1.0

    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    /// PCM at `sampleRate`, or for a WAV file at its own rate divided by a whole number (44.1 kHz → 22.05 kHz,
    /// 48 kHz → 24 kHz): reading WAV directly skips ffmpeg's ~0.1 s start-up and its resampler.
    public func decode(path: String, sampleRate: Int) async throws -> PCMBuffer {
        let name = (path as NSString).lastPathComponent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw ReelError(.fileNotFound, "the audio file '\(path)' does not exist")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size > 0 else { throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it is empty") }
        if let wav = try WAVReader.read(path: path, name: name, targetRate: sampleRate, maxDuration: Self.maxDuration) {
            return try Self.checked(wav, name: name, declared: nil)
        }
        return try await decodeWithFFmpeg(path: path, name: name, sampleRate: sampleRate)
    }

    func decodeWithFFmpeg(path: String, name: String, sampleRate: Int) async throws -> PCMBuffer {
        // Probed first: only an allowed demuxer opens the file, and the same one decodes it.
        let info: MediaInfo
        do {
            info = try await MediaProbe(runner: runner).probe(path)
        } catch let e as ReelError where e.code == .notMedia {
            if let refused = e.cause as? RefusedMedia {
                throw ReelError(.notAudio, "the audio file '\(name)' is refused: it is \(refused.what), not a plain audio file", cause: refused)
            }
            if let stopped = e.cause as? ProcessTimedOut {
                throw ReelError(.notAudio, "the audio file '\(name)' could not be read within \(ProcessTimedOut.describe(stopped.timeout)); it is damaged or made to stall a reader", cause: stopped)
            }
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it is not an audio file", cause: e)
        }
        guard info.audio != nil else {
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it has no audio stream")
        }
        if let declared = info.duration, declared > Self.maxDuration {
            throw ReelError(.audioTooLong, String(format: "the audio file '%@' is %.1f minutes long; the limit is 20 minutes", name, declared / 60))
        }
        let collector = PCMCollector(reserve: sampleRate * 240, maxSamples: Int(Self.maxDuration * Double(sampleRate)) + sampleRate)
        // `-v info` (after the preamble's `-v error`, so it wins) for the header lines (Duration, streams); `-t` bounds
        // the work on a file that is too long.
        let out: ProcessOutput
        do {
            out = try await runner.runFFmpeg(["-nostats", "-v", "info"] + info.input.arguments + ["-map", "0:a:0", "-vn",
                                              "-t", String(Int(Self.maxDuration) + 2),
                                              "-ac", "1", "-ar", String(sampleRate), "-f", "f32le", "-"],
                                             stdoutLimit: 0, timeout: ProcessDeadline.forMedia(seconds: min(info.duration ?? Self.maxDuration, Self.maxDuration), perSecond: 0.5),
                                             onStdout: { try collector.append($0) })
        } catch let e as ReelError where e.code == .audioTooLong {
            throw ReelError(.audioTooLong, "the audio file '\(name)' is longer than 20 minutes, the limit")
        }
        let samples = collector.take()
        let log = out.stderrTail
        guard out.exitCode == 0 else {
            if log.contains("matches no streams") {
                throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it has no audio stream")
            }
            if log.contains("Invalid data found") || log.contains("could not find codec parameters") || log.contains("Invalid argument") {
                throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it is not an audio file")
            }
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: \(Self.lastLine(log))")
        }
        return try Self.checked(PCMBuffer(sampleRate: sampleRate, samples: samples), name: name, declared: Self.declaredDuration(in: log))
    }

    /// Length, truncation and size rules shared by both decoders.
    static func checked(_ pcm: PCMBuffer, name: String, declared: Double?) throws -> PCMBuffer {
        let decoded = pcm.duration
        if decoded > maxDuration || (declared ?? 0) > maxDuration {
            throw ReelError(.audioTooLong, String(format: "the audio file '%@' is %.1f minutes long; the limit is 20 minutes", name, max(decoded, declared ?? 0) / 60))
        }
        guard decoded >= minDuration else {
            throw ReelError(.audioTooShort, String(format: "the audio file '%@' holds only %.2f s of audio; at least 1 s is needed", name, decoded))
        }
        // A file cut short decodes to less than its header promises.
        if let declared, declared > 2, decoded < declared * 0.9 {
            throw ReelError(.notAudio, String(format: "the audio file '%@' is truncated: its header promises %.1f s but only %.1f s decode", name, declared, decoded))
        }
        return pcm
    }

    /// The `Duration: HH:MM:SS.ss` ffmpeg prints for its input, in seconds.
    static func declaredDuration(in log: String) -> Double? {
        guard let range = log.range(of: "Duration: ") else { return nil }
        let parts = log[range.upperBound...].prefix(11).split(separator: ":")
        guard parts.count == 3, let h = Double(parts[0]), let m = Double(parts[1]), let s = Double(parts[2]) else { return nil }
        return h * 3600 + m * 60 + s
    }

    static func lastLine(_ text: String) -> String {
        text.split(separator: "\n").last.map(String.init) ?? "ffmpeg failed"
    }
}

/// Reads PCM WAV (8/16/24/32-bit integer or 32-bit float, plain or extensible) straight into mono floats.
enum WAVReader {
    /// nil when the file is not a PCM WAV this reader handles (ffmpeg then decodes it).
    static func read(path: String, name: String, targetRate: Int, maxDuration: Double) throws -> PCMBuffer? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try handle.read(upToCount: 12), head.count == 12,
              head.prefix(4) == Data("RIFF".utf8), head.suffix(4) == Data("WAVE".utf8) else { return nil }
        var format: (tag: UInt16, channels: Int, rate: Int, bits: Int)?
        while let chunk = try handle.read(upToCount: 8), chunk.count == 8 {
            let id = String(decoding: chunk.prefix(4), as: UTF8.self)
            let size = Int(chunk.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian })
            if id == "fmt " {
                guard let body = try handle.read(upToCount: size), body.count >= 16 else { return nil }
                let u16 = { (o: Int) in body.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt16.self).littleEndian } }
                let u32 = { (o: Int) in body.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian } }
                var tag = u16(0)
                if tag == 0xFFFE, body.count >= 26 { tag = u16(24) }   // WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
                format = (tag, Int(u16(2)), Int(u32(4)), Int(u16(14)))
                if size % 2 == 1 { _ = try handle.read(upToCount: 1) }
            } else if id == "data" {
                guard let f = format, f.channels > 0, f.rate > 0,
                      (f.tag == 1 && [8, 16, 24, 32].contains(f.bits)) || (f.tag == 3 && f.bits == 32) else { return nil }
                let frameBytes = f.channels * f.bits / 8
                // A WAV written to a pipe has no size yet (0 or 0xFFFFFFFF); then the data runs to the end of the file.
                let dataStart = try handle.offset()
                let available = Int(try handle.seekToEnd() - dataStart)
                try handle.seek(toOffset: dataStart)
                let streamed = size == 0 || size == 0xFFFF_FFFF
                let dataSize = streamed ? available : min(size, available)
                let declaredFrames = (streamed ? available : size) / frameBytes
                if Double(declaredFrames) / Double(f.rate) > maxDuration {
                    throw ReelError(.audioTooLong, String(format: "the audio file '%@' is %.1f minutes long; the limit is 20 minutes", name, Double(declaredFrames) / Double(f.rate) / 60))
                }
                // Whole-number decimation by averaging (a box low-pass): onsets and beats live well below the
                // new Nyquist. Read in 1 MiB blocks so a long file is never held twice in memory.
                let factor = max(1, f.rate / targetRate)
                let stride = frameBytes * factor
                var out: [Float] = []
                out.reserveCapacity(dataSize / stride)   // what the file holds, not what a header claims
                let scale = 1 / Float(f.channels * factor)
                var remaining = dataSize - dataSize % stride
                while remaining > 0, let block = try handle.read(upToCount: min(remaining, (1 << 20) / stride * stride)), !block.isEmpty {
                    remaining -= block.count
                    block.withUnsafeBytes { raw in
                        for o in 0..<(raw.count / stride) {
                            var sum: Float = 0
                            for j in 0..<factor {
                                let base = o * stride + j * frameBytes
                                for c in 0..<f.channels { sum += sample(raw, base + c * f.bits / 8, bits: f.bits, float: f.tag == 3) }
                            }
                            out.append(sum * scale)
                        }
                    }
                }
                let frames = out.count * factor
                if !streamed, frames < declaredFrames * 9 / 10 && Double(declaredFrames) / Double(f.rate) > 2 {
                    throw ReelError(.notAudio, String(format: "the audio file '%@' is truncated: its header promises %.1f s but only %.1f s are there", name, Double(declaredFrames) / Double(f.rate), Double(frames) / Double(f.rate)))
                }
                return PCMBuffer(sampleRate: f.rate / factor, samples: out)
            } else {
                try handle.seek(toOffset: handle.offsetInFile + UInt64(size + size % 2))
            }
        }
        return nil
    }

    @inline(__always)
    static func sample(_ raw: UnsafeRawBufferPointer, _ offset: Int, bits: Int, float: Bool) -> Float {
        switch bits {
        case 8: return (Float(raw[offset]) - 128) / 128
        case 16: return Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self))) / 32768
        case 24:
            let v = Int32(raw[offset]) | Int32(raw[offset + 1]) << 8 | Int32(Int8(bitPattern: raw[offset + 2])) << 16
            return Float(v) / 8_388_608
        default:
            if float { return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            return Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))) / 2_147_483_648
        }
    }
}

/// Accumulates little-endian float32 bytes from ffmpeg's pipe; chunks may split a sample.
final class PCMCollector: Sendable {
    private struct State { var samples: [Float] = []; var carry: [UInt8] = [] }
    private let state = Mutex(State())
    private let maxSamples: Int

    init(reserve: Int, maxSamples: Int) {
        state.withLock { $0.samples.reserveCapacity(min(reserve, maxSamples)) }
        self.maxSamples = maxSamples
    }

    func append(_ raw: UnsafeRawBufferPointer) throws {
        try state.withLock { s in
            var bytes = raw[...]
            if !s.carry.isEmpty {
                let need = 4 - s.carry.count
                s.carry.append(contentsOf: bytes.prefix(need))
                bytes = bytes.dropFirst(need)
                if s.carry.count == 4 { s.samples.append(s.carry.withUnsafeBytes { $0.loadUnaligned(as: Float.self) }); s.carry = [] }
            }
            let whole = bytes.count / 4 * 4
            let body = UnsafeRawBufferPointer(rebasing: bytes.prefix(whole))
            for i in 0..<(whole / 4) { s.samples.append(body.loadUnaligned(fromByteOffset: i * 4, as: Float.self)) }
            s.carry.append(contentsOf: bytes.dropFirst(whole))
            guard s.samples.count <= maxSamples else {
                throw ReelError(.audioTooLong, "the audio is longer than 20 minutes")
            }
        }
    }

    func take() -> [Float] { state.withLock { s in defer { s.samples = [] }; return s.samples } }
}
