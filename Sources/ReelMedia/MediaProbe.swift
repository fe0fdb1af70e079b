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
    /// How to open the file in ffmpeg: with the demuxer it was found to be, local files only.
    public var input: MediaInput

    public var video: Stream? { streams.first { $0.kind == "video" } }
    public var audio: Stream? { streams.first { $0.kind == "audio" } }

    /// A still picture: an image container or a single-frame video stream with no audio.
    public var isImage: Bool {
        guard let v = video, audio == nil else { return false }
        if formatName.contains("image2") || formatName.hasSuffix("_pipe") { return true }
        return ["png", "mjpeg", "webp", "bmp", "tiff", "gif"].contains(v.codec) && (v.frameCount ?? 1) <= 1 && (duration ?? 0) < 0.1
    }
}

/// Reads media facts with ffprobe; the judge of what a file really is, whatever its name says, and the gate every
/// file Reelsmith did not write passes before ffmpeg opens it: only an allowed demuxer (`MediaDemuxers`) may read it,
/// only local files may be opened, and `MediaInfo.input` opens it later with that same demuxer.
public struct MediaProbe: Sendable {
    let runner: any ProcessRunner
    let timeout: Duration
    public init(runner: any ProcessRunner = SubprocessRunner(), timeout: Duration = ProcessDeadline.quick) {
        self.runner = runner; self.timeout = timeout
    }

