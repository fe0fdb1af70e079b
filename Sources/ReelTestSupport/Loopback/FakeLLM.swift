import Foundation
import NIOHTTP1
import ReelCore

/// One chat request a `FakeLLM` received, parsed in its dialect.
public struct FakeLLMRequest: Sendable {
    public var model: String
    /// OpenAI: the `system` (and `developer`) messages joined; Anthropic: the `system` field.
    public var system: String
    /// The other messages, text parts joined.
    public var messages: [(role: String, content: String)]
    /// The raw body, and parsed.
    public var body: Data
    public var json: JSONValue
    /// OpenAI `response_format`, raw.
    public var responseFormat: JSONValue?
    /// `tools` and `tool_choice`, raw.
    public var tools: JSONValue?
    public var toolChoice: JSONValue?
    /// `max_tokens` (or OpenAI `max_completion_tokens`).
    public var maxTokens: Int?
    public var headers: [(name: String, value: String)]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A loopback server speaking OpenAI's chat completions (`POST /v1/chat/completions`; give `<baseURL>/v1` as
/// OPENAI_BASE_URL) or Anthropic's messages API (`POST /v1/messages`; ANTHROPIC_BASE_URL = `<baseURL>`). The text of
/// each answer comes from `respond`. Faults: the chat call is `.create` (`.any` matches it too).
public actor FakeLLM: LoopbackFake {
    public enum Dialect: Sendable { case openAI, anthropic }

    public nonisolated let baseURL: String
    public nonisolated let dialect: Dialect
    private let server: LoopbackServer
    private let apiKey: String?
    private let respond: @Sendable (FakeLLMRequest) -> String
    private var faults = FaultQueue()
    private var received: [FakeLLMRequest] = []
    private var log: [FakeRequestRecord] = []
    private var answered = 0

    private init(server: LoopbackServer, dialect: Dialect, apiKey: String?, respond: @escaping @Sendable (FakeLLMRequest) -> String) {
        self.server = server
        self.baseURL = server.baseURL
        self.dialect = dialect
        self.apiKey = apiKey
        self.respond = respond
    }

    deinit { server.closeNow() }

    /// `apiKey` nil accepts any (or no) key.
    public static func start(_ dialect: Dialect, apiKey: String?,
                             respond: @escaping @Sendable (FakeLLMRequest) -> String) async throws -> FakeLLM {
        try await LoopbackServer.start { server in FakeLLM(server: server, dialect: dialect, apiKey: apiKey, respond: respond) }
    }

    public func shutdown() async { await server.shutdown() }

    public func inject(_ fault: FakeFault, on endpoint: FakeEndpoint = .any, times: Int = 1) {
        faults.add(fault, on: endpoint, times: times)
    }

    /// Every authenticated, well-formed chat request (including ones a fault then refused).
    public var requests: [FakeLLMRequest] { received }
    /// How many answers were computed (the paid work: `respond` ran), including one lost by `dropAfterCreate`.
    public var calls: Int { answered }
    /// Every HTTP request received, refused ones too.
    public var httpRequests: [FakeRequestRecord] { log }

    /// Deterministic token estimate: words × 1.3, rounded.
    static func tokens(_ text: String) -> Int { Int((Double(FakeUtil.words(text)) * 1.3).rounded()) }

    private func error(_ status: Int, _ type: String, _ message: String, headers: [(String, String)] = []) -> LoopbackResponse {
        switch dialect {
        case .openAI:
            let code: JSONValue = switch status {
            case 401: "invalid_api_key"
            case 429: "rate_limit_exceeded"
            default: nil
            }
            return .json(status: status, ["error": ["message": .string(message), "type": .string(type), "param": nil, "code": code]],
                         headers: headers)
        case .anthropic:
            return .json(status: status, ["type": "error", "error": ["type": .string(type), "message": .string(message)]],
                         headers: headers)
        }
    }

    private func errorType(_ status: Int) -> String {
        switch (dialect, status) {
        case (.openAI, 429): "requests"
        case (.openAI, 400..<500): "invalid_request_error"
        case (.openAI, _): "server_error"
        case (.anthropic, 400): "invalid_request_error"
        case (.anthropic, 401): "authentication_error"
        case (.anthropic, 403): "permission_error"
        case (.anthropic, 404): "not_found_error"
        case (.anthropic, 413): "request_too_large"
        case (.anthropic, 429): "rate_limit_error"
        case (.anthropic, 529): "overloaded_error"
        case (.anthropic, _): "api_error"
        }
    }

    func handle(_ request: LoopbackRequest) async -> LoopbackResponse {
        log.append(FakeRequestRecord(request))
        let path = dialect == .openAI ? "/v1/chat/completions" : "/v1/messages"
        guard request.method == "POST", request.path == path || request.path == path + "/" else {
            return error(404, errorType(404), "Unknown request URL: \(request.method) \(request.path)")
        }
        switch dialect {
        case .openAI:
            if let apiKey, request.header("Authorization") != "Bearer \(apiKey)" {
                return error(401, "invalid_request_error", "Incorrect API key provided.")
            }
        case .anthropic:
            if let apiKey, request.header("x-api-key") != apiKey {
                return error(401, "authentication_error", "invalid x-api-key")
            }
            if request.header("anthropic-version") == nil {
                return error(400, "invalid_request_error", "anthropic-version: header is required")
            }
        }
        guard let json = request.json, json.objectValue != nil else {
            return error(400, "invalid_request_error", "The request body is not valid JSON.")
        }
        guard let parsed = parse(json, request) else {
            return error(400, "invalid_request_error", dialect == .openAI ? "'model' and 'messages' are required properties"
                                                                          : "model, messages and max_tokens: Field required")
        }
        received.append(parsed)
        var fault = faults.take(for: .create, applicable: FaultQueue.standardApplicable)
        if case .slow(let seconds) = fault {
            try? await Task.sleep(for: .seconds(seconds))
            fault = nil
        }
        switch fault {
        case .throttle(let seconds):
            return error(429, errorType(429), "Rate limit reached. Please try again in \(seconds)s.",
                         headers: [("Retry-After", String(seconds))])
        case .serverError(let status):
            let message = status == 529 ? "Overloaded" : HTTPResponseStatus(statusCode: status).reasonPhrase
            return error(status, errorType(status), message)
        case .htmlErrorPage:
            return .text(status: 502, FakeUtil.htmlPage, contentType: "text/html; charset=utf-8")
        case .dropConnection:
            return .dropConnection
        default:
            break
        }
        answered += 1
        let text = respond(parsed)
        let response = dialect == .openAI ? openAIAnswer(parsed, text) : anthropicAnswer(parsed, text)
        switch fault {
        case .malformedJSON: return .jsonData(status: 200, Data("{not json".utf8))
        case .dropAfterCreate: return .dropConnection
        default: return response
        }
    }

    /// Text of a content value: a string, or the `text` of its text blocks.
    private static func text(_ content: JSONValue?) -> String {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            return parts.compactMap { part -> String? in
                if let s = part.stringValue { return s }
                if let t = part["text"]?.stringValue { return t }
                if part["type"]?.stringValue == "tool_result" { return text(part["content"]) }
                return nil
            }.joined(separator: "\n")
        default: return ""
        }
    }

