import Foundation
import ReelCore

/// The ffmpeg demuxers allowed to open a file Reelsmith did not write itself (an upload, a `--media` or `--audio` file,
/// a provider's output): plain single-file containers. Not on the list, so never run on such a file: playlists (hls,
/// dash), concat lists, image sequences (image2), text (tty), subtitles, raw data, lavfi, network protocols — the
/// demuxers that read other files or URLs named inside the file, which is how a crafted "song" reads `/etc/passwd`.
public enum MediaDemuxers {
    /// ffprobe's `format_name` for each allowed demuxer → the name given to `-f`, and a name for messages.
    static let allowed: [(formatName: String, demuxer: String, label: String)] = [
        ("mov,mp4,m4a,3gp,3g2,mj2", "mov", "MP4/MOV"),
        ("matroska,webm", "matroska", "Matroska/WebM"),
        ("mp3", "mp3", "MP3"), ("wav", "wav", "WAV"), ("flac", "flac", "FLAC"), ("ogg", "ogg", "Ogg"),
        ("aac", "aac", "AAC"), ("aiff", "aiff", "AIFF"), ("avi", "avi", "AVI"),
        // Single pictures: the `_pipe` demuxers read one file by its content, never a numbered sequence.
        ("png_pipe", "png_pipe", "PNG"), ("jpeg_pipe", "jpeg_pipe", "JPEG"), ("webp_pipe", "webp_pipe", "WebP"),
        ("bmp_pipe", "bmp_pipe", "BMP"), ("tiff_pipe", "tiff_pipe", "TIFF"), ("gif", "gif", "GIF"),
    ]

    /// The value of ffprobe's `-format_whitelist`: any other demuxer is refused before it reads the file's header.
    public static let whitelist = allowed.map(\.demuxer).joined(separator: ",")

    /// The `-f` name for a `format_name` ffprobe reported; nil when that demuxer is not allowed.
    public static func demuxer(forFormatName name: String) -> String? {
        allowed.first { $0.formatName == name || $0.demuxer == name }?.demuxer
    }

    /// "PNG", "MP4/MOV": the format an allowed demuxer reads, for messages.
    public static func label(_ demuxer: String) -> String {
        allowed.first { $0.demuxer == demuxer }?.label ?? demuxer
    }

    /// Why a refused demuxer is refused: it reads other files, or it is just not a format Reelsmith takes.
    static func refusal(_ demuxer: String) -> RefusedMedia {
        let what = describeRefused(demuxer)
        return RefusedMedia(what: what, reason: ["hls", "applehttp", "dash", "concat", "image2"].contains(demuxer) ? .readsOtherFiles : .unsupported)
    }

    /// What a refused demuxer means, for the person whose file it is.
    public static func describeRefused(_ demuxer: String) -> String {
        switch demuxer {
        case "hls", "applehttp": return "an HLS playlist (a list that makes ffmpeg open other files or URLs)"
        case "dash": return "a DASH manifest (a list that makes ffmpeg open other files or URLs)"
        case "concat": return "a concat list (a list that makes ffmpeg open other files)"
        case "image2": return "an image-sequence pattern (a name with %d, * or ? that makes ffmpeg open other files)"
        case "tty": return "a text file"
        case "srt", "ass", "webvtt", "subviewer", "subviewer1", "microdvd", "sami", "realtext", "jacosub", "mpl2",
             "pjs", "stl", "vplayer", "lrc", "scc", "mcc":
            return "a subtitle file"
        case "data", "bin": return "raw data"
        default: return "a file in the '\(demuxer)' format, which is not an accepted audio, image or video format"
        }
    }
}

/// Why a file was refused before any demuxer beyond the format probe read it: for messages and problem details.
public struct RefusedMedia: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// A playlist, concat list, image-sequence name or a file hiding one: made to make ffmpeg open other files.
        case readsOtherFiles
        /// A plain format, but the picture it declares is larger than a decoder may allocate for.
        case tooLarge
        /// A format Reelsmith does not take (text, subtitles, an unusual container or picture format).
        case unsupported
    }
    /// What the file is ("an HLS playlist (…)", "a PNG file with an HLS playlist inside it"), without its path.
    public var what: String
    public var reason: Reason
    public var description: String { what }
}

/// A local file opened by one named demuxer reading only local files: `-f <demuxer> -protocol_whitelist file -i file:…`.
/// Made by `MediaProbe` for a file it judged (the demuxer it was found to be), or by `own` for a file Reelsmith wrote.
public struct MediaInput: Sendable, Hashable {
    /// The absolute path of the file.
    public let path: String
    /// The demuxer ffmpeg must use (`mov`, `mp3`, `png_pipe`, …).
    public let demuxer: String

    /// The largest picture a decoder may allocate for (8192 × 8192): a 100-byte PNG that claims 100000 × 100000 pixels
    /// must not make ffmpeg or ffprobe ask for gigabytes.
    public static let maxPixels = 8192 * 8192

    init(path: String, demuxer: String) {
        self.path = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        self.demuxer = demuxer
    }

    /// A file Reelsmith wrote itself in a known format (scene clips and renders are MP4: `mov`).
    public static func own(_ path: String, demuxer: String = "mov") -> MediaInput { MediaInput(path: path, demuxer: demuxer) }

    /// The ffmpeg input arguments, ending with `-i`: input options (`-ss`, `-stream_loop`) go before them.
    /// `file:` makes a name that looks like a URL or option still a local path.
    public var arguments: [String] {
        ["-max_pixels", String(Self.maxPixels), "-f", demuxer, "-protocol_whitelist", "file", "-i", "file:" + path]
    }
}

/// Finds playlist text inside a file an allowed demuxer would read: a polyglot (a PNG or an ID3 tag followed by a
/// playlist) is harmless to the demuxer we force, but it is made to attack a reader that guesses, so it is refused.
enum PlaylistMarkers {
    static let markers: [(bytes: [UInt8], what: String)] = [
        (Array("#EXTM3U".utf8), "an HLS playlist"), (Array("#EXT-X-".utf8), "an HLS playlist"),
        (Array("ffconcat version".utf8), "a concat list"),
    ]
    /// How far into a file ffmpeg's format probe looks (1 MiB): a playlist further in is never read as one.
    static let window = 1 << 20

    /// The first marker in the first `window` bytes: what it is and where.
    static func find(in path: String) -> (what: String, offset: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: window), !data.isEmpty else { return nil }
        var best: (what: String, offset: Int)?
        for marker in markers {
            if let range = data.range(of: Data(marker.bytes)), range.lowerBound < (best?.offset ?? .max) {
                best = (marker.what, range.lowerBound)
            }
        }
        return best
    }
}
