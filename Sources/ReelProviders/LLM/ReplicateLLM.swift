import Foundation
import ReelCore

/// A language model run as a prediction on a model server (Replicate, or Cog), described by a registry entry.
///
/// Such models take one prompt (and often a system prompt) and answer with text, so the schema travels in the system
/// prompt and the answer is the first JSON object found in the text. Request fields map onto the model's inputs
/// through `entry.inputs` (`prompt`, `system`, `maxTokens`, `temperature`); `entry.fixed` inputs are sent as they are.
public struct ReplicateLLM: StructuredLLM {
    public let backend: any PredictionBackend
    public let entry: ModelEntry
    /// Required by `PredictionCall`; text outputs write nothing there.
    public let outputDirectory: String

    public init(backend: any PredictionBackend, entry: ModelEntry, outputDirectory: String = NSTemporaryDirectory()) {
        self.backend = backend; self.entry = entry; self.outputDirectory = outputDirectory
    }

    public var provider: ProviderKind { entry.provider }
    public var model: String { entry.model }
    public var pricing: Pricing { entry.price }

    public func complete(_ request: LLMRequest) async throws -> LLMResponse {
        guard let promptInput = entry.inputs["prompt"] else {
            throw ReelError(.badRegistry, "the model registry entry for '\(entry.label)' maps no input to 'prompt'")
        }
        let system = request.system + "\n\n" + request.schemaInstruction
        var prompt = Self.transcript(request.messages)
        var input = entry.fixed ?? [:]
        if let name = entry.inputs["system"] { input[name] = .string(system) } else { prompt = system + "\n\n" + prompt }
        input[promptInput] = .string(prompt)
        if let name = entry.inputs["maxTokens"] { input[name] = .number(Double(request.maxTokens)) }
        if let name = entry.inputs["temperature"] { input[name] = .number(request.temperature) }

        let result = try await backend.run(PredictionCall(model: entry.model, input: input, expectedOutput: .text,
                                                          outputDirectory: outputDirectory), observer: IgnoringObserver())
        guard let raw = result.text, !raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ReelError(.providerFailed, "the model '\(entry.label)' answered no text (prediction \(result.id))")
        }
        // No object at all: hand the text on as it is, for the caller to judge (and to show the model its mistake).
        let text = firstJSONObject(in: raw) ?? raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let estimatedInput = (system.count + prompt.count + 3) / 4
        return LLMResponse(text: text,
                           inputTokens: result.metrics["input_token_count"]?.intValue ?? estimatedInput,
                           outputTokens: result.metrics["output_token_count"]?.intValue ?? (raw.count + 3) / 4,
                           id: result.id)
    }

    /// The conversation as one prompt: the first message alone as it is; a longer one as a labelled transcript.
    static func transcript(_ messages: [LLMMessage]) -> String {
        if messages.count == 1 { return messages[0].text }
        return messages.map { ($0.role == .user ? "User: " : "Assistant: ") + $0.text }.joined(separator: "\n\n") + "\n\nAssistant:"
    }
}

/// Nothing to record: an LLM call is cheap and not resumed.
private struct IgnoringObserver: PredictionObserver {
    func created(predictionId: String) async throws {}
}
