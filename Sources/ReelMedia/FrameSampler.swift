import Foundation
import ReelCore

/// Decodes a video into tiny RGB frames: enough to tell scenes apart, measure cuts and compare pictures.
public struct FrameSampler: Sendable {
    /// One decoded frame, `width × height` RGB triples.
    public struct Frame: Sendable, Hashable {
        public var pixels: [UInt8]

        /// Mean colour over the frame, each channel 0...255.
        public var meanColor: (r: Double, g: Double, b: Double) {
            var r = 0.0, g = 0.0, b = 0.0
            let n = Double(pixels.count / 3)
            for i in stride(from: 0, to: pixels.count, by: 3) {
                r += Double(pixels[i]); g += Double(pixels[i + 1]); b += Double(pixels[i + 2])
            }
            return (r / n, g / n, b / n)
        }

        /// Mean absolute difference per channel to another frame of the same size, 0...255.
        public func distance(to other: Frame) -> Double {
            guard pixels.count == other.pixels.count, !pixels.isEmpty else { return .infinity }
            var sum = 0
            for i in pixels.indices { sum += abs(Int(pixels[i]) - Int(other.pixels[i])) }
            return Double(sum) / Double(pixels.count)
        }
    }

    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    /// Every frame of `path` scaled to `width × height` (nearest-area averaging). The file is probed first and opened
    /// only with the demuxer it was found to be.
    public func frames(of path: String, width: Int = 16, height: Int = 9) async throws -> [Frame] {
        let info = try await MediaProbe(runner: runner).probe(path)
        let out = try await runner.ffmpeg(info.input.arguments + ["-map", "0:v:0", "-vf", "scale=\(width):\(height):flags=area",
                                                                  "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                                          failure: .processFailed, what: "decoding frames of '\(path)'", stdoutLimit: 512 << 20,
                                          timeout: ProcessDeadline.forMedia(seconds: info.duration ?? 60, perSecond: 10))
        let size = width * height * 3
        let bytes = [UInt8](out.stdout)
        return stride(from: 0, to: bytes.count - size + 1, by: size).map { Frame(pixels: Array(bytes[$0..<$0 + size])) }
    }
}
