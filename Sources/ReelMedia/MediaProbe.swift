import Foundation
import ReelCore

/// What ffprobe says a file holds.
public struct MediaInfo: Sendable, Hashable {
    public struct Stream: Sendable, Hashable {
        public var kind: String        // "video", "audio", ...
        public var codec: String
        public var width: Int?
        public var height: Int?
        public var duration: Double?
        public var frameCount: Int?
        public var sampleRate: Int?
        public var channels: Int?
        public var pixelFormat: String?
        public var averageFrameRate: Double?
        public var colorSpace: String?
    }
    public var formatName: String
    public var duration: Double?
    public var size: Int64?
    public var streams: [Stream]

    public var video: Stream? { streams.first { $0.kind == "video" } }
    public var audio: Stream? { streams.first { $0.kind == "audio" } }

    /// A still picture: an image container or a single-frame video stream with no audio.
    public var isImage: Bool {
        guard let v = video, audio == nil else { return false }
        if formatName.contains("image2") || formatName.hasSuffix("_pipe") { return true }
        return ["png", "mjpeg", "webp", "bmp", "tiff", "gif"].contains(v.codec) && (v.frameCount ?? 1) <= 1 && (duration ?? 0) < 0.1
    }
}

/// Reads media facts with ffprobe; the judge of what a file really is, whatever its name says.
public struct MediaProbe: Sendable {
    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    /// Probes `path`; throws `.fileNotFound` when it is missing and `.notMedia` when ffprobe cannot read it.
    public func probe(_ path: String) async throws -> MediaInfo {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ReelError(.fileNotFound, "'\(path)' does not exist")
        }
        guard !isDir.boolValue else { throw ReelError(.badInput, "'\(path)' is a folder, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw ReelError(.fileNotFound, "'\(path)' cannot be read (permission denied)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? nil
        if size == 0 { throw ReelError(.notMedia, "'\(path)' is empty") }
        let out = try await runner.run("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", path],
                                       stdoutLimit: 4 << 20)
        guard out.exitCode == 0, let raw = try? JSONDecoder().decode(RawProbe.self, from: out.stdout), let format = raw.format else {
            let why = out.stderrTail.split(separator: "\n").last.map { String($0).replacingOccurrences(of: path + ": ", with: "") } ?? "unreadable"
            throw ReelError(.notMedia, "'\(path)' is not a media file ffmpeg can read (\(why))")
        }
        let streams = (raw.streams ?? []).map { s in
            MediaInfo.Stream(kind: s.codec_type ?? "unknown", codec: s.codec_name ?? "unknown", width: s.width, height: s.height,
                             duration: s.duration.flatMap(Double.init), frameCount: s.nb_frames.flatMap(Int.init),
                             sampleRate: s.sample_rate.flatMap(Int.init), channels: s.channels, pixelFormat: s.pix_fmt,
                             averageFrameRate: s.avg_frame_rate.flatMap(Self.rate), colorSpace: s.color_space)
        }
        return MediaInfo(formatName: format.format_name ?? "unknown", duration: format.duration.flatMap(Double.init),
                         size: format.size.flatMap(Int64.init) ?? size, streams: streams)
    }

    static func rate(_ text: String) -> Double? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let n = Double(parts[0]), let d = Double(parts[1]), d > 0 else { return Double(text) }
        return n / d
    }

    private struct RawProbe: Decodable {
        struct Format: Decodable { var format_name: String?; var duration: String?; var size: String? }
        struct Stream: Decodable {
            var codec_type: String?; var codec_name: String?; var width: Int?; var height: Int?; var duration: String?
            var nb_frames: String?; var sample_rate: String?; var channels: Int?; var pix_fmt: String?
            var avg_frame_rate: String?; var color_space: String?
        }
        var format: Format?
        var streams: [Stream]?
    }
}
