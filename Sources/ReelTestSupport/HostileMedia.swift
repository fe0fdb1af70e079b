import Foundation

/// A corpus of files made to break or abuse a media reader: truncated, empty, impossible sizes, wrong names, polyglots,
/// playlists, concat lists and an image-sequence name. Every entry point that opens a file Reelsmith did not write (an
/// upload, `--media`, `--audio`, a provider's output) is tested against all of it.
public enum HostileMedia {
    /// One corpus file and what a correct reader must make of it.
    public struct Entry: Sendable, CustomStringConvertible {
        /// The file's name (what a user would have called it).
        public var name: String
        public var path: String
        /// What it is, for test messages.
        public var what: String
        /// What it really is when it is plain media under a misleading name ("audio"): accepted as that kind, refused
        /// where another kind is needed. nil: refused wherever its content is judged.
        public var plainKind: String?
        /// Dangerous only by its name (a pattern ffmpeg expands to other files): refused where the name is used to open
        /// it (the command line), harmless where the file is stored under a name of Reelsmith's (an upload).
        public var hostileName: Bool
        /// A word the refusal should use to say what the file is ("playlist", "concat"), when it is one.
        public var refusalMentions: String?
        /// The MIME type a server would announce for it (by its name).
        public var contentType: String
        public var description: String { "\(name) (\(what))" }
    }

    /// Makes the corpus in `directory` (created if needed), each entry in a folder of its own under it, so a test can
    /// hand one folder to `--media`. `targets` holds the files the playlists name.
    public static func make(in directory: String) async throws -> [Entry] {
        let fm = FileManager.default
        let targets = (directory as NSString).appendingPathComponent("targets")
        try fm.createDirectory(atPath: targets, withIntermediateDirectories: true)
        // A real song the playlists point at: an attack that works reads it; a reader that refuses never does.
        let segment = (targets as NSString).appendingPathComponent("segment.mp3")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=330:d=3", "-c:a", "libmp3lame", "-b:a", "64k", segment])
        let png = (targets as NSString).appendingPathComponent("picture.png")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=320x240", "-frames:v", "1", png])
        let mp4 = (targets as NSString).appendingPathComponent("clip.mp4")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "testsrc=s=320x240:d=3", "-c:v", "libx264", "-preset", "ultrafast",
                                   "-pix_fmt", "yuv420p", mp4])
        let wav = (targets as NSString).appendingPathComponent("tone.wav")
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "sine=f=440:d=3", "-c:a", "pcm_s16le", wav])
        let pngData = try Data(contentsOf: URL(fileURLWithPath: png))
        let mp4Data = try Data(contentsOf: URL(fileURLWithPath: mp4))
        let wavData = try Data(contentsOf: URL(fileURLWithPath: wav))

        // Only a segment this ffmpeg will open (Debian's 5.1 refuses a whole playlist naming a file whose extension is
        // not a media one, such as /etc/passwd): the point is that a local file named inside the upload gets read.
        func playlist(_ file: String) -> Data {
            Data("""
                #EXTM3U
                #EXT-X-VERSION:3
                #EXT-X-TARGETDURATION:10
                #EXTINF:3.0,
                \(file)
                #EXT-X-ENDLIST

                """.utf8)
        }
        var entries: [Entry] = []
        func add(_ name: String, _ what: String, _ data: Data, type: String, plainKind: String? = nil, hostileName: Bool = false,
                 mentions: String? = nil) throws {
            let folder = (directory as NSString).appendingPathComponent("case-\(entries.count)")
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = (folder as NSString).appendingPathComponent(name)
            try data.write(to: URL(fileURLWithPath: path))
            entries.append(Entry(name: name, path: path, what: what, plainKind: plainKind, hostileName: hostileName,
                                 refusalMentions: mentions, contentType: type))
        }
        try add("empty.mp3", "zero-length", Data(), type: "audio/mpeg")
        try add("truncated.mp4", "an MP4 cut before its index", mp4Data.prefix(mp4Data.count / 2), type: "video/mp4")
        try add("truncated.png", "a PNG cut in half", pngData.prefix(pngData.count / 2), type: "image/png")
        try add("huge.png", "a PNG header claiming 100000×100000 pixels", pngHeader(width: 100_000, height: 100_000), type: "image/png")
        try add("large.png", "a PNG header claiming 12000×12000 pixels", pngHeader(width: 12_000, height: 12_000), type: "image/png")
        try add("tone.png", "a WAV named .png", wavData, type: "image/png", plainKind: "audio")
        try add("tone.mp4", "a WAV named .mp4", wavData, type: "video/mp4", plainKind: "audio")
        try add("song.mp3", "an ID3 tag followed by an HLS playlist naming local files", id3Tag() + playlist(segment), type: "audio/mpeg",
                mentions: "playlist")
        try add("clip.mp4", "an ID3 tag followed by an HLS playlist naming a local video", id3Tag() + playlist(mp4), type: "video/mp4",
                mentions: "playlist")
        try add("picture.png", "a PNG followed by an HLS playlist", pngData + playlist(segment), type: "image/png", mentions: "playlist")
        try add("stream.m3u8", "an HLS playlist naming local files", playlist(segment), type: "application/vnd.apple.mpegurl",
                mentions: "playlist")
        try add("list.mp4", "an ffconcat list naming /etc/passwd",
                Data("ffconcat version 1.0\nfile '/etc/passwd'\nfile '\(segment)'\n".utf8), type: "video/mp4", mentions: "concat")
        try add("notes.mp3", "plain text", Data("just some text, not a song\n".utf8), type: "audio/mpeg")
        try add("frame%03d.png", "a PNG named like an image-sequence pattern", pngData, type: "image/png", plainKind: "image",
                hostileName: true, mentions: "image-sequence")
        return entries
    }

    /// An ID3v2.4 tag with a little padding (what makes a file look like an MP3 to a format probe).
    static func id3Tag(padding: Int = 32) -> Data {
        let n = padding
        return Data("ID3".utf8) + Data([4, 0, 0, UInt8((n >> 21) & 0x7F), UInt8((n >> 14) & 0x7F), UInt8((n >> 7) & 0x7F),
                                         UInt8(n & 0x7F)]) + Data(count: n)
    }

    /// A valid PNG (signature, IHDR, one small IDAT, IEND) whose header claims `width × height` RGB pixels.
    static func pngHeader(width: Int, height: Int) -> Data {
        func be32(_ v: UInt32) -> Data { Data([UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]) }
        func chunk(_ type: String, _ body: Data) -> Data {
            let typed = Data(type.utf8) + body
            return be32(UInt32(body.count)) + typed + be32(crc32(typed))
        }
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + Data([8, 2, 0, 0, 0])
        // 4 kB of zero rows as one stored (uncompressed) deflate block in a zlib stream: far less than the picture
        // needs, enough to look plausible. Written out by hand because no zlib module is importable from Swift here.
        let raw = Data(count: 4096)
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        let n = UInt16(raw.count)
        let zlib = Data([0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)]) + raw + be32(b << 16 | a)
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", Data())
    }

    /// CRC-32 (IEEE, as PNG chunks use).
    static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
