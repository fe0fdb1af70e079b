import Foundation
import ReelCore

/// MIME types and file extensions of the media Reelsmith sends to and receives from model servers, and `data:` URIs.
public enum MediaType {
    static let byExtension: [String: String] = [
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
        "mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm",
        "wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg", "flac": "audio/flac",
    ]
    static let byMIME: [String: String] = [
        "image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp", "image/gif": "gif",
        "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm",
        "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav", "audio/mpeg": "mp3",
        "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/ogg": "ogg", "audio/flac": "flac",
        "text/plain": "txt",
    ]

    /// The MIME type for a file name's extension (`application/octet-stream` when unknown).
    public static func mime(forPath path: String) -> String {
        byExtension[(path as NSString).pathExtension.lowercased()] ?? "application/octet-stream"
    }

    /// A file extension for a content type, or for the expected kind when the type says nothing useful.
    public static func fileExtension(forMIME mime: String?, kind: OutputKind?) -> String? {
        if let mime, let ext = byMIME[mime.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()] { return ext }
        switch kind {
        case .video?: return "mp4"
        case .image?: return "png"
        case .audio?: return "wav"
        case .text?: return "txt"
        case nil: return nil
        }
    }

    /// The extension of a URL's last path component when it is one we know (`out.mp4` → `mp4`).
    public static func knownExtension(ofURL url: String) -> String? {
        guard let path = URL(string: url)?.path else { return nil }
        let ext = (path as NSString).pathExtension.lowercased()
        return byExtension[ext] != nil ? (ext == "jpeg" ? "jpg" : ext) : nil
    }

    /// `data:<mime>;base64,<payload>` of a small local file.
    public static func dataURI(ofFile path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return "data:\(mime(forPath: path));base64,\(data.base64EncodedString())"
    }

    /// The MIME type of a `data:` URI (`nil` if `text` is not one).
    public static func dataURIMIME(_ text: String) -> String? {
        guard text.hasPrefix("data:"), let comma = text.firstIndex(of: ",") else { return nil }
        let header = text[text.index(text.startIndex, offsetBy: 5)..<comma]
        let mime = header.split(separator: ";").first.map(String.init) ?? ""
        return mime.isEmpty ? "text/plain" : mime
    }

    /// Decodes a `data:` URI into `path`, in chunks: the decoded bytes are never held whole in memory (a Cog video output
    /// can be tens of MB of base64). Writes to a temporary name and renames when done. Returns the bytes written.
    @discardableResult
    public static func writeDataURI(_ text: String, to path: String) throws -> Int64 {
        guard text.hasPrefix("data:"), let comma = text.utf8.firstIndex(of: UInt8(ascii: ",")) else {
            throw ReelError(.providerFailed, "the output is not a data URI")
        }
        let header = String(text[text.startIndex..<comma])
        let isBase64 = header.split(separator: ";").dropFirst().contains { $0.lowercased() == "base64" }
        let temporary = (path as NSString).deletingLastPathComponent + "/.datauri-\(UUID().uuidString.prefix(12))-" + (path as NSString).lastPathComponent
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw ReelError(.outputNotWritable, "cannot write '\(temporary)'")
        }
        var ok = false
        defer { if !ok { try? FileManager.default.removeItem(atPath: temporary) } }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        defer { try? handle.close() }
        var written: Int64 = 0
        let payloadStart = text.utf8.index(after: comma)
        if isBase64 {
            var copy = text
            let done: Bool = try copy.withUTF8 { all in
                let start = text.utf8.distance(from: text.utf8.startIndex, to: payloadStart)
                let payload = UnsafeBufferPointer(rebasing: all[start...])
                // Fast path: 4-aligned chunks of clean base64 decode independently.
                if payload.contains(where: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0x25 }) { return false }
                let step = 4 * 65_536
                var offset = 0
                while offset < payload.count {
                    let end = min(payload.count, offset + step)
                    guard let chunk = Data(base64Encoded: Data(UnsafeBufferPointer(rebasing: payload[offset..<end]))) else {
                        throw ReelError(.providerFailed, "the output's data URI is not valid base64")
                    }
                    try handle.write(contentsOf: chunk)
                    written += Int64(chunk.count)
                    offset = end
                }
                return true
            }
            if !done {
                // Whitespace or percent-escapes inside the payload: decode it in one piece.
                let payload = String(text[payloadStart...]).removingPercentEncoding ?? String(text[payloadStart...])
                guard let data = Data(base64Encoded: payload, options: .ignoreUnknownCharacters) else {
                    throw ReelError(.providerFailed, "the output's data URI is not valid base64")
                }
                try handle.write(contentsOf: data)
                written = Int64(data.count)
            }
        } else {
            let raw = String(text[payloadStart...])
            let data = Data((raw.removingPercentEncoding ?? raw).utf8)
            try handle.write(contentsOf: data)
            written = Int64(data.count)
        }
        try handle.synchronize()
        guard rename(temporary, path) == 0 else {
            throw ReelError(.outputNotWritable, "cannot move the output into '\(path)' (\(String(cString: strerror(errno))))")
        }
        ok = true
        return written
    }
}
