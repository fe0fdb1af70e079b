import Crypto
import Foundation
import ReelCore

// Values shared by the loopback fakes (FakeReplicate, FakeCog, FakeLLM).

/// What a fake model produces.
public enum FakeOutput: Sendable, Hashable {
    /// 320x180, 16 fps H.264 mp4 (testsrc2) of the requested duration (default 5 s).
    case video
    /// 320x180 PNG whose colour depends on the prompt.
    case image
    /// WAV sine of the requested duration (default 8 s).
    case audio
    /// Text, delivered in chunks (about 4) by Replicate.
    case text(String)
}

/// How Replicate bills a fake model (official-model style: per output unit).
public enum FakePrice: Sendable, Hashable {
    /// Per second of output; the seconds are the value of input `durationInput` (its schema default, else 5 s video / 8 s audio).
    case perSecondOfOutput(Double, durationInput: String)
    /// Per second of output, where seconds = input `framesInput` / input `fpsInput` (schema defaults, else 81 frames / 16 fps).
    case perSecondOfOutputFrames(Double, framesInput: String, fpsInput: String)
    /// A fixed price per prediction.
    case perOutput(Double)
    /// Per image in the output (input `num_outputs`, default 1).
    case perImage(Double)
    /// USD per million input tokens and per million output tokens (token counts ~ words).
    case perMillionTokens(input: Double, output: Double)
}

/// A fault to inject in a fake. Each one is consumed by one request; see `FakeEndpoint`.
public enum FakeFault: Sendable, Hashable {
    /// 429 + `Retry-After: N` + `{"detail": "Request was throttled. Expected available in N second."}`; not executed.
    case throttle(retryAfter: Int)
    /// That status with a problem+json body (the dialect's error body for FakeLLM); not executed.
    case serverError(Int)
    /// 502 with `Content-Type: text/html` and an HTML page; not executed.
    case htmlErrorPage
    /// The request IS executed, then answered 200 (201 for a Replicate create) with the body `{not json`.
    case malformedJSON
    /// The connection is closed without an answer; the request is NOT executed.
    case dropConnection
    /// (create only) the prediction IS created (and runs), then the connection is closed without an answer.
    case dropAfterCreate
    /// Answered normally, after a delay.
    case slow(seconds: Double)
    /// (create only) the created prediction ends `failed` with this error.
    case predictionFails(String)
    /// The output files of the prediction concerned answer 404 (like data removed). Consumed by a create (that
    /// prediction), a get (the prediction read) or a download (that file).
    case expireOutputs
    /// (download only) the file is announced with its full length, half of it is sent, the connection closed.
    case truncateDownload
    /// (download only) 200 with `Content-Type: text/html` and an HTML page instead of the file.
    case wrongOutputType
    /// (download only) 200 with the bytes of this local file (a hostile-media corpus entry) instead of the output.
    case serveFile(path: String, contentType: String)
}

/// Which requests a fault applies to. `.any` matches every request (including ones no other case names).
public enum FakeEndpoint: Sendable, Hashable {
    /// Replicate: the three create endpoints. Cog: POST /predictions and PUT /predictions/{id}. LLM: the chat call.
    case create
    /// Replicate: GET /v1/predictions/{id} (and its stream). Cog: GET /health-check.
    case get
    case cancel
    /// Replicate: GET /v1/predictions.
    case list
    /// Replicate: /v1/files...
    case files
    /// Replicate: output files under /delivery/.
    case download
    /// Replicate: /v1/models/... Cog: GET / and GET /openapi.json.
    case models
    case any
}

/// A request a fake received, kept for assertions.
public struct FakeRequestRecord: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [(name: String, value: String)]
    public var body: Data
    public var receivedAt: Date

    init(_ r: LoopbackRequest) {
        method = r.method
        path = r.path
        query = r.query
        headers = r.headers
        body = r.body
        receivedAt = Date()
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
    public var json: JSONValue? { try? JSONValue.parse(body) }
}

/// One webhook delivery attempt made by a fake.
public struct FakeWebhookDelivery: Sendable {
    public var predictionId: String
    /// "start" or "completed".
    public var event: String
    public var url: String
    /// 1 for the first attempt.
    public var attempt: Int
    /// The receiver's status code, nil when the connection failed.
    public var status: Int?
    /// The `webhook-id` header (Replicate; the same across retries), nil for Cog.
    public var webhookId: String?
    /// The prediction's status in the payload.
    public var payloadStatus: String
}

