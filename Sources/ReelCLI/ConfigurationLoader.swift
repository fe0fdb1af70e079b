import Foundation
import ReelCore

// Reading the settings: defaults < the `REELSMITH_CONFIG` JSON file < environment variables, each value checked once
// here, so nothing below the composition root reads the environment or parses a setting.
//
// Why a small reader and not apple/swift-configuration (STYLE.md §4 suggests it; evaluated at 1.4.0, already in our
// dependency graph through AsyncHTTPClient with no traits): its JSON file snapshot has no public way to list the keys
// a file holds, so an unknown key (a typo that would silently do nothing) could not be refused without parsing the file
// ourselves anyway; its environment provider derives variable names from keys (`s3.bucket` → `S3_BUCKET`), while the
// names CONTRACTS.md promises (`REELSMITH_DATA` for `dataDirectory`, `DATABASE_URL`) need an explicit table either
// way; and a bad value has to name the key *and* the file, in our words, for exit 2. What the library would still
// have done for us (layering two sources over defaults, marking secrets) is `read` and `redacted` below.

/// Where a setting's value came from.
enum ConfigurationSource: String, Encodable, Sendable {
    case `default`, file, env
}

/// One setting as `reelsmith doctor` shows it: a secret's value is never in it.
struct ConfigurationEntry: Encodable, Sendable, Equatable {
    /// The camelCase key in the configuration file.
    var key: String
    /// The environment variable that overrides it.
    var env: String
    /// The value in effect (secrets and URL passwords redacted); nil when unset.
    var value: String?
    var source: ConfigurationSource
    var secret: Bool
}

/// A setting's names: its key in the configuration file and its environment variable (README, "Configuration").
struct ConfigurationKey: Sendable, Hashable {
    enum Secrecy: Sendable { case none, secret, urlPassword }
    let key: String
    let env: String
    let secrecy: Secrecy

    init(_ key: String, _ env: String, _ secrecy: Secrecy = .none) { self.key = key; self.env = env; self.secrecy = secrecy }

