import Foundation
import ReelCore
import ReelProviders

/// The `llm.planner` role: a language model plans the scenes on the cut candidates our analysis offers, and the
/// rule-based planner takes over whenever that does not give a usable plan.
///
/// A run never fails because of the LLM: a budget refusal, a provider error (auth included) or two unusable answers
/// give the rule-based plan and a warning. Only cancellation propagates.
public struct LLMPlanner: Sendable {
    public let llm: any StructuredLLM
    public let meter: CostMeter
    public let fallback: RulePlanner
    /// Hears passing notes that do not belong in the result (a first answer was unusable and the model is asked again).
    /// The warnings about the outcome (the rule-based plan was used, and why) are returned by `plan`, not sent here,
    /// so a caller that reports the returned warnings reports each once.
    public let warn: @Sendable (String) -> Void
    /// Keeps usable answers, keyed by the model, the whole request and the seed, so the same run planned again gets the
    /// same plan (and so the same cached generations) without paying for the LLM again. Nil: no cache.
    public let cache: GenerationCache?

    /// Sampling temperature: low, so a seed and the same inputs give nearly the same plan.
    public static let temperature = 0.2
    /// The ledger role.
    public static let role = Role.llmPlanner.rawValue

    public init(llm: any StructuredLLM, meter: CostMeter, fallback: RulePlanner = RulePlanner(), cache: GenerationCache? = nil,
                warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.llm = llm; self.meter = meter; self.fallback = fallback; self.cache = cache; self.warn = warn
    }

    /// Plans a video of `duration` seconds beginning `songStart` seconds into the song.
    ///
    /// - Parameter maxSceneSeconds: the video model's longest clip; nil when scenes are not limited.
    /// - Returns: the plan (the LLM's, or the rule-based one) and the warnings raised on the way.
    public func plan(brief: Brief, analysis: AudioAnalysis?, songStart: Double, duration: Double, seed: UInt64,
                     media: [MediaItem] = [], maxSceneSeconds: Double? = nil) async throws -> (plan: Plan, warnings: [String]) {
        let context = PlanDraft.Context(brief: brief, analysis: analysis, songStart: songStart, duration: duration, seed: seed,
                                        media: media, maxSceneSeconds: maxSceneSeconds)
        var request = LLMRequest(system: PlanDraft.systemPrompt, messages: [.user(PlanDraft.request(context))],
                                 schemaName: PlanDraft.schemaName, schema: PlanDraft.schema(sceneCount: context.sceneCount),
                                 maxTokens: Self.maxTokens(sceneCount: context.sceneCount), temperature: Self.temperature)
        let ruleBased = { (why: String) -> (plan: Plan, warnings: [String]) in
            let warning = why + "; using the rule-based plan"
            return (fallback.plan(brief: brief, analysis: analysis, songStart: songStart, duration: duration, seed: seed, media: media), [warning])
        }
        let key = cacheKey(request, seed: seed)
        if let key, let hit = cache?.lookup(key), let text = hit.record.text,
           let plan = try? PlanDraft.validate(answer: Data(text.utf8), context: context) {
            await meter.record(CostEntry(role: Self.role, provider: llm.provider.rawValue, model: llm.model, scene: nil, units: 0, unit: "token",
                                         unitPrice: 0, cacheHit: true, predictionId: hit.record.predictionId, at: Date(),
                                         kind: OutputKind.text.rawValue, status: "succeeded"))
            return (plan, [])
        }
        var attempt = 0
        while true {
            attempt += 1
            let reservation: CostMeter.Reservation, response: LLMResponse
            do {
                (reservation, response) = try await call(request)
            } catch let error as ReelError {
                switch error.code {
                case .budgetExceeded: return ruleBased("the LLM planner was not asked: \(error.message)")
                case .providerAuth: return ruleBased("the LLM planner (\(llm.label)) could not be used: \(error.message)")
                default: return ruleBased("the LLM planner (\(llm.label)) failed: \(error.message)")
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                return ruleBased("the LLM planner (\(llm.label)) failed: \(error)")
            }
            do {
                let plan = try PlanDraft.validate(answer: Data(response.text.utf8), context: context)
                await settle(reservation, response, usable: true)
                if let key {
                    try? cache?.store(key: key, provider: llm.provider, model: llm.model,
                                      result: PredictionResult(id: response.id ?? "", files: [], text: response.text, metrics: [:]))
                }
                return (plan, [])
            } catch let error as PlanDraftError {
                await settle(reservation, response, usable: false)
                guard attempt < 2 else { return ruleBased("the LLM planner's answer was not usable (\(error.message))") }
                // One more try, with the bad answer and what is wrong with it in the conversation.
                warn("the LLM planner's answer was not usable (\(error.message)); asking it once more")
                request.messages += [.assistant(response.text), .user(Self.correction(error))]
            }
        }
    }

    /// The first request's cache key: provider, model, system prompt, messages, schema, allowance and the seed.
    func cacheKey(_ request: LLMRequest, seed: UInt64) -> String? {
        let input: [String: JSONValue] = [
            "system": .string(request.system), "messages": .array(request.messages.map { .string("\($0.role.rawValue): \($0.text)") }),
            "schema": request.schema, "maxTokens": .number(Double(request.maxTokens)), "temperature": .number(request.temperature)]
        return try? GenerationCache.key(provider: llm.provider, model: llm.model, input: input, files: [:], seed: seed)
    }

    /// Reserves the call's estimated price on the meter (input ≈ characters / 4, output = the allowance), then calls.
    /// A call that fails gives its reservation back.
    func call(_ request: LLMRequest) async throws -> (CostMeter.Reservation, LLMResponse) {
        let estimate = llm.pricing.tokenCost(input: request.estimatedInputTokens, output: request.maxTokens)
        let reservation = try await meter.reserve(estimate, for: "the LLM planner (\(llm.label))")
        do {
            return (reservation, try await llm.complete(request))
        } catch {
            await meter.release(reservation)
            throw error
        }
    }

    /// Replaces the reservation by the call's ledger entry, priced from the tokens the provider reports. An answer that
    /// could not be used is still paid for; its status is `failed`.
    func settle(_ reservation: CostMeter.Reservation, _ response: LLMResponse, usable: Bool) async {
        let units = response.inputTokens + response.outputTokens
        let cost = llm.pricing.tokenCost(input: response.inputTokens, output: response.outputTokens)
        await meter.settle(reservation, with: CostEntry(
            role: Self.role, provider: llm.provider.rawValue, model: llm.model, scene: nil, units: Double(units), unit: "token",
            unitPrice: units > 0 ? cost / Double(units) : 0, cacheHit: false, predictionId: response.id, at: Date(),
            kind: OutputKind.text.rawValue, status: usable ? "succeeded" : "failed", cost: cost,
            inputTokens: response.inputTokens, outputTokens: response.outputTokens))
    }

    /// The answer's token allowance: room for every scene the schema allows (~100 tokens each) and the JSON around them.
    static func maxTokens(sceneCount: ClosedRange<Int>) -> Int {
        min(16_000, max(1_024, 300 + 100 * sceneCount.upperBound))
    }

    static func correction(_ error: PlanDraftError) -> String {
        "That answer cannot be used: \(error.message). Scenes are numbered from 1 in the order you gave them. "
            + "Answer again with one complete JSON object {\"scenes\": [...]} that follows every rule of the first message."
    }
}
