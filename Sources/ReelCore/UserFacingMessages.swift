import Foundation

/// What a service tells its users about an error or a warning: a message written for them, without the server's
/// file paths, network addresses, storage names or a tool's output. The full text belongs in the server's log.
public struct UserFacingMessages: Sendable {
    /// Texts that must never reach a user (scratch folders, the data directory, bucket and host names); each is
    /// replaced wherever it appears.
    public var privateTexts: [String]
    /// The longest message given out, in characters.
    public var maxLength = 500

    public init(privateTexts: [String] = []) {
        // Longest first, so a folder inside another is replaced whole.
        self.privateTexts = privateTexts.filter { $0.count >= 3 }.sorted { $0.count > $1.count }
    }

    /// The failure a job records for `error`: its code, and a message a user can read. Faults of the server (storage,
    /// media tools, internal errors) get a plain sentence; the others keep their message, cleaned by `message(_:)`.
    public func failure(_ error: any Error) -> JobFailure {
        guard let e = error as? ReelError else {
            return JobFailure(code: ReelError.Code.internalError.rawValue, message: Self.internalFault)
        }
        switch e.code {
        case .internalError:
            return JobFailure(code: e.code.rawValue, message: Self.internalFault)
        case .storageAuth, .storageUnavailable, .storageFailed:
            return JobFailure(code: e.code.rawValue, message: "the server's file storage could not be used; try again later")
        case .outputNotWritable:
            return JobFailure(code: e.code.rawValue, message: "the server could not write the video; try again later")
        case .toolMissing:
            return JobFailure(code: e.code.rawValue, message: "a media tool the server needs is missing; the operators have been told in its log")
        case .providerAuth:
            return JobFailure(code: e.code.rawValue, message: "the model provider refused the server's credentials; the operators have been told in its log")
        case .processFailed, .renderFailed, .generationFailed:
            // "<what> failed: <the tool's last line of output>": the tool's words stay in the log.
            let what = e.message.range(of: " failed: ").map { String(e.message[..<$0.lowerBound]) + " failed on the server" } ?? e.message
            return JobFailure(code: e.code.rawValue, message: message(what))
        default:
            return JobFailure(code: e.code.rawValue, message: message(e.message))
        }
    }

    /// `text` without private texts, URLs or absolute paths (a path becomes its file name), and at most `maxLength`
    /// characters long.
    public func message(_ text: String) -> String {
        var out = Self.replace(Self.url, in: text) { _ in "(a network address)" }
        out = Self.replace(Self.absolutePath, in: out) { match in
            let name = (match as NSString).lastPathComponent
            return name.isEmpty || name == "/" ? "(a server path)" : name
        }
        for secret in privateTexts { out = out.replacingOccurrences(of: secret, with: "…") }
        if out.count > maxLength { out = String(out.prefix(maxLength - 1)) + "…" }
        return out
    }

    static let internalFault = "the job stopped because of a fault on the server; the operators can find the details in its log"

    private static let url = try! NSRegularExpression(pattern: #"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"`<>]+"#)
    /// A slash-rooted path of at least two components, not inside a word (so "and/or" and "16/9" stay).
    private static let absolutePath = try! NSRegularExpression(pattern: #"(?<![\w.~/-])/(?:[^\s'"`:,;()<>/]+/)+[^\s'"`:,;()<>/]*"#)

    private static func replace(_ regex: NSRegularExpression, in text: String, with make: (String) -> String) -> String {
        let ns = text as NSString
        var out = "", last = 0
        for match in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            out += ns.substring(with: NSRange(location: last, length: match.range.location - last))
            out += make(ns.substring(with: match.range))
            last = match.range.location + match.range.length
        }
        return out + ns.substring(from: last)
    }
}