    static let dataDirectory = Self("dataDirectory", "REELSMITH_DATA")
    static let registry = Self("registry", "REELSMITH_REGISTRY")
    static let debug = Self("debug", "REELSMITH_DEBUG")
    static let host = Self("host", "REELSMITH_HOST")
    static let port = Self("port", "REELSMITH_PORT")
    static let publicURL = Self("publicURL", "REELSMITH_PUBLIC_URL")
    static let databaseURL = Self("databaseURL", "DATABASE_URL", .urlPassword)
    static let replicateApiToken = Self("replicateApiToken", "REPLICATE_API_TOKEN", .secret)
    static let replicateBaseURL = Self("replicateBaseURL", "REPLICATE_BASE_URL")
    static let cogURL = Self("cogURL", "COG_URL")
    static let openAIApiKey = Self("openAIApiKey", "OPENAI_API_KEY", .secret)
    static let openAIBaseURL = Self("openAIBaseURL", "OPENAI_BASE_URL")
    static let openAIModel = Self("openAIModel", "OPENAI_MODEL")
    static let anthropicApiKey = Self("anthropicApiKey", "ANTHROPIC_API_KEY", .secret)
    static let anthropicBaseURL = Self("anthropicBaseURL", "ANTHROPIC_BASE_URL")
    static let anthropicModel = Self("anthropicModel", "ANTHROPIC_MODEL")
    static let s3Endpoint = Self("s3Endpoint", "S3_ENDPOINT")
    static let s3Bucket = Self("s3Bucket", "S3_BUCKET")
    static let s3Region = Self("s3Region", "S3_REGION")
    static let s3AccessKeyId = Self("s3AccessKeyId", "S3_ACCESS_KEY_ID")
    static let s3SecretAccessKey = Self("s3SecretAccessKey", "S3_SECRET_ACCESS_KEY", .secret)
    static let s3ForcePathStyle = Self("s3ForcePathStyle", "S3_FORCE_PATH_STYLE")
    static let leaseSeconds = Self("leaseSeconds", "REELSMITH_LEASE_SECONDS")
    static let pollSeconds = Self("pollSeconds", "REELSMITH_POLL_SECONDS")
    static let drainSeconds = Self("drainSeconds", "REELSMITH_DRAIN_SECONDS")
    static let sceneConcurrency = Self("sceneConcurrency", "REELSMITH_SCENE_CONCURRENCY")
    static let maxAudioBytes = Self("maxAudioBytes", "REELSMITH_MAX_AUDIO_BYTES")
    static let maxImageBytes = Self("maxImageBytes", "REELSMITH_MAX_IMAGE_BYTES")
    static let maxVideoBytes = Self("maxVideoBytes", "REELSMITH_MAX_VIDEO_BYTES")
    static let maxMediaSeconds = Self("maxMediaSeconds", "REELSMITH_MAX_MEDIA_SECONDS")
    static let maxDimension = Self("maxDimension", "REELSMITH_MAX_DIMENSION")
    static let requestsPerMinuteOverride = Self("requestsPerMinuteOverride", "REELSMITH_REQUESTS_PER_MINUTE_OVERRIDE")
    static let concurrentJobRetryAfterSeconds = Self("concurrentJobRetryAfterSeconds", "REELSMITH_CONCURRENT_JOB_RETRY_AFTER_SECONDS")
    static let heartbeatSeconds = Self("heartbeatSeconds", "REELSMITH_HEARTBEAT_SECONDS")
    static let streamPollSeconds = Self("streamPollSeconds", "REELSMITH_STREAM_POLL_SECONDS")
    static let sessionSeconds = Self("sessionSeconds", "REELSMITH_SESSION_SECONDS")
    static let presignSeconds = Self("presignSeconds", "REELSMITH_PRESIGN_SECONDS")
    static let signInsPerMinute = Self("signInsPerMinute", "REELSMITH_SIGN_INS_PER_MINUTE")
    static let failedAuthenticationsPerMinute = Self("failedAuthenticationsPerMinute", "REELSMITH_FAILED_AUTHENTICATIONS_PER_MINUTE")
    static let trustForwardedFor = Self("trustForwardedFor", "REELSMITH_TRUST_FORWARDED_FOR")
    static let freshSignInWindowSeconds = Self("freshSignInWindowSeconds", "REELSMITH_FRESH_SIGN_IN_WINDOW_SECONDS")
    static let maxStreamsPerUser = Self("maxStreamsPerUser", "REELSMITH_MAX_STREAMS_PER_USER")
    static let eventPageSize = Self("eventPageSize", "REELSMITH_EVENT_PAGE_SIZE")
    static let maxStreamSeconds = Self("maxStreamSeconds", "REELSMITH_MAX_STREAM_SECONDS")
    static let streamCredentialCheckSeconds = Self("streamCredentialCheckSeconds", "REELSMITH_STREAM_CREDENTIAL_CHECK_SECONDS")
    static let maxPartHeaderBytes = Self("maxPartHeaderBytes", "REELSMITH_MAX_PART_HEADER_BYTES")
    static let maxMultipartParts = Self("maxMultipartParts", "REELSMITH_MAX_MULTIPART_PARTS")
    static let maxFormFieldBytes = Self("maxFormFieldBytes", "REELSMITH_MAX_FORM_FIELD_BYTES")
    static let multipartOverheadBytes = Self("multipartOverheadBytes", "REELSMITH_MULTIPART_OVERHEAD_BYTES")
    static let stagingUploadMaxAgeSeconds = Self("stagingUploadMaxAgeSeconds", "REELSMITH_STAGING_UPLOAD_MAX_AGE_SECONDS")
    static let leftoverFileMaxAgeSeconds = Self("leftoverFileMaxAgeSeconds", "REELSMITH_LEFTOVER_FILE_MAX_AGE_SECONDS")
    static let sweepIntervalSeconds = Self("sweepIntervalSeconds", "REELSMITH_SWEEP_INTERVAL_SECONDS")
    static let maxVideoSeconds = Self("maxVideoSeconds", "REELSMITH_MAX_VIDEO_SECONDS")
    static let projectDeleteWaitSeconds = Self("projectDeleteWaitSeconds", "REELSMITH_PROJECT_DELETE_WAIT_SECONDS")
    static let idleTimeoutSeconds = Self("idleTimeoutSeconds", "REELSMITH_IDLE_TIMEOUT_SECONDS")