    /// Probes `path`; throws `.fileNotFound` when it is missing, `.badInput` when it is not a regular file, and
    /// `.notMedia` when ffprobe cannot read it or it is not plain media (then the cause is a `RefusedMedia`).
    public func probe(_ path: String) async throws -> MediaInfo {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ReelError(.fileNotFound, "'\(path)' does not exist")
        }
        guard !isDir.boolValue else { throw ReelError(.badInput, "'\(path)' is a folder, not a file") }
        // A FIFO or a device would hold ffprobe until its deadline, or read forever.
        guard FileCheck.isRegularFile(path) else { throw ReelError(.badInput, "'\(path)' is not a regular file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw ReelError(.fileNotFound, "'\(path)' cannot be read (permission denied)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? nil
        if size == 0 { throw ReelError(.notMedia, "'\(path)' is empty") }
        let file = MediaInput(path: path, demuxer: "")
        if Self.isSequencePattern((path as NSString).lastPathComponent) {
            throw Self.refusal(path, MediaDemuxers.refusal("image2"))
        }
        var out = try await ffprobe(file.path, forcing: nil)
        if let refused = Self.refusedDemuxer(in: out.stderrTail) {
            // A still picture is often claimed by the image-sequence demuxer for its extension alone (ffmpeg's own
            // JPEGs are): its content says which single-picture demuxer reads it instead.
            guard refused == "image2", let still = Self.stillImageDemuxer(path) else {
                if refused == "image2" {
                    // Claimed for its extension alone, and not a picture format we read: not a sequence, just unsupported.
                    throw Self.refusal(path, RefusedMedia(what: "a picture in a format that is not accepted (PNG, JPEG, WebP, GIF, BMP and TIFF are)",
                                                          reason: .unsupported))
                }
                throw Self.refusal(path, Self.refusal(demuxer: refused, path: path))
            }
            out = try await ffprobe(file.path, forcing: still)
            if let again = Self.refusedDemuxer(in: out.stderrTail) {
                throw Self.refusal(path, Self.refusal(demuxer: again, path: path))
            }
        }
        let log = out.stderrTail
        if let (w, h) = Self.oversizedPicture(in: log) {
            let what = "a picture of \(w)×\(h) pixels, more than the \(MediaInput.maxPixels / 1_000_000)-megapixel limit"
            throw ReelError(.notMedia, "'\(path)' holds \(what)", cause: RefusedMedia(what: what, reason: .tooLarge))
        }
        guard out.exitCode == 0, let raw = try? JSONDecoder().decode(RawProbe.self, from: out.stdout), let format = raw.format else {
            let why = log.split(separator: "\n").last.map { String($0).replacingOccurrences(of: "file:" + file.path + ": ", with: "") } ?? "unreadable"
            throw ReelError(.notMedia, "'\(path)' is not a media file ffmpeg can read (\(why))")
        }
        let formatName = format.format_name ?? "unknown"
        guard let demuxer = MediaDemuxers.demuxer(forFormatName: formatName) else {
            throw Self.refusal(path, MediaDemuxers.refusal(formatName))
        }
        if let marker = PlaylistMarkers.find(in: path) {
            throw Self.refusal(path, RefusedMedia(what: "a \(MediaDemuxers.label(demuxer)) file with \(marker.what) inside it (at byte \(marker.offset))",
                                                  reason: .readsOtherFiles))
        }
        let streams = (raw.streams ?? []).map { s in
            MediaInfo.Stream(kind: s.codec_type ?? "unknown", codec: s.codec_name ?? "unknown", width: s.width, height: s.height,
                             duration: s.duration.flatMap(Double.init), frameCount: s.nb_frames.flatMap(Int.init),
                             sampleRate: s.sample_rate.flatMap(Int.init), channels: s.channels, pixelFormat: s.pix_fmt,
                             averageFrameRate: s.avg_frame_rate.flatMap(Self.rate), colorSpace: s.color_space)
        }
        // A picture ffprobe could not decode (a PNG cut short, a header with an impossible size) reports 0 × 0.
        if let video = streams.first(where: { $0.kind == "video" }), (video.width ?? 0) <= 0 || (video.height ?? 0) <= 0,
           !streams.contains(where: { $0.kind == "audio" }) {
            let why = log.split(separator: "\n").last.map { String($0).replacingOccurrences(of: "file:" + file.path + ": ", with: "") }
            throw ReelError(.notMedia, "'\(path)' holds a picture ffmpeg cannot decode (truncated or damaged\(why.map { ": " + $0 } ?? ""))")
        }
        return MediaInfo(formatName: formatName, duration: format.duration.flatMap(Double.init),
                         size: format.size.flatMap(Int64.init) ?? size, streams: streams,
                         input: MediaInput(path: path, demuxer: demuxer))
    }

    /// ffprobe restricted to the allowed demuxers: `-format_whitelist` stops any other one right after the format probe,
    /// before it reads its header (where a playlist would open the files it names); `-protocol_whitelist file` keeps
    /// every open local; `-max_pixels` bounds what a decoder allocates for a picture.
    /// A probe that passes its deadline is a file no reader should wait on: `.notMedia` naming it (the cause says why).
    func ffprobe(_ absolutePath: String, forcing demuxer: String?) async throws -> ProcessOutput {
        do {
            return try await runner.run("ffprobe", ["-v", "error", "-hide_banner", "-max_pixels", String(MediaInput.maxPixels),
                                                    "-format_whitelist", MediaDemuxers.whitelist, "-protocol_whitelist", "file"]
                                                   + (demuxer.map { ["-f", $0] } ?? [])
                                                   + ["-print_format", "json", "-show_format", "-show_streams", "-i", "file:" + absolutePath],
                                        stdoutLimit: 4 << 20, timeout: timeout)
        } catch let error as ReelError where error.code == .processTimedOut {
            throw ReelError(.notMedia, "'\(absolutePath)' could not be read within \(ProcessTimedOut.describe(timeout)) (ffprobe was stopped); it is damaged or made to stall a reader",
                            cause: error.cause)
        }
    }

    /// True for a name ffmpeg's image-sequence demuxer expands to other files (`frame%03d.png`, `x%d.jpg`).
    static func isSequencePattern(_ name: String) -> Bool {
        var rest = Substring(name)
        while let percent = rest.firstIndex(of: "%") {
            let after = rest[rest.index(after: percent)...]
            let digits = after.prefix { $0.isASCII && $0.isNumber }
            if after.dropFirst(digits.count).first == "d" { return true }
            rest = after
        }
        return false
    }

    /// The single-picture demuxer for a file's first bytes (PNG, JPEG, WebP, GIF, BMP, TIFF), if it is one of those.
    static func stillImageDemuxer(_ path: String) -> String? {
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        let b = [UInt8]((try? handle?.read(upToCount: 12)) ?? nil ?? Data())
        func at(_ offset: Int, _ bytes: [UInt8]) -> Bool { b.count >= offset + bytes.count && Array(b[offset..<offset + bytes.count]) == bytes }
        if at(0, [0x89, 0x50, 0x4E, 0x47]) { return "png_pipe" }
        if at(0, [0xFF, 0xD8, 0xFF]) { return "jpeg_pipe" }
        if at(0, Array("RIFF".utf8)) && at(8, Array("WEBP".utf8)) { return "webp_pipe" }
        if at(0, Array("GIF8".utf8)) { return "gif" }
        if at(0, Array("BM".utf8)) { return "bmp_pipe" }
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A]) { return "tiff_pipe" }
        return nil
    }

    /// "an HLS playlist", "a concat list": what playlist text the first MiB of a file holds, if any (for a caller that
    /// refuses a file before probing it and wants to say why).
    public static func playlist(inFileAt path: String) -> String? { PlaylistMarkers.find(in: path)?.what }

    static func refusal(_ path: String, _ refused: RefusedMedia) -> ReelError {
        ReelError(.notMedia, "'\(path)' is \(refused.what); only plain audio, image and video files are opened", cause: refused)
    }

    /// The demuxer ffprobe detected but the whitelist refused: its log line reads `[hls @ 0x…] Format not on whitelist`.
    static func refusedDemuxer(in log: String) -> String? {
        for line in log.split(separator: "\n") where line.contains("Format not on whitelist") {
            guard line.hasPrefix("["), let at = line.range(of: " @ ") else { return "unknown" }
            return String(line[line.index(after: line.startIndex)..<at.lowerBound])
        }
        return nil
    }

    static func refusal(demuxer: String, path: String) -> RefusedMedia {
        var refused = MediaDemuxers.refusal(demuxer)
        // The classic polyglot: an ID3 tag (so it looks like an MP3) with a playlist after it.
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        let head = (try? handle?.read(upToCount: 3)) ?? nil
        if head == Data("ID3".utf8), refused.reason == .readsOtherFiles { refused.what += ", behind an MP3 (ID3) tag" }
        return refused
    }

    /// `Picture size 12000x12000 exceeds specified max pixel count` or `is invalid`: the size a header claimed.
    static func oversizedPicture(in log: String) -> (Int, Int)? {
        for line in log.split(separator: "\n") where line.contains("Picture size ") && (line.contains("exceeds") || line.contains("invalid")) {
            guard let r = line.range(of: "Picture size ") else { continue }
            let dims = line[r.upperBound...].prefix { $0.isNumber || $0 == "x" }.split(separator: "x")
            if dims.count == 2, let w = Int(dims[0]), let h = Int(dims[1]) { return (w, h) }
        }
        return nil
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
