import Foundation
import ReelCore

/// Anthropic's Messages API. The answer is structured through a forced tool: the schema is the tool's
/// `input_schema`, `tool_choice` names it, and the `tool_use` block's `input` is the answer.
public struct AnthropicClient: StructuredLLM {
    public static let defaultBaseURL = "https://api.anthropic.com"
    public static let defaultModel = "claude-sonnet-4-5"
    public static let apiVersion = "2023-06-01"

    public var provider: ProviderKind { .anthropic }
    public let model: String
    public let pricing: Pricing
    /// Without the `/v1` path (`https://api.anthropic.com`).
    public let baseURL: String
    private let apiKey: String
    private let transport: LLMTransport

    public init(baseURL: String = AnthropicClient.defaultBaseURL, apiKey: String, model: String = AnthropicClient.defaultModel,
                pricing: Pricing = Pricing(unit: "token", usd: 0, inputPerMillion: 0, outputPerMillion: 0),
                http: ProviderHTTP = ProviderHTTP(), retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(180)) {
        self.baseURL = baseURL; self.apiKey = apiKey; self.model = model; self.pricing = pricing
        let service = baseURL.hasPrefix(Self.defaultBaseURL) ? "Anthropic" : "the Anthropic API at \(LLMTransport.host(of: baseURL))"
        self.transport = LLMTransport(service: service, http: http, retry: retry, timeout: timeout, secrets: [apiKey])
    }

    public func complete(_ request: LLMRequest) async throws -> LLMResponse {
        let response = try await transport.post(LLMTransport.join(baseURL, "/v1/messages"),
                                                headers: [("x-api-key", apiKey), ("anthropic-version", Self.apiVersion)],
                                                body: LLMTransport.encode(body(request)))
        guard (200..<300).contains(response.status) else { throw transport.failure(response, model: model) }
        return try parse(response.body, request: request)
    }

    func body(_ request: LLMRequest) -> JSONValue {
        [
            "model": .string(model),
            "max_tokens": .number(Double(request.maxTokens)),
            "temperature": .number(request.temperature),
            "system": .string(request.system),
            "messages": .array(request.messages.map { ["role": .string($0.role.rawValue), "content": .string($0.text)] }),
            "tools": [[
                "name": .string(request.schemaName),
                "description": "Give the answer: call this tool once, with the whole answer as its input.",
                "input_schema": request.schema,
            ]],
            "tool_choice": ["type": "tool", "name": .string(request.schemaName)],
        ]
    }

    func parse(_ data: Data, request: LLMRequest) throws -> LLMResponse {
        guard let json = try? JSONValue.parse(data), let blocks = json["content"]?.arrayValue else {
            throw transport.malformed("a message")
        }
        let text: String
        if let tool = blocks.first(where: { $0["type"]?.stringValue == "tool_use" }) {
            guard let input = tool["input"], input.objectValue != nil else { throw transport.malformed("a message (the tool call has no input)") }
            text = String(decoding: LLMTransport.encode(input), as: UTF8.self)
        } else {
            // The model answered in prose instead of calling the tool: hand the text on, for the caller to judge.
            let parts = blocks.compactMap { $0["type"]?.stringValue == "text" ? $0["text"]?.stringValue : nil }
            guard !parts.isEmpty else { throw transport.malformed("a message (no tool call and no text)") }
            text = parts.joined()
        }
        let usage = json["usage"]
        return LLMResponse(text: text,
                           inputTokens: usage?["input_tokens"]?.intValue ?? request.estimatedInputTokens,
                           outputTokens: usage?["output_tokens"]?.intValue ?? (text.count + 3) / 4,
                           id: json["id"]?.stringValue)
    }
}

/// Printing or dumping a client never shows its key.
extension AnthropicClient: CustomStringConvertible, CustomReflectable {
    public var description: String { "AnthropicClient(\(LLMTransport.host(of: baseURL)), model: \(model))" }
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": LLMTransport.host(of: baseURL), "model": model], displayStyle: .struct) }
}