    /// Every setting, in the order `doctor` prints them. A file key not in here stops start-up.
    static let all: [ConfigurationKey] = [
        .dataDirectory, .registry, .debug, .host, .port, .publicURL, .databaseURL,
        .replicateApiToken, .replicateBaseURL, .cogURL, .openAIApiKey, .openAIBaseURL, .openAIModel,
        .anthropicApiKey, .anthropicBaseURL, .anthropicModel,
        .s3Endpoint, .s3Bucket, .s3Region, .s3AccessKeyId, .s3SecretAccessKey, .s3ForcePathStyle,
        .leaseSeconds, .pollSeconds, .drainSeconds, .sceneConcurrency,
        .maxAudioBytes, .maxImageBytes, .maxVideoBytes, .maxMediaSeconds, .maxDimension, .requestsPerMinuteOverride,
        .concurrentJobRetryAfterSeconds, .heartbeatSeconds, .streamPollSeconds, .sessionSeconds, .presignSeconds,
        .signInsPerMinute, .failedAuthenticationsPerMinute, .trustForwardedFor, .freshSignInWindowSeconds,
        .maxStreamsPerUser, .eventPageSize, .maxStreamSeconds, .streamCredentialCheckSeconds,
        .maxPartHeaderBytes, .maxMultipartParts, .maxFormFieldBytes, .multipartOverheadBytes,
        .stagingUploadMaxAgeSeconds, .leftoverFileMaxAgeSeconds, .sweepIntervalSeconds, .maxVideoSeconds, .projectDeleteWaitSeconds, .idleTimeoutSeconds,
    ]
}

/// Reads settings through the layers and records, for each, the value in effect and its source.
///
/// An empty environment variable counts as unset (so `FOO=` falls through to the file), as does `null` or `""` in
/// the file. Numbers and flags in the file are JSON numbers and booleans; in the environment, their text.
struct ConfigurationReader {
    /// The variable naming the configuration file.
    static let fileVariable = "REELSMITH_CONFIG"

    let environment: [String: String]
    /// The configuration file, when `REELSMITH_CONFIG` names one.
    let filePath: String?
    private let fileValues: [String: JSONValue]
    private(set) var entries: [ConfigurationEntry] = []

    /// Reads the file `REELSMITH_CONFIG` names (if any) and refuses keys it does not know.
    init(environment: [String: String]) throws {
        self.environment = environment
        let path = environment[Self.fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        filePath = path
        fileValues = try path.map(Self.readFile) ?? [:]
        let known = Set(ConfigurationKey.all.map(\.key))
        if let unknown = fileValues.keys.sorted().first(where: { !known.contains($0) }) {
            let hint = Self.nearest(unknown, in: ConfigurationKey.all.map(\.key)).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw ReelError(.badInput, "the configuration file '\(path!)' (\(Self.fileVariable)) has an unknown key \"\(unknown)\"\(hint); "
                + "the keys are listed in the README under Configuration")
        }
    }

    /// `REELSMITH_*` variables that name no setting (a typo such as `REELSMITH_DAT` would otherwise do nothing, silently).
    /// Warned about, not refused: other tools may share the prefix.
    static func unknownVariables(in environment: [String: String]) -> [String] {
        let known = Set(ConfigurationKey.all.map(\.env)).union([fileVariable])
        return environment.keys.filter { $0.hasPrefix("REELSMITH_") && !known.contains($0) }.sorted()
    }

    static func readFile(_ path: String) throws -> [String: JSONValue] {
        try FileCheck.requireRegularFile(path, what: "configuration file (\(fileVariable))")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReelError(.badInput, "the configuration file '\(path)' (\(fileVariable)) cannot be read")
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ReelError(.badInput, "the configuration file '\(path)' (\(fileVariable)) is not valid JSON\(jsonProblem(error))")
        }
        guard case .object(let settings) = value else {
            throw ReelError(.badInput, "the configuration file '\(path)' (\(fileVariable)) must hold one JSON object of settings, "
                + "like {\"port\": 8080}")
        }
        return settings
    }

