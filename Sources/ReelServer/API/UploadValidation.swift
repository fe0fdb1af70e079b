import Crypto
import Foundation
import ReelCore
import ReelMedia
import ReelStore
import Vapor

/// What an uploaded file turned out to be, by its content.
struct ValidatedMedia: Sendable, Equatable {
    var kind: AssetKind
    var fileExtension: String
    var contentType: String
    var duration: Double?
    var width: Int?
    var height: Int?
}

/// Judges uploads by what they are: a magic-number check first, then ffprobe (allowed demuxers only), then the limits.
struct UploadValidator: Sendable {
    let probe: MediaProbe
    let limits: ServiceLimits

    /// Throws a problem (415 not media, 413 too large, 422 outside the limits) or answers what the file is.
    func validate(path: String, size: Int64) async throws -> ValidatedMedia {
        guard size > 0 else { throw Problem.invalid("the uploaded file is empty") }
        // ffprobe follows playlists and concat lists to other files and URLs: only known binary containers reach it.
        guard Self.sniff(path) else {
            if let playlist = MediaProbe.playlist(inFileAt: path) {
                throw Problem(.unsupportedMediaType, "not-media",
                              "the file is refused: it is \(playlist); only plain audio, image and video files are accepted")
            }
            throw Problem(.unsupportedMediaType, "not-media", "the file is not an audio, image or video file this server accepts")
        }
        let info: MediaInfo
        do {
            // Only an allowed demuxer reads the file, and only as a local file (MediaProbe): a playlist, concat list or
            // image-sequence name behind a media header is refused before it opens anything.
            info = try await probe.probe(path)
        } catch let error as ReelError where error.cause is RefusedMedia {
            let refused = error.cause as! RefusedMedia
            if refused.reason == .tooLarge { throw Problem.invalid("the file holds \(refused.what)") }
            throw Problem(.unsupportedMediaType, "not-media",
                          "the file is refused: it is \(refused.what); only plain audio, image and video files are accepted")
        } catch let error as ReelError where error.cause is ProcessTimedOut {
            throw Problem.invalid("the file could not be read in the time allowed; it may be damaged")
        } catch let error as ReelError where error.code == .notMedia || error.code == .fileNotFound || error.code == .badInput {
            throw Problem(.unsupportedMediaType, "not-media", "the file is not an audio, image or video file ffmpeg can read")
        }
        guard let media = Self.classify(info) else {
            throw Problem(.unsupportedMediaType, "not-media",
                          "the file's format (\(info.formatName)) is not an accepted audio, image or video format")
        }
        let max = limits.maxBytes(media.kind)
        if size > max {
            throw Problem(.payloadTooLarge, "too-large", "\(media.kind.rawValue) uploads are limited to \(max) bytes")
        }
        if let w = media.width, let h = media.height, w > limits.maxDimension || h > limits.maxDimension {
            throw Problem.invalid("the \(media.kind.rawValue) is \(w)×\(h); at most \(limits.maxDimension) pixels a side")
        }
        if media.kind != .image {
            guard let d = media.duration, d.isFinite, d > 0 else { throw Problem.invalid("the \(media.kind.rawValue) has no duration") }
            if d > limits.maxMediaSeconds {
                throw Problem.invalid(String(format: "the %@ lasts %.0f s; at most %.0f s", media.kind.rawValue, d, limits.maxMediaSeconds))
            }
        }
        return media
    }

