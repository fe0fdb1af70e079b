import AsyncHTTPClient
import Foundation
import NIOCore
import ReelCore

/// A chat model that answers with JSON matching a schema (the `llm.*` roles).
///
/// Errors are `ReelError`s: `.providerAuth` (the key was refused), `.providerRejected` (the request was refused as
/// invalid), `.providerFailed` (an answer that is not the documented shape), `.providerUnavailable` (network, 429,
/// 5xx after retries); or `CancellationError`. Whether the answer's JSON matches the schema is the caller's to check.
public protocol StructuredLLM: Sendable {
    var provider: ProviderKind { get }
    var model: String { get }
    /// Unit `token`, with per-million prices (0 when unknown or self-hosted).
    var pricing: Pricing { get }
    func complete(_ request: LLMRequest) async throws -> LLMResponse
}

extension StructuredLLM {
    /// `provider:model`, as written in ledgers and warnings (`anthropic:claude-sonnet-4-5`).
    public var label: String { "\(provider.rawValue):\(model)" }
}

/// One turn of a conversation.
public struct LLMMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable { case user, assistant }
    public var role: Role
    public var text: String
    public init(role: Role, text: String) { self.role = role; self.text = text }
    public static func user(_ text: String) -> LLMMessage { LLMMessage(role: .user, text: text) }
    public static func assistant(_ text: String) -> LLMMessage { LLMMessage(role: .assistant, text: text) }
}

/// A request for one JSON answer.
public struct LLMRequest: Sendable, Hashable {
    public var system: String
    /// The conversation, starting with a user message.
    public var messages: [LLMMessage]
    /// A short name for the answer's schema (`[A-Za-z0-9_-]`, as OpenAI and Anthropic require).
    public var schemaName: String
    /// The JSON Schema the answer must match.
    public var schema: JSONValue
    public var maxTokens: Int
    public var temperature: Double

    public init(system: String, messages: [LLMMessage], schemaName: String, schema: JSONValue, maxTokens: Int,
                temperature: Double) {
        self.system = system; self.messages = messages; self.schemaName = schemaName; self.schema = schema
        self.maxTokens = maxTokens; self.temperature = temperature
    }

    /// A rough count of the tokens the request reads: a token per 4 characters of the system prompt, messages and schema.
    public var estimatedInputTokens: Int {
        let chars = system.count + messages.reduce(0) { $0 + $1.text.count } + schema.canonicalData().count
        return (chars + 3) / 4
    }

    /// The sentence that carries the schema where a provider cannot enforce it (plain JSON mode, Replicate).
    public var schemaInstruction: String {
        "Answer with one JSON object matching this JSON Schema, and nothing else: "
            + String(decoding: schema.canonicalData(), as: UTF8.self)
    }
}

/// The model's answer.
public struct LLMResponse: Sendable, Hashable {
    /// The JSON text of the answer (not checked against the schema).
    public var text: String
    public var inputTokens: Int
    public var outputTokens: Int
    /// The provider's id for the call (completion, message or prediction id).
    public var id: String?
    public init(text: String, inputTokens: Int, outputTokens: Int, id: String?) {
        self.text = text; self.inputTokens = inputTokens; self.outputTokens = outputTokens; self.id = id
    }
}

// MARK: - Shared by the HTTP clients

/// Posts JSON to a chat API with retries, and turns failures into `ReelError`s that never carry the key.
struct LLMTransport: Sendable {
    /// Names the service in messages ("Anthropic", "the OpenAI-compatible API at 127.0.0.1").
    let service: String
    let http: ProviderHTTP
    let retry: RetryPolicy
    let timeout: Duration
    /// Texts never to repeat in a message (the API key).
    let secrets: [String]

