import Foundation
import Synchronization
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelProviders

/// Retries without waiting long.
private let quickRetry = RetryPolicy(maxAttempts: 4, baseDelay: 0.01, maxDelay: 0.05, retryAfterCap: 0.05)

private let planSchema: JSONValue = [
    "type": "object", "additionalProperties": false, "required": ["scenes"],
    "properties": ["scenes": ["type": "array", "items": ["type": "object"]]],
]
private let answerText = #"{"scenes":[{"content":"rain","end":30,"transition":"cut"}]}"#

private func llmRequest(_ messages: [LLMMessage] = [.user(#"{"brief":{"prompt":"neon"}}"#)]) -> LLMRequest {
    LLMRequest(system: "You plan scenes.", messages: messages, schemaName: "scene_plan", schema: planSchema, maxTokens: 900, temperature: 0.2)
}

private func reelError(_ body: () async throws -> Void) async -> ReelError? {
    do { try await body(); return nil } catch let e as ReelError { return e } catch { return ReelError(.internalError, "\(error)") }
}

@Suite("LLM clients")
struct LLMClientTests {
    // MARK: OpenAI-compatible

    @Test func openAIRequestShapeAndAnswer() async throws {
        let fake = try await FakeLLM.start(.openAI, apiKey: "sk-test-123") { _ in answerText }
        let client = OpenAIChatClient(baseURL: fake.baseURL + "/v1", apiKey: "sk-test-123", model: "gpt-test", retry: quickRetry)
        let response = try await client.complete(llmRequest())
        #expect(try JSONValue.parse(Data(response.text.utf8)) == JSONValue.parse(Data(answerText.utf8)))
        #expect(response.inputTokens > 0 && response.outputTokens > 0)
        #expect(response.id?.hasPrefix("chatcmpl-") == true)
        let seen = try #require(await fake.requests.first)
        #expect(seen.header("Authorization") == "Bearer sk-test-123")
        #expect(seen.model == "gpt-test")
        let messages = try #require(seen.json["messages"]?.arrayValue)
        #expect(messages.map { $0["role"]?.stringValue } == ["system", "user"])
        #expect(messages[0]["content"]?.stringValue == "You plan scenes.")
        #expect(seen.responseFormat == ["type": "json_schema", "json_schema": ["name": "scene_plan", "schema": planSchema, "strict": true]])
        #expect(seen.json["max_tokens"]?.intValue == 900 && seen.json["temperature"]?.doubleValue == 0.2)
        #expect(client.label == "openai:gpt-test")
        await fake.shutdown()
    }

    @Test func openAIWithoutAKeySendsNoAuthorization() async throws {
        let fake = try await FakeLLM.start(.openAI, apiKey: nil) { _ in answerText }
        let client = OpenAIChatClient(baseURL: fake.baseURL + "/v1/", apiKey: nil, model: "llama3", retry: quickRetry)
        _ = try await client.complete(llmRequest())
        let seen = try #require(await fake.requests.first)
        #expect(seen.header("Authorization") == nil)
        await fake.shutdown()
    }

    @Test func refusedKeyIsProviderAuthWithoutTheKey() async throws {
        for dialect in [FakeLLM.Dialect.openAI, .anthropic] {
            let fake = try await FakeLLM.start(dialect, apiKey: "right-key") { _ in answerText }
            let secret = "sk-ant-very-secret-4242"
            let error = await reelError {
                if dialect == .openAI {
                    _ = try await OpenAIChatClient(baseURL: fake.baseURL + "/v1", apiKey: secret, retry: quickRetry).complete(llmRequest())
                } else {
                    _ = try await AnthropicClient(baseURL: fake.baseURL, apiKey: secret, retry: quickRetry).complete(llmRequest())
                }
            }
            #expect(error?.code == .providerAuth)
            #expect(error?.message.contains("refused the API key") == true)
            #expect(error?.message.contains(secret) == false)
            #expect(await fake.httpRequests.count == 1, "an auth failure is not retried")
            await fake.shutdown()
        }
    }

    @Test func throttlingAndServerErrorsAreRetried() async throws {
        for dialect in [FakeLLM.Dialect.openAI, .anthropic] {
            let fake = try await FakeLLM.start(dialect, apiKey: "k") { _ in answerText }
            await fake.inject(.throttle(retryAfter: 0))
            await fake.inject(.serverError(dialect == .anthropic ? 529 : 500))
            await fake.inject(.dropConnection)
            let llm: any StructuredLLM = dialect == .openAI
                ? OpenAIChatClient(baseURL: fake.baseURL + "/v1", apiKey: "k", retry: quickRetry)
                : AnthropicClient(baseURL: fake.baseURL, apiKey: "k", retry: quickRetry)
            let response = try await llm.complete(llmRequest())
            #expect(try JSONValue.parse(Data(response.text.utf8)) == JSONValue.parse(Data(answerText.utf8)))
            #expect(await fake.requests.count == 4)
            #expect(await fake.calls == 1)
            await fake.shutdown()
        }
    }

    @Test func persistentFailureIsProviderUnavailable() async throws {
        let fake = try await FakeLLM.start(.anthropic, apiKey: "k") { _ in answerText }
        await fake.inject(.serverError(503), times: 10)
        let error = await reelError { _ = try await AnthropicClient(baseURL: fake.baseURL, apiKey: "k", retry: quickRetry).complete(llmRequest()) }
        #expect(error?.code == .providerUnavailable)
        #expect(error?.message.contains("after 4 attempts") == true)
        #expect(await fake.calls == 0)
        await fake.shutdown()
    }

    @Test func malformedBodyIsProviderFailed() async throws {
        for dialect in [FakeLLM.Dialect.openAI, .anthropic] {
            let fake = try await FakeLLM.start(dialect, apiKey: nil) { _ in answerText }
            await fake.inject(.malformedJSON)
            let error = await reelError {
                if dialect == .openAI {
                    _ = try await OpenAIChatClient(baseURL: fake.baseURL + "/v1", apiKey: nil, retry: quickRetry).complete(llmRequest())
                } else {
                    _ = try await AnthropicClient(baseURL: fake.baseURL, apiKey: "k", retry: quickRetry).complete(llmRequest())
                }
            }
            #expect(error?.code == .providerFailed)
            #expect(error?.message.contains(dialect == .openAI ? "is not a chat completion" : "is not a message") == true)
            await fake.shutdown()
        }
    }

    @Test func otherClientErrorsAreRejectedWithTheServersMessage() async throws {
        let server = try await LoopbackServer.start { _ in
            .json(status: 400, ["error": ["message": "model 'nope' not found (key sk-leak)", "type": "invalid_request_error"]])
        }
        let error = await reelError {
            _ = try await OpenAIChatClient(baseURL: server.baseURL + "/v1", apiKey: "sk-leak", model: "nope", retry: quickRetry).complete(llmRequest())
        }
        #expect(error?.code == .providerRejected)
        #expect(error?.message.contains("model 'nope' not found") == true)
        #expect(error?.message.contains("sk-leak") == false)
        await server.shutdown()
    }

    @Test func aServerWithoutJSONSchemaIsAskedInJSONMode() async throws {
        let bodies = BodyLog()
        let server = try await LoopbackServer.start { request in
            bodies.add(request.json ?? .null)
            if request.json?["response_format"]?["type"]?.stringValue == "json_schema" {
                return .json(status: 400, ["error": ["message": "response_format type json_schema is not supported by this server"]])
            }
            return .json(status: 200, ["id": "local-1", "choices": [["message": ["role": "assistant", "content": .string(answerText)]]],
                                       "usage": ["prompt_tokens": 123, "completion_tokens": 45]])
        }
        let client = OpenAIChatClient(baseURL: server.baseURL + "/v1", apiKey: nil, model: "local", retry: quickRetry)
        let response = try await client.complete(llmRequest())
        #expect(response.text == answerText && response.inputTokens == 123 && response.outputTokens == 45 && response.id == "local-1")
        let sent = bodies.all
        #expect(sent.count == 2)
        #expect(sent[1]["response_format"] == ["type": "json_object"])
        let system = sent[1]["messages"]?.arrayValue?.first?["content"]?.stringValue ?? ""
        #expect(system.hasPrefix("You plan scenes.") && system.contains("JSON Schema") && system.contains("\"additionalProperties\":false"))
        await server.shutdown()
    }

    // MARK: Anthropic

    @Test func anthropicForcesTheToolAndReadsItsInput() async throws {
        let fake = try await FakeLLM.start(.anthropic, apiKey: "ak-1") { _ in answerText }
        let client = AnthropicClient(baseURL: fake.baseURL, apiKey: "ak-1", model: "claude-test", retry: quickRetry)
        let request = llmRequest([.user("plan"), .assistant("{}"), .user("again")])
        let response = try await client.complete(request)
        #expect(try JSONValue.parse(Data(response.text.utf8)) == JSONValue.parse(Data(answerText.utf8)))
        #expect(response.id?.hasPrefix("msg_") == true && response.inputTokens > 0 && response.outputTokens > 0)
        let seen = try #require(await fake.requests.first)
        #expect(seen.header("x-api-key") == "ak-1" && seen.header("anthropic-version") == "2023-06-01")
        #expect(seen.header("Authorization") == nil)
        #expect(seen.system == "You plan scenes.")
        #expect(seen.messages.map(\.role) == ["user", "assistant", "user"])
        #expect(seen.tools?.arrayValue?.first?["name"] == "scene_plan")
        #expect(seen.tools?.arrayValue?.first?["input_schema"] == planSchema)
        #expect(seen.toolChoice == ["type": "tool", "name": "scene_plan"])
        #expect(seen.maxTokens == 900 && seen.json["temperature"]?.doubleValue == 0.2)
        await fake.shutdown()
    }

    @Test func anthropicProseInsteadOfTheToolIsPassedOn() async throws {
        let fake = try await FakeLLM.start(.anthropic, apiKey: nil) { _ in "I would rather describe it in words." }
        let response = try await AnthropicClient(baseURL: fake.baseURL, apiKey: "k", retry: quickRetry).complete(llmRequest())
        #expect(response.text == "I would rather describe it in words.")
        await fake.shutdown()
    }

    @Test func anthropicUsageIsParsed() async throws {
        let server = try await LoopbackServer.start { _ in
            .json(status: 200, ["id": "msg_1", "type": "message", "role": "assistant",
                                "content": [["type": "tool_use", "id": "t", "name": "scene_plan", "input": ["scenes": []]]],
                                "stop_reason": "tool_use", "usage": ["input_tokens": 321, "output_tokens": 54]])
        }
        let response = try await AnthropicClient(baseURL: server.baseURL, apiKey: "k", retry: quickRetry).complete(llmRequest())
        #expect(response.text == #"{"scenes":[]}"# && response.inputTokens == 321 && response.outputTokens == 54)
        await server.shutdown()
    }

    // MARK: Replicate

    @Test func replicateLLMMapsInputsAndExtractsTheObject() async throws {
        let backend = TextBackend(text: "Sure! Here it is:\n```json\n{\"scenes\": [{\"content\": \"a } brace\", \"end\": 30, \"transition\": \"cut\"}]}\n```\nEnjoy {",
                                  metrics: ["input_token_count": 700, "output_token_count": 80, "predict_time": 1.2])
        let entry = ModelEntry(provider: .replicate, model: "meta/meta-llama-3-8b-instruct", output: .text,
                               inputs: ["prompt": "prompt", "system": "system_prompt", "maxTokens": "max_tokens", "temperature": "temperature"],
                               fixed: ["top_p": 0.9],
                               price: Pricing(unit: "token", usd: 0, inputPerMillion: 0.05, outputPerMillion: 0.25))
        let llm = ReplicateLLM(backend: backend, entry: entry)
        let response = try await llm.complete(llmRequest())
        #expect(response.text == "{\"scenes\": [{\"content\": \"a } brace\", \"end\": 30, \"transition\": \"cut\"}]}")
        #expect(response.inputTokens == 700 && response.outputTokens == 80 && response.id == "pred-1")
        #expect(llm.label == "replicate:meta/meta-llama-3-8b-instruct" && llm.pricing.outputPerMillion == 0.25)
        let call = try #require(await backend.calls.first)
        #expect(call.model == "meta/meta-llama-3-8b-instruct" && call.expectedOutput == .text)
        #expect(call.input["prompt"] == #"{"brief":{"prompt":"neon"}}"#)
        let system = call.input["system_prompt"]?.stringValue ?? ""
        #expect(system.hasPrefix("You plan scenes.") && system.contains("Answer with one JSON object matching this JSON Schema"))
        #expect(call.input["max_tokens"] == 900 && call.input["temperature"] == 0.2 && call.input["top_p"] == 0.9)
    }

    @Test func replicateLLMWithoutSystemInputOrMetrics() async throws {
        let backend = TextBackend(text: "no json here", metrics: [:])
        let entry = ModelEntry(provider: .replicate, model: "owner/llm", output: .text, inputs: ["prompt": "text"],
                               price: Pricing(unit: "token", usd: 0))
        let response = try await ReplicateLLM(backend: backend, entry: entry).complete(llmRequest([.user("first"), .assistant("{}"), .user("second")]))
        #expect(response.text == "no json here")
        #expect(response.outputTokens == 3 && response.inputTokens > 0)
        let prompt = try #require(await backend.calls.first?.input["text"]?.stringValue)
        #expect(prompt.hasPrefix("You plan scenes.") && prompt.contains("User: first\n\nAssistant: {}\n\nUser: second"))
        let noPrompt = ModelEntry(provider: .replicate, model: "owner/llm", output: .text, inputs: [:], price: Pricing(unit: "token", usd: 0))
        let error = await reelError { _ = try await ReplicateLLM(backend: backend, entry: noPrompt).complete(llmRequest()) }
        #expect(error?.code == .badRegistry)
    }

    @Test func firstObjectSkipsBracesInStrings() {
        #expect(firstJSONObject(in: #"x {"a": "}{", "b": {"c": "\"}"}} y {"z": 1}"#) == #"{"a": "}{", "b": {"c": "\"}"}}"#)
        #expect(firstJSONObject(in: "{ unclosed") == nil)
        #expect(firstJSONObject(in: "none") == nil)
    }
}

/// Records JSON bodies a loopback handler saw.
private final class BodyLog: Sendable {
    private let bodies = Mutex<[JSONValue]>([])
    func add(_ b: JSONValue) { bodies.withLock { $0.append(b) } }
    var all: [JSONValue] { bodies.withLock { $0 } }
}

/// A PredictionBackend that answers every call with the same text.
private actor TextBackend: PredictionBackend {
    let text: String
    let metrics: [String: JSONValue]
    var calls: [PredictionCall] = []
    init(text: String, metrics: [String: JSONValue]) { self.text = text; self.metrics = metrics }

    func run(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult {
        calls.append(call)
        return PredictionResult(id: "pred-\(calls.count)", files: [], text: text, metrics: metrics)
    }

    nonisolated func inputSchema(model: String) async throws -> ModelInputSchema { ModelInputSchema(properties: [:], required: []) }
}