    /// True when the first bytes are those of a container we accept.
    static func sniff(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 16)) ?? Data())
        return sniff(head)
    }

    static func sniff(_ b: [UInt8]) -> Bool {
        func at(_ offset: Int, _ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return b.count >= offset + bytes.count && Array(b[offset..<offset + bytes.count]) == bytes
        }
        guard b.count >= 4 else { return false }
        if at(0, "ID3") || at(0, "fLaC") || at(0, "OggS") || at(4, "ftyp") || at(0, "GIF87a") || at(0, "GIF89a") { return true }
        if at(0, "RIFF") && (at(8, "WAVE") || at(8, "WEBP") || at(8, "AVI ")) { return true }
        if at(0, "FORM") && (at(8, "AIFF") || at(8, "AIFC")) { return true }
        if b[0] == 0x89 && at(1, "PNG") { return true }
        if b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF { return true }                 // JPEG
        if b[0] == 0x1A && b[1] == 0x45 && b[2] == 0xDF && b[3] == 0xA3 { return true }  // Matroska, WebM
        if b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 { return true }                          // MPEG audio / ADTS frame sync
        if at(0, "BM") || at(0, "II*\u{0}") || at(0, "MM\u{0}*") { return true }           // BMP, TIFF
        return false
    }

    private static let imageCodecs: [String: (ext: String, type: String)] = [
        "png": ("png", "image/png"), "mjpeg": ("jpg", "image/jpeg"), "webp": ("webp", "image/webp"),
        "bmp": ("bmp", "image/bmp"), "tiff": ("tiff", "image/tiff"), "gif": ("gif", "image/gif"),
    ]
    private static let videoCodecs: Set<String> = ["h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores", "mpeg2video", "theora"]

    /// The kind, extension and type by content; nil for anything outside the accepted formats.
    static func classify(_ info: MediaInfo) -> ValidatedMedia? {
        let format = info.formatName
        if info.isImage, let v = info.video, let image = imageCodecs[v.codec] {
            return ValidatedMedia(kind: .image, fileExtension: image.ext, contentType: image.type, duration: nil,
                                  width: v.width, height: v.height)
        }
        if let v = info.video, videoCodecs.contains(v.codec) {
            let (ext, type): (String, String)
            if format.contains("webm") && ["vp8", "vp9", "av1"].contains(v.codec) { (ext, type) = ("webm", "video/webm") }
            else if format.contains("matroska") { (ext, type) = ("mkv", "video/x-matroska") }
            else if format.contains("mp4") || format.contains("mov") { (ext, type) = ("mp4", "video/mp4") }
            else if format == "avi" { (ext, type) = ("avi", "video/x-msvideo") }
            else if format == "ogg" { (ext, type) = ("ogv", "video/ogg") }
            else { return nil }
            return ValidatedMedia(kind: .video, fileExtension: ext, contentType: type, duration: info.duration ?? v.duration,
                                  width: v.width, height: v.height)
        }
        // An audio file may carry cover art as a still "video" stream: the audio decides.
        if let a = info.audio {
            let codec = a.codec
            let (ext, type): (String, String)
            switch (codec, format) {
            case ("mp3", _): (ext, type) = ("mp3", "audio/mpeg")
            case ("flac", _): (ext, type) = ("flac", "audio/flac")
            case ("aac", let f) where f == "aac": (ext, type) = ("aac", "audio/aac")
            case ("aac", let f) where f.contains("mp4") || f.contains("mov"): (ext, type) = ("m4a", "audio/mp4")
            case ("alac", let f) where f.contains("mp4") || f.contains("mov"): (ext, type) = ("m4a", "audio/mp4")
            case ("vorbis", "ogg"), ("opus", "ogg"): (ext, type) = ("ogg", "audio/ogg")
            case ("opus", let f) where f.contains("webm"), ("vorbis", let f) where f.contains("webm"): (ext, type) = ("webm", "audio/webm")
            case (let c, "wav") where c.hasPrefix("pcm_"): (ext, type) = ("wav", "audio/wav")
            case (let c, "aiff") where c.hasPrefix("pcm_"): (ext, type) = ("aiff", "audio/aiff")
            default: return nil
            }
            return ValidatedMedia(kind: .audio, fileExtension: ext, contentType: type, duration: info.duration ?? a.duration,
                                  width: nil, height: nil)
        }
        return nil
    }
}