    /// Where the JSON parser stopped, when it says.
    private static func jsonProblem(_ error: any Error) -> String {
        guard case DecodingError.dataCorrupted(let context) = error else { return "" }
        let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        let line = detail.split(separator: "\n").first.map(String.init) ?? ""
        return line.isEmpty ? "" : ": " + line
    }

    /// A known key one or two edits away (or differing in case only), for the message about an unknown one.
    static func nearest(_ key: String, in keys: [String]) -> String? {
        if let same = keys.first(where: { $0.lowercased() == key.lowercased() }) { return same }
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
            var row = Array(0...b.count)
            for i in 1...a.count {
                var diagonal = row[0]
                row[0] = i
                for j in 1...b.count {
                    let above = row[j]
                    row[j] = min(above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1))
                    diagonal = above
                }
            }
            return row[b.count]
        }
        let scored = keys.map { ($0, distance(Array(key.lowercased()), Array($0.lowercased()))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    /// How messages name a setting: its variable, and its key in the file when there is one.
    func label(_ key: ConfigurationKey) -> String {
        filePath.map { "\(key.env) (\"\(key.key)\" in '\($0)')" } ?? key.env
    }

    /// The entries in `ConfigurationKey.all`'s order.
    func ordered() -> [ConfigurationEntry] {
        let order = Dictionary(uniqueKeysWithValues: ConfigurationKey.all.enumerated().map { ($1.key, $0) })
        return entries.sorted { order[$0.key, default: .max] < order[$1.key, default: .max] }
    }

    // MARK: typed reads

    /// Text, trimmed.
    mutating func text(_ key: ConfigurationKey, default fallback: String? = nil) throws -> String? {
        try read(key, expected: "text", textual: true, fallback: fallback, show: { $0 }) { raw in
            if case .string(let s) = raw { return s }
            return nil
        }
    }

    /// An absolute URL with one of `schemes` and a host (a path instead for `socketSchemes`: a Unix socket); a
    /// trailing `/` is dropped.
    mutating func url(_ key: ConfigurationKey, schemes: Set<String> = ["http", "https"], socketSchemes: Set<String> = [],
                      example: String, default fallback: String? = nil) throws -> String? {
        try read(key, expected: "a URL like \(example)", textual: true, fallback: fallback, show: { $0 }) { raw in
            guard case .string(let s) = raw, let parts = URLComponents(string: s), let scheme = parts.scheme?.lowercased(),
                  schemes.contains(scheme) || socketSchemes.contains(scheme) else { return nil }
            let reachable = socketSchemes.contains(scheme) ? parts.path.count > 1 : !(parts.host ?? "").isEmpty
            guard reachable else { return nil }
            return s.hasSuffix("/") ? String(s.dropLast()) : s
        }
    }

    /// `true`/`false` (in the environment also `1`/`0`, `yes`/`no`, `on`/`off`).
    mutating func flag(_ key: ConfigurationKey, default fallback: Bool?) throws -> Bool? {
        try read(key, expected: "true or false", fallback: fallback, show: { String($0) }) { raw in
            switch raw {
            case .bool(let b): return b
            case .string(let s):
                switch s.lowercased() {
                case "true", "1", "yes", "on": return true
                case "false", "0", "no", "off": return false
                default: return nil
                }
            default: return nil
            }
        }
    }

    /// A whole number in `range`.
    mutating func whole(_ key: ConfigurationKey, in range: ClosedRange<Int>, default fallback: Int?) throws -> Int? {
        let expected = range.upperBound == Int.max ? "a whole number of at least \(range.lowerBound)"
            : "a whole number from \(range.lowerBound) to \(range.upperBound)"
        return try read(key, expected: expected, fallback: fallback, show: { String($0) }) { raw in
            guard let n = Self.number(raw), n.rounded() == n, n >= Double(range.lowerBound), n <= Double(range.upperBound),
                  n < 9.2e18 else { return nil }
            return Int(n)
        }
    }

    /// A number above zero (seconds, dollars).
    mutating func positive(_ key: ConfigurationKey, default fallback: Double) throws -> Double {
        try read(key, expected: "a number above 0", fallback: fallback, show: { String(format: "%g", $0) }) { raw in
            guard let n = Self.number(raw), n > 0, n.isFinite else { return nil }
            return n
        }!
    }

    /// Seconds above zero.
    mutating func seconds(_ key: ConfigurationKey, default fallback: Duration) throws -> Duration {
        let s = try positive(key, default: fallback.seconds)
        return .milliseconds(Int64((s * 1000).rounded()))
    }

    private static func number(_ raw: JSONValue) -> Double? {
        switch raw {
        case .number(let n): return n
        // Text reaches here only from the environment (`read` refuses it from the file).
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    /// The value of `key` from the first layer that sets it, parsed by `parse`; a value that does not parse stops
    /// start-up with a message naming the variable or the key and the file.
    private mutating func read<T>(_ key: ConfigurationKey, expected: String, textual: Bool = false, fallback: T?,
                                  show: (T) -> String, parse: (JSONValue) -> T?) throws -> T? {
        var result: T? = fallback
        var source = ConfigurationSource.default
        if let text = environment[key.env]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
            guard let value = parse(.string(text)) else {
                throw ReelError(.badInput, "\(key.env) must be \(expected)\(Self.shown(text, key))")
            }
            result = value; source = .env
        } else if let raw = fileValues[key.key], raw != .null, raw != .string("") {
            // A number or flag written as text in the file is refused: the file is JSON, and `"8080"` is not a port.
            var typed: JSONValue? = raw
            if case .string(let s) = raw { typed = textual ? .string(s.trimmingCharacters(in: .whitespacesAndNewlines)) : nil }
            guard let value = typed.flatMap(parse) else {
                throw ReelError(.badInput, "the configuration file '\(filePath!)' (\(Self.fileVariable)): \"\(key.key)\" must be "
                    + "\(expected)\(Self.shown(raw, key))")
            }
            result = value; source = .file
        }
        entries.append(ConfigurationEntry(key: key.key, env: key.env, value: result.map { Self.redacted(show($0), key) },
                                          source: source, secret: key.secrecy != .none))
        return result
    }

    /// How a refused value is quoted in the message: never a secret, never a URL's user part.
    private static func shown(_ text: String, _ key: ConfigurationKey) -> String {
        guard key.secrecy == .none, !text.contains("@"), text.count <= 200 else { return "" }
        return ", not \"\(text)\""
    }

    private static func shown(_ raw: JSONValue, _ key: ConfigurationKey) -> String {
        switch raw {
        case .string(let s): return shown(s, key)
        case .number(let n): return key.secrecy == .none ? ", not \(String(format: "%g", n))" : ""
        case .bool(let b): return ", not \(b)"
        case .array: return ", not a list"
        case .object: return ", not an object"
        case .null: return ""
        }
    }

    /// What `doctor` may print of a value.
    static func redacted(_ value: String, _ key: ConfigurationKey) -> String {
        switch key.secrecy {
        case .secret: return "<redacted>"
        case .urlPassword, .none:
            // Any URL may carry a password (`postgres://user:password@host`, `http://user:token@proxy`).
            guard value.contains("@") else { return value }
            guard var parts = URLComponents(string: value), parts.host != nil else { return "<redacted>" }
            if parts.percentEncodedPassword != nil { parts.percentEncodedPassword = "***" }
            return parts.string ?? "<redacted>"
        }
    }
}
