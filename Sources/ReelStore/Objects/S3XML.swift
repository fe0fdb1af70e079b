import Foundation

/// The few pieces of S3's XML that the store reads (`Code`, `Message`, `UploadId`, ...), found by tag name.
///
/// S3 answers are flat, machine-written documents; a tag search with entity decoding reads them without pulling
/// FoundationXML (libxml2) into every binary that links the store.
enum S3XML {
    /// The text of every `<tag>…</tag>` element, in document order, entities decoded.
    static func values(of tag: String, in text: String) -> [String] {
        let open = "<\(tag)>", close = "</\(tag)>"
        var found: [String] = []
        var searchStart = text.startIndex
        while let start = text.range(of: open, range: searchStart..<text.endIndex),
              let end = text.range(of: close, range: start.upperBound..<text.endIndex) {
            found.append(unescape(String(text[start.upperBound..<end.lowerBound])))
            searchStart = end.upperBound
        }
        return found
    }

    static func value(of tag: String, in text: String) -> String? { values(of: tag, in: text).first }

    /// S3's error document: `<Error><Code>…</Code><Message>…</Message>…</Error>`.
    static func error(in text: String) -> (code: String, message: String?)? {
        guard text.contains("<Error>"), let code = value(of: "Code", in: text) else { return nil }
        return (code, value(of: "Message", in: text))
    }

    /// An S3 timestamp (`2026-12-07T17:50:00.000Z`, fractional seconds optional).
    static func date(_ text: String) -> Date? {
        // A formatter per call: ISO8601DateFormatter is not safe to share between threads on every platform.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = text
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&#34;", "\""),
                                    ("&#39;", "'"), ("&amp;", "&")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return out
    }
}
