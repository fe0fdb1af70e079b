import Foundation
import ReelCore

/// Decodes audio to mono float PCM through ffmpeg, checking first that the file is audio at all.
public struct FFmpegPCMSource: PCMSource {
    /// The longest song Reelsmith analyses, in seconds (20 minutes).
    public static let maxDuration = 20.0 * 60
    /// The shortest, in seconds.
    public static let minDuration = 1.0

    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    public func decode(path: String, sampleRate: Int) async throws -> PCMBuffer {
        let name = (path as NSString).lastPathComponent
        let info: MediaInfo
        do {
            info = try await MediaProbe(runner: runner).probe(path)
        } catch let e as ReelError where e.code == .notMedia {
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it is not an audio file" +
                            (e.message.contains("is empty") ? " (it is empty)" : ""), cause: e)
        }
        guard info.audio != nil else {
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: it has no audio stream")
        }
        let declared = info.audio?.duration ?? info.duration
        if let declared, declared > Self.maxDuration {
            throw ReelError(.audioTooLong, String(format: "the audio file '%@' is %.1f minutes long; the limit is 20 minutes", name, declared / 60))
        }
        let collector = PCMCollector(reserve: Int((declared ?? 60) * Double(sampleRate)) + sampleRate,
                                     maxSamples: Int(Self.maxDuration * Double(sampleRate)) + sampleRate)
        let out = try await runner.run("ffmpeg", ["-nostdin", "-hide_banner", "-v", "error", "-i", path, "-map", "0:a:0", "-vn",
                                                  "-ac", "1", "-ar", String(sampleRate), "-f", "f32le", "-"],
                                       stdoutLimit: 0, onStdout: { try collector.append($0) })
        let samples = collector.take()
        let decoded = Double(samples.count) / Double(sampleRate)
        guard out.exitCode == 0 else {
            throw ReelError(.notAudio, "the audio file '\(name)' could not be decoded: \(Self.lastLine(out.stderrTail))")
        }
        guard decoded >= Self.minDuration else {
            throw ReelError(.audioTooShort, String(format: "the audio file '%@' holds only %.2f s of audio; at least 1 s is needed", name, decoded))
        }
        // A file cut short decodes to less than its header promises, usually with decoder complaints.
        if let declared, declared > 2, decoded < declared * 0.9 {
            throw ReelError(.notAudio, String(format: "the audio file '%@' is truncated: its header promises %.1f s but only %.1f s decode", name, declared, decoded))
        }
        return PCMBuffer(sampleRate: sampleRate, samples: samples)
    }

    static func lastLine(_ text: String) -> String {
        text.split(separator: "\n").last.map(String.init) ?? "ffmpeg failed"
    }
}

/// Accumulates little-endian float32 bytes from ffmpeg's pipe; chunks may split a sample.
final class PCMCollector: @unchecked Sendable {
    // Only touched from the one task that reads the child's standard output.
    private var samples: [Float] = []
    private var carry: [UInt8] = []
    private let maxSamples: Int

    init(reserve: Int, maxSamples: Int) {
        samples.reserveCapacity(min(reserve, maxSamples))
        self.maxSamples = maxSamples
    }

    func append(_ raw: UnsafeRawBufferPointer) throws {
        var bytes = raw[...]
        if !carry.isEmpty {
            let need = 4 - carry.count
            carry.append(contentsOf: bytes.prefix(need))
            bytes = bytes.dropFirst(need)
            if carry.count == 4 { samples.append(carry.withUnsafeBytes { $0.loadUnaligned(as: Float.self) }); carry = [] }
        }
        let whole = bytes.count / 4 * 4
        let body = UnsafeRawBufferPointer(rebasing: bytes.prefix(whole))
        let count = whole / 4
        samples.reserveCapacity(samples.count + count)
        for i in 0..<count { samples.append(body.loadUnaligned(fromByteOffset: i * 4, as: Float.self)) }
        carry.append(contentsOf: bytes.dropFirst(whole))
        guard samples.count <= maxSamples else {
            throw ReelError(.audioTooLong, "the audio is longer than 20 minutes")
        }
    }

    func take() -> [Float] { defer { samples = [] }; return samples }
}