/// Faults waiting to be consumed, in the order they were injected.
struct FaultQueue {
    private var entries: [(fault: FakeFault, endpoint: FakeEndpoint, remaining: Int)] = []

    mutating func add(_ fault: FakeFault, on endpoint: FakeEndpoint, times: Int) {
        guard times > 0 else { return }
        entries.append((fault, endpoint, times))
    }

    /// The first fault injected for `endpoint` (or `.any`) that can apply to it; consumed once.
    mutating func take(for endpoint: FakeEndpoint?, applicable: (FakeFault, FakeEndpoint?) -> Bool) -> FakeFault? {
        guard let i = entries.firstIndex(where: { ($0.endpoint == .any || $0.endpoint == endpoint) && applicable($0.fault, endpoint) })
        else { return nil }
        let fault = entries[i].fault
        entries[i].remaining -= 1
        if entries[i].remaining <= 0 { entries.remove(at: i) }
        return fault
    }

    /// Whether a fault applies at all to an endpoint (create-only and download-only faults).
    static func standardApplicable(_ fault: FakeFault, _ endpoint: FakeEndpoint?) -> Bool {
        switch fault {
        case .dropAfterCreate, .predictionFails: endpoint == .create
        case .truncateDownload, .wrongOutputType, .serveFile: endpoint == .download
        case .expireOutputs: endpoint == .create || endpoint == .get || endpoint == .download
        default: true
        }
    }
}