    /// POSTs `body` to `url`. 429, 5xx (529 included), transport failures and timeouts are retried with backoff
    /// (honouring `Retry-After`), then `.providerUnavailable`. Any other answer (2xx or 4xx) is returned.
    func post(_ url: String, headers: [(String, String)], body: Data) async throws -> ProviderResponse {
        var attempt = 0
        // A request that timed out may have been answered (and billed) by the server: these APIs take no idempotency
        // key, so a timeout is tried again once only.
        var timeouts = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.headers.add(name: "accept", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let why: String
            var retryAfter: String?
            do {
                let response = try await http.send(request, timeout: timeout)
                guard response.status == 429 || response.status >= 500 else { return response }
                why = "HTTP \(response.status)" + (Self.serverMessage(response.body).map { ": " + scrub($0) } ?? "")
                retryAfter = response.header("retry-after")
            } catch let error as ProviderHTTPError where error.isTransient {
                why = error.description
                if case .timedOut = error {
                    timeouts += 1
                    if timeouts > 1 { throw ReelError(.providerUnavailable, "\(service) did not answer in time, twice (\(why))", cause: error) }
                }
            } catch let error as ProviderHTTPError {
                throw ReelError(.providerFailed, "\(service) answered something unusable: \(error.description)", cause: error)
            }
            if Task.isCancelled { throw CancellationError() }
            guard attempt < retry.maxAttempts else {
                throw ReelError(.providerUnavailable, "\(service) could not be used after \(attempt) attempts (last: \(why))")
            }
            try await retry.sleep(afterAttempt: attempt, retryAfter: retryAfter)
        }
    }

    /// The error for a 4xx answer: `.providerAuth` for 401/403 (never with the server's text, which may echo the key),
    /// otherwise `.providerRejected` with the server's message.
    func failure(_ response: ProviderResponse, model: String) -> ReelError {
        if response.status == 401 || response.status == 403 {
            return ReelError(.providerAuth, "\(service) refused the API key (HTTP \(response.status)); check the key and its access to '\(model)'")
        }
        let message = Self.serverMessage(response.body).map(scrub) ?? "no explanation given"
        return ReelError(.providerRejected, "\(service) rejected the request for '\(model)' (HTTP \(response.status)): \(message)")
    }

    /// The error for a 2xx answer whose body is not the documented shape.
    func malformed(_ what: String) -> ReelError {
        ReelError(.providerFailed, "\(service) answered something that is not \(what)")
    }

    /// `text` with every secret blanked out.
    func scrub(_ text: String) -> String {
        secrets.filter { !$0.isEmpty }.reduce(text) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }

    /// The human-readable message of an error body: `error.message` (OpenAI, Anthropic), `detail`, `message`, or the
    /// start of a plain-text body; nil for an empty body or a web page. At most 300 characters.
    static func serverMessage(_ body: Data) -> String? {
        var text: String?
        if let json = try? JSONValue.parse(body) {
            text = json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? json["detail"]?.stringValue
                ?? json["message"]?.stringValue
        } else {
            let raw = String(decoding: body.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !raw.isEmpty, !raw.lowercased().contains("<html"), !raw.lowercased().hasPrefix("<!doctype") { text = raw }
        }
        guard let text, !text.isEmpty else { return nil }
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }

    static func encode(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("null".utf8)
    }

    /// `base` + `path` with exactly one slash between them.
    static func join(_ base: String, _ path: String) -> String {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        return b + path
    }

    /// "the OpenAI-compatible API at host:port" from a base URL, without any user info or path.
    static func host(of base: String) -> String {
        guard let url = URL(string: base), let host = url.host else { return "its base URL" }
        return url.port.map { "\(host):\($0)" } ?? host
    }
}

/// The first balanced `{...}` object in a text (models on plain completion APIs often wrap their JSON in prose or
/// code fences). Braces inside JSON strings are skipped. Nil when there is none.
func firstJSONObject(in text: String) -> String? {
    let scalars = Array(text.unicodeScalars)
    var start: Int?
    var depth = 0, inString = false, escaped = false
    var i = 0
    while i < scalars.count {
        let c = scalars[i]
        if let s = start {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "{" {
                depth += 1
            } else if c == "}" {
                depth -= 1
                if depth == 0 {
                    var out = String.UnicodeScalarView()
                    out.append(contentsOf: scalars[s...i])
                    return String(out)
                }
            }
        } else if c == "{" {
            start = i; depth = 1
        }
        i += 1
    }
    return nil
}
