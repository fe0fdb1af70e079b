import Foundation
import NIOHTTP1
import ReelCore

/// Reading what model servers answer: error details, text outputs, file outputs.
enum PredictionOutput {
    /// The text of an LLM-style output: a string, or an array of string chunks joined with "".
    static func text(_ output: JSONValue?) -> String? {
        switch output {
        case .string(let s)?: return s
        case .array(let items)?:
            let parts = items.compactMap(\.stringValue)
            return parts.count == items.count ? parts.joined() : nil
        default: return nil
        }
    }

    /// The files an output names, in order: URL strings, arrays of them, URL-like values of an object (by key order),
    /// and `data:` URIs.
    static func fileSources(_ output: JSONValue?) -> [String] {
        switch output {
        case .string(let s)?: return isFileSource(s) ? [s] : []
        case .array(let items)?: return items.flatMap { fileSources($0) }
        case .object(let o)?: return o.keys.sorted().flatMap { fileSources(o[$0]) }
        default: return []
        }
    }

    static func isFileSource(_ s: String) -> Bool {
        let lower = s.prefix(8).lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://") || lower.hasPrefix("data:")
    }

    /// `s` cut to about `limit` characters, on one line.
    static func trimmed(_ s: String, limit: Int = 300) -> String {
        let flat = s.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
            .trimmingCharacters(in: .whitespaces)
        return flat.count <= limit ? flat : String(flat.prefix(limit)) + "…"
    }

    /// The human part of an error body: RFC 7807 `detail` (or `title`), FastAPI's `detail` list (`input.x: msg`), or
    /// `error`. Never the raw body: a proxy's HTML page or an echo of the request is not shown.
    static func problemDetail(_ body: Data) -> String? {
        guard let json = try? JSONValue.parse(body) else { return nil }
        if let s = json["detail"]?.stringValue, !s.isEmpty { return trimmed(s) }
        if let list = json["detail"]?.arrayValue {
            let items = list.compactMap { item -> String? in
                guard let msg = item["msg"]?.stringValue else { return item.stringValue }
                let loc = (item["loc"]?.arrayValue ?? []).compactMap { $0.stringValue ?? $0.intValue.map(String.init) }
                    .filter { $0 != "body" }
                return loc.isEmpty ? msg : "\(loc.joined(separator: ".")): \(msg)"
            }
            if !items.isEmpty { return trimmed(items.joined(separator: "; ")) }
        }
        if let s = json["error"]?.stringValue ?? json["error"]?["message"]?.stringValue ?? json["title"]?.stringValue, !s.isEmpty {
            return trimmed(s)
        }
        return nil
    }

    /// A readable duration for messages ("30 minutes", "2 seconds").
    static func describe(seconds: Double) -> String {
        if seconds >= 120, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60)) minutes" }
        if seconds >= 60 { return String(format: "%.1f minutes", seconds / 60) }
        return seconds == 1 ? "1 second" : (seconds.rounded() == seconds ? "\(Int(seconds)) seconds" : String(format: "%.2f seconds", seconds))
    }

    static func kindName(_ kind: OutputKind) -> String { kind == .image ? "an image" : kind == .audio ? "audio" : "a \(kind.rawValue)" }
}

/// Stores a prediction's output files in the call's folder: `data:` URIs decoded, URLs downloaded (with retries), and
/// every file checked with ffprobe against the expected kind.
struct OutputSaver: Sendable {
    let http: ProviderHTTP
    /// "Replicate", "the Cog server at …": who the messages blame.
    let provider: String
    /// Download attempts per file (network errors, 5xx, truncated bodies).
    var attempts = 3
    var retry: RetryPolicy

    enum Saved: Sendable { case files([String]), gone }

    /// Saves every source; `.gone` when the provider no longer has an output (404/410: Replicate deletes outputs of
    /// API predictions after an hour). Files saved before a failure are removed again.
    func save(_ sources: [String], predictionId: String, kind: OutputKind, into directory: String,
              headers: @Sendable (String) -> HTTPHeaders) async throws -> Saved {
        var saved: [String] = []
        do {
            for (index, source) in sources.enumerated() {
                let stem = (directory as NSString).appendingPathComponent("\(Self.safe(predictionId))-\(index)")
                if source.hasPrefix("data:") {
                    let ext = MediaType.fileExtension(forMIME: MediaType.dataURIMIME(source), kind: kind) ?? "bin"
                    let path = stem + "." + ext
                    try MediaType.writeDataURI(source, to: path)
                    saved.append(path)
                    do { try await http.check(path, is: kind) }
                    catch let error as ProviderHTTPError { throw failure(error, predictionId, kind) }
                } else {
                    let path = MediaType.knownExtension(ofURL: source).map { stem + "." + $0 } ?? stem
                    guard let file = try await download(source, to: path, predictionId: predictionId, kind: kind, headers: headers(source)) else {
                        for f in saved { try? FileManager.default.removeItem(atPath: f) }
                        return .gone
                    }
                    saved.append(file)
                }
            }
        } catch {
            for f in saved { try? FileManager.default.removeItem(atPath: f) }
            throw error
        }
        return .files(saved)
    }

    private func download(_ url: String, to path: String, predictionId: String, kind: OutputKind, headers: HTTPHeaders) async throws -> String? {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await http.download(url: url, to: path, expecting: kind, headers: headers).path
            } catch let error as ProviderHTTPError {
                if case .status(let s) = error, s == 404 || s == 410 { return nil }
                guard error.isTransient else { throw failure(error, predictionId, kind) }
                guard attempt < attempts else {
                    throw ReelError(.providerUnavailable, "could not download the output of prediction \(predictionId) from \(provider) after \(attempt) attempts (\(error))", cause: error)
                }
                try await retry.sleep(afterAttempt: attempt)
            }
        }
    }

    private func failure(_ error: ProviderHTTPError, _ id: String, _ kind: OutputKind) -> ReelError {
        let what = PredictionOutput.kindName(kind)
        switch error {
        case .webPage:
            return ReelError(.providerFailed, "the output of prediction \(id) is not \(what): the provider sent a web page instead of \(what)", cause: error)
        case .notMedia(let why):
            return ReelError(.providerFailed, "the output of prediction \(id) from \(provider) is unusable: \(why)", cause: error)
        default:
            return ReelError(.providerFailed, "could not download the output of prediction \(id) from \(provider) (\(error))", cause: error)
        }
    }

    static func safe(_ id: String) -> String {
        let s = String(id.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }.prefix(64).map(Character.init))
        return s.isEmpty ? "output" : s
    }
}