enum FakeUtil {
    static let idAlphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    /// 26 lowercase base32 characters, like Replicate and Cog prediction ids.
    static func newID() -> String {
        String((0..<26).map { _ in idAlphabet.randomElement()! })
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// RFC 3339 in UTC with microseconds: `2023-09-08T16:19:34.765994Z`.
    static func timestamp(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = Int(t.rounded(.down))
        var micros = Int(((t - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 { micros -= 1_000_000; seconds += 1 }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(micros, 6))Z"
    }

    /// Parses RFC 3339 / ISO 8601 (`YYYY-MM-DD`, optional `THH:MM:SS`, any fraction, `Z` or `±HH:MM`).
    static func parseTimestamp(_ text: String) -> Date? {
        let s = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= s.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard s[i] >= 48 && s[i] <= 57 else { return nil }
                v = v * 10 + Int(s[i] - 48)
            }
            return v
        }
        guard let year = num(0, 4), s.count >= 10, s[4] == 45, let month = num(5, 2), s[7] == 45, let day = num(8, 2) else { return nil }
        var hour = 0, minute = 0, second = 0, fraction = 0.0, offset = 0
        var i = 10
        if i < s.count, s[i] == 84 || s[i] == 116 || s[i] == 32 {
            guard let h = num(i + 1, 2), s.count > i + 3, s[i + 3] == 58, let m = num(i + 4, 2) else { return nil }
            hour = h; minute = m; i += 6
            if i < s.count, s[i] == 58 {
                guard let sec = num(i + 1, 2) else { return nil }
                second = sec; i += 3
            }
            if i < s.count, s[i] == 46 || s[i] == 44 {
                var scale = 0.1
                i += 1
                while i < s.count, s[i] >= 48 && s[i] <= 57 { fraction += Double(s[i] - 48) * scale; scale /= 10; i += 1 }
            }
            if i < s.count {
                if s[i] == 90 || s[i] == 122 { i += 1 }
                else if s[i] == 43 || s[i] == 45 {
                    let sign = s[i] == 43 ? 1 : -1
                    guard let oh = num(i + 1, 2) else { return nil }
                    var om = 0
                    if let m = num(i + 4, 2), s[i + 3] == 58 { om = m; i += 6 } else if let m = num(i + 3, 2) { om = m; i += 5 } else { i += 3 }
                    offset = sign * (oh * 3600 + om * 60)
                } else { return nil }
            }
            guard i == s.count else { return nil }
        } else if i != s.count { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900); parts.tm_mon = Int32(month - 1); parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour); parts.tm_min = Int32(minute); parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch) - Double(offset) + fraction)
    }

    /// Words in a text (the fakes' token count).
    static func words(_ text: String) -> Int {
        text.split(whereSeparator: { $0.isWhitespace }).count
    }

    /// Splits text into about `pieces` chunks at word boundaries (concatenating them gives the text back).
    static func chunks(_ text: String, pieces: Int = 4) -> [String] {
        guard !text.isEmpty else { return [] }
        var tokens: [String] = []
        var current = ""
        for ch in text {
            current.append(ch)
            if ch == " " { tokens.append(current); current = "" }
        }
        if !current.isEmpty { tokens.append(current) }
        let per = max(1, Int((Double(tokens.count) / Double(pieces)).rounded(.up)))
        return stride(from: 0, to: tokens.count, by: per).map { tokens[$0..<min($0 + per, tokens.count)].joined() }
    }

    /// A colour from a text: the first three bytes of its SHA-256, as "0xRRGGBB".
    static func colour(for text: String) -> String {
        let digest = Array(SHA256.hash(data: Data(text.utf8)))
        return "0x" + digest.prefix(3).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }

    static func problem(_ status: Int, _ title: String, _ detail: String, extra: [String: JSONValue] = [:]) -> LoopbackResponse {
        var body: [String: JSONValue] = ["title": .string(title), "detail": .string(detail), "status": .number(Double(status))]
        for (k, v) in extra { body[k] = v }
        return .json(status: status, .object(body), headers: [("Content-Type", "application/problem+json")])
    }

    static let htmlPage = """
        <!DOCTYPE html>
        <html><head><title>502 Bad Gateway</title></head>
        <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>

        """

    /// Parses `Prefer: wait` / `Prefer: wait=N` (N clamped to 1...60); nil when absent.
    static func preferWait(_ header: String?) -> Double? {
        guard let header else { return nil }
        for item in header.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.first?.lowercased() == "wait" else { continue }
            if kv.count == 2, let n = Double(kv[1]) { return min(60, max(1, n)) }
            return 60
        }
        return nil
    }

    static func hasPreference(_ header: String?, _ token: String) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == token }
    }

    /// Validates model input against a JSON-Schema `properties` map: unknown keys, missing required keys, types,
    /// enums, minimum/maximum, and `format: uri` (a `data:` URI or an http(s) URL; `checkURL` may reject more).
    /// Returns (field, message) problems.
    static func validate(input: [String: JSONValue], properties: [String: JSONValue], required: [String],
                         checkURL: (String) -> String? = { _ in nil }) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        for key in input.keys.sorted() where properties[key] == nil {
            problems.append((key, "Additional property \(key) is not allowed"))
        }
        for key in required where input[key] == nil || input[key] == .null {
            problems.append((key, "\(key) is required"))
        }
        for (key, value) in input.sorted(by: { $0.key < $1.key }) {
            guard let schema = properties[key]?.objectValue, value != .null else { continue }
            if let type = schema["type"]?.stringValue {
                let ok: Bool = switch (type, value) {
                case ("integer", .number(let n)): n.rounded() == n
                case ("number", .number): true
                case ("string", .string): true
                case ("boolean", .bool): true
                case ("array", .array): true
                case ("object", .object): true
                default: false
                }
                if !ok {
                    problems.append((key, "Invalid type. Expected: \(type), given: \(typeName(value))"))
                    continue
                }
            }
            if let options = schema["enum"]?.arrayValue, !options.contains(value) {
                let list = options.map { $0.stringValue ?? String(decoding: $0.canonicalData(), as: UTF8.self) }.joined(separator: ", ")
                problems.append((key, "\(key) must be one of the following: \(list)"))
            }
            if let n = value.doubleValue {
                if let lo = schema["minimum"]?.doubleValue, n < lo { problems.append((key, "Must be greater than or equal to \(fmt(lo))")) }
                if let hi = schema["maximum"]?.doubleValue, n > hi { problems.append((key, "Must be less than or equal to \(fmt(hi))")) }
            }
            if schema["format"]?.stringValue == "uri" {
                guard let s = value.stringValue, s.hasPrefix("data:") || s.hasPrefix("http://") || s.hasPrefix("https://") else {
                    problems.append((key, "Does not match format 'uri'"))
                    continue
                }
                if let message = checkURL(s) { problems.append((key, message)) }
            }
        }
        return problems
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.rounded() == n ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func fmt(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    /// A number input, else the schema default.
    static func number(_ key: String, _ input: [String: JSONValue], _ properties: [String: JSONValue]) -> Double? {
        input[key]?.doubleValue ?? properties[key]?["default"]?.doubleValue
    }

    /// Every string value of the input joined (for token counts and colours).
    static func prompt(_ input: [String: JSONValue]) -> String {
        input["prompt"]?.stringValue ?? input["text"]?.stringValue ?? ""
    }
}

/// One part of a multipart/form-data body.
struct MultipartPart: Sendable {
    var name: String
    var filename: String?
    var contentType: String?
    var data: Data
}