    private func parse(_ json: JSONValue, _ request: LoopbackRequest) -> FakeLLMRequest? {
        guard let model = json["model"]?.stringValue, let list = json["messages"]?.arrayValue else { return nil }
        var system: [String] = []
        var messages: [(role: String, content: String)] = []
        if dialect == .anthropic {
            guard json["max_tokens"]?.intValue != nil else { return nil }
            let s = Self.text(json["system"])
            if !s.isEmpty { system.append(s) }
        }
        for m in list {
            let role = m["role"]?.stringValue ?? ""
            let content = Self.text(m["content"])
            if dialect == .openAI && (role == "system" || role == "developer") { system.append(content) } else { messages.append((role, content)) }
        }
        return FakeLLMRequest(model: model, system: system.joined(separator: "\n"), messages: messages, body: request.body,
                              json: json, responseFormat: json["response_format"], tools: json["tools"],
                              toolChoice: json["tool_choice"],
                              maxTokens: json["max_tokens"]?.intValue ?? json["max_completion_tokens"]?.intValue,
                              headers: request.headers)
    }

    private func promptTokens(_ r: FakeLLMRequest) -> Int {
        Self.tokens(([r.system] + r.messages.map(\.content)).joined(separator: " "))
    }

    private func openAIAnswer(_ r: FakeLLMRequest, _ text: String) -> LoopbackResponse {
        let prompt = promptTokens(r), completion = Self.tokens(text)
        return .json(status: 200, [
            "id": .string("chatcmpl-" + FakeUtil.newID()), "object": "chat.completion",
            "created": .number(Double(Int(Date().timeIntervalSince1970))), "model": .string(r.model),
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(text), "refusal": nil],
                         "logprobs": nil, "finish_reason": "stop"]],
            "usage": ["prompt_tokens": .number(Double(prompt)), "completion_tokens": .number(Double(completion)),
                      "total_tokens": .number(Double(prompt + completion))],
        ])
    }

    private func anthropicAnswer(_ r: FakeLLMRequest, _ text: String) -> LoopbackResponse {
        var block: JSONValue = ["type": "text", "text": .string(text)]
        var stop = "end_turn"
        if r.tools?.arrayValue?.isEmpty == false, r.toolChoice?["type"]?.stringValue == "tool",
           let name = r.toolChoice?["name"]?.stringValue,
           let input = try? JSONValue.parse(Data(text.utf8)), input.objectValue != nil {
            block = ["type": "tool_use", "id": .string("toolu_" + FakeUtil.newID()), "name": .string(name), "input": input]
            stop = "tool_use"
        }
        return .json(status: 200, [
            "id": .string("msg_" + FakeUtil.newID()), "type": "message", "role": "assistant", "model": .string(r.model),
            "content": [block], "stop_reason": .string(stop), "stop_sequence": nil,
            "usage": ["input_tokens": .number(Double(promptTokens(r))), "output_tokens": .number(Double(Self.tokens(text)))],
        ])
    }
}
