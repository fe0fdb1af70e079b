import Foundation
import ReelCore

/// Any OpenAI-compatible chat completions API: OpenAI itself, or a local server (Ollama, vLLM, llama.cpp) reached
/// through `OPENAI_BASE_URL`, with or without a key.
///
/// The answer is constrained with `response_format: json_schema` (strict). A server that refuses that (a 400 or 422
/// naming `response_format`, as many local servers do) is asked once more in plain JSON mode, with the schema in the
/// system prompt.
public struct OpenAIChatClient: StructuredLLM {
    public static let defaultBaseURL = "https://api.openai.com/v1"
    public static let defaultModel = "gpt-4o-mini"

    public var provider: ProviderKind { .openai }
    public let model: String
    public let pricing: Pricing
    /// Includes the API version path (`https://api.openai.com/v1`, `http://localhost:11434/v1`).
    public let baseURL: String
    private let apiKey: String?
    private let transport: LLMTransport

    /// - Parameters:
    ///   - apiKey: nil (or empty) sends no `Authorization` header, for local servers.
    ///   - pricing: per-million token prices; zero when unknown (self-hosted).
    ///   - timeout: for one HTTP exchange, answer included.
    public init(baseURL: String = OpenAIChatClient.defaultBaseURL, apiKey: String?, model: String = OpenAIChatClient.defaultModel,
                pricing: Pricing = Pricing(unit: "token", usd: 0, inputPerMillion: 0, outputPerMillion: 0),
                http: ProviderHTTP = ProviderHTTP(), retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(180)) {
        self.baseURL = baseURL; self.model = model; self.pricing = pricing
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        let service = baseURL.hasPrefix(Self.defaultBaseURL) ? "OpenAI" : "the OpenAI-compatible API at \(LLMTransport.host(of: baseURL))"
        self.transport = LLMTransport(service: service, http: http, retry: retry, timeout: timeout, secrets: [apiKey ?? ""])
    }

    public func complete(_ request: LLMRequest) async throws -> LLMResponse {
        let url = LLMTransport.join(baseURL, "/chat/completions")
        var headers: [(String, String)] = []
        if let apiKey { headers.append(("authorization", "Bearer \(apiKey)")) }
        // Servers differ in what they accept; each adaptation is made at most once, on a 400/422 that names it.
        var schemaMode = true, tokensField = "max_tokens", sendsTemperature = true
        while true {
            let body = self.body(request, schemaMode: schemaMode, tokensField: tokensField, sendsTemperature: sendsTemperature)
            let response = try await transport.post(url, headers: headers, body: LLMTransport.encode(body))
            if (200..<300).contains(response.status) { return try parse(response.body, request: request) }
            let message = (LLMTransport.serverMessage(response.body) ?? "").lowercased()
            if response.status == 400 || response.status == 422 {
                if schemaMode, message.contains("response_format") || message.contains("json_schema") {
                    schemaMode = false; continue
                }
                if tokensField == "max_tokens", message.contains("max_completion_tokens") {
                    tokensField = "max_completion_tokens"; continue
                }
                if sendsTemperature, message.contains("temperature") {
                    sendsTemperature = false; continue
                }
            }
            throw transport.failure(response, model: model)
        }
    }

    func body(_ request: LLMRequest, schemaMode: Bool, tokensField: String, sendsTemperature: Bool) -> JSONValue {
        let system = schemaMode ? request.system : request.system + "\n\n" + request.schemaInstruction
        var messages: [JSONValue] = [["role": "system", "content": .string(system)]]
        messages += request.messages.map { ["role": .string($0.role.rawValue), "content": .string($0.text)] }
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(messages),
            tokensField: .number(Double(request.maxTokens)),
        ]
        if sendsTemperature { body["temperature"] = .number(request.temperature) }
        body["response_format"] = schemaMode
            ? ["type": "json_schema", "json_schema": ["name": .string(request.schemaName), "schema": request.schema, "strict": true]]
            : ["type": "json_object"]
        return .object(body)
    }

    func parse(_ data: Data, request: LLMRequest) throws -> LLMResponse {
        guard let json = try? JSONValue.parse(data), let choice = json["choices"]?.arrayValue?.first,
              let message = choice["message"], message.objectValue != nil else {
            throw transport.malformed("a chat completion")
        }
        guard let text = message["content"]?.stringValue else {
            if let refusal = message["refusal"]?.stringValue {
                throw ReelError(.providerFailed, "\(transport.service) declined to answer: \(transport.scrub(String(refusal.prefix(300))))")
            }
            throw transport.malformed("a chat completion (the message has no text)")
        }
        let usage = json["usage"]
        return LLMResponse(text: text,
                           inputTokens: usage?["prompt_tokens"]?.intValue ?? request.estimatedInputTokens,
                           outputTokens: usage?["completion_tokens"]?.intValue ?? (text.count + 3) / 4,
                           id: json["id"]?.stringValue)
    }
}

/// Printing or dumping a client never shows its key.
extension OpenAIChatClient: CustomStringConvertible, CustomReflectable {
    public var description: String { "OpenAIChatClient(\(LLMTransport.host(of: baseURL)), model: \(model))" }
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": LLMTransport.host(of: baseURL), "model": model], displayStyle: .struct) }
}