enum Multipart {
    /// Parses a multipart/form-data body given its Content-Type header; nil when it is not one.
    static func parse(_ body: Data, contentType: String?) -> [MultipartPart]? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        guard let range = contentType.range(of: "boundary=", options: .caseInsensitive) else { return nil }
        var boundary = String(contentType[range.upperBound...])
        if let semi = boundary.firstIndex(of: ";") { boundary = String(boundary[..<semi]) }
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        guard !boundary.isEmpty else { return nil }
        let delimiter = Data(("--" + boundary).utf8)
        let bytes = body
        var parts: [MultipartPart] = []
        guard var cursor = bytes.range(of: delimiter)?.upperBound else { return nil }
        while true {
            // After a delimiter: "--" ends the body, otherwise CRLF then headers.
            if bytes[cursor...].starts(with: Data("--".utf8)) { break }
            if bytes[cursor...].starts(with: Data("\r\n".utf8)) { cursor += 2 }
            guard let headerEnd = bytes.range(of: Data("\r\n\r\n".utf8), in: cursor..<bytes.endIndex) else { return nil }
            let headerText = String(decoding: bytes[cursor..<headerEnd.lowerBound], as: UTF8.self)
            let contentStart = headerEnd.upperBound
            guard let next = bytes.range(of: Data("\r\n".utf8) + delimiter, in: contentStart..<bytes.endIndex) else { return nil }
            var part = MultipartPart(name: "", filename: nil, contentType: nil, data: Data(bytes[contentStart..<next.lowerBound]))
            for line in headerText.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "content-type" { part.contentType = value }
                if name == "content-disposition" {
                    part.name = parameter("name", in: value) ?? ""
                    part.filename = parameter("filename", in: value)
                }
            }
            parts.append(part)
            cursor = next.upperBound
        }
        return parts
    }

    private static func parameter(_ key: String, in header: String) -> String? {
        for item in header.split(separator: ";") {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].lowercased() == key else { continue }
            var v = kv[1]
            if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }
}

/// Real media made with ffmpeg on first need, cached by (kind, duration, colour), in a folder owned by one fake.
actor FakeMediaStore {
    let directory: String
    private var made: [String: Task<String, any Error>] = [:]

    init() {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-fake-media-\(UUID().uuidString.prefix(8))")
    }

    /// The file for an output kind: video (duration), image (colour), audio (duration).
    func file(_ output: FakeOutput, duration: Double, colour: String) async throws -> (path: String, contentType: String, ext: String) {
        let d = max(0.1, (duration * 100).rounded() / 100)
        let key: String, ext: String, type: String, args: [String]
        switch output {
        case .video:
            key = "video-\(d)"; ext = "mp4"; type = "video/mp4"
            args = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=16:d=\(d)", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
        case .image:
            key = "image-\(colour)"; ext = "png"; type = "image/png"
            args = ["-f", "lavfi", "-i", "color=c=\(colour):s=320x180", "-frames:v", "1"]
        case .audio:
            key = "audio-\(d)"; ext = "wav"; type = "audio/wav"
            args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=\(d)", "-ac", "1", "-c:a", "pcm_s16le"]
        case .text:
            throw LoopbackError("text output has no file")
        }
        let path = (directory as NSString).appendingPathComponent("\(key).\(ext)")
        if let task = made[key] { return (try await task.value, type, ext) }
        let dir = directory
        let task = Task<String, any Error> {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let partial = path + ".part.\(ext)"
            try await Fixtures.ffmpeg(args + [partial])
            try FileManager.default.moveItem(atPath: partial, toPath: path)
            return path
        }
        made[key] = task
        do {
            return (try await task.value, type, ext)
        } catch {
            made[key] = nil
            throw error
        }
    }

    nonisolated func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum Webhooks {
    /// POSTs `body` to `url`; retries (when `retries` > 0) on a connection failure or a non-2xx answer with a short
    /// backoff (0.1 s, 0.2 s, 0.4 s ...). Returns the status of every attempt (nil = connection failed).
    static func deliver(url: String, body: Data, headers: [(String, String)], retries: Int) async -> [Int?] {
        var statuses: [Int?] = []
        for attempt in 0...retries {
            if attempt > 0 {
                try? await Task.sleep(for: .milliseconds(100 << (attempt - 1)))
                if Task.isCancelled { break }
            }
            let status = try? await LoopbackClient.send("POST", url, headers: [("Content-Type", "application/json")] + headers,
                                                        body: body, timeout: 10).status
            statuses.append(status)
            if let status, (200..<300).contains(status) { break }
        }
        return statuses
    }

    /// Standard-Webhooks signature: `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`.
    static func sign(id: String, timestamp: Int, body: Data, key: Data) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}
