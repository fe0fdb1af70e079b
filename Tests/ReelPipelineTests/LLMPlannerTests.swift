import Foundation
import Synchronization
import Testing
import ReelCore
import ReelProviders
import ReelTestSupport
@testable import ReelPipeline

/// A StructuredLLM that plays back answers in order and records what it was asked.
private struct ScriptedLLM: StructuredLLM {
    enum Step: Sendable { case answer(String), fail(ReelError), cancel }
    actor Script {
        var steps: [Step]
        var requests: [LLMRequest] = []
        init(_ steps: [Step]) { self.steps = steps }
        func next(_ request: LLMRequest) -> Step {
            requests.append(request)
            return steps.isEmpty ? .fail(ReelError(.internalError, "the test gave no answer for call \(requests.count)")) : steps.removeFirst()
        }
    }
    let script: Script
    var provider: ProviderKind { .anthropic }
    var model: String { "claude-test" }
    let pricing: Pricing

    init(_ steps: [Step], pricing: Pricing = Pricing(unit: "token", usd: 0, inputPerMillion: 3, outputPerMillion: 15)) {
        self.script = Script(steps); self.pricing = pricing
    }

    func complete(_ request: LLMRequest) async throws -> LLMResponse {
        let n = await script.requests.count + 1
        switch await script.next(request) {
        case .answer(let text): return LLMResponse(text: text, inputTokens: 1200, outputTokens: 300, id: "msg_\(n)")
        case .fail(let error): throw error
        case .cancel: throw CancellationError()
        }
    }
}

/// Collects the notes an LLMPlanner passes to `warn`.
private final class Notes: Sendable {
    private let stored = Mutex<[String]>([])
    func add(_ s: String) { stored.withLock { $0.append(s) } }
    var all: [String] { stored.withLock { $0 } }
}

@Suite("LLM planner")
struct LLMPlannerTests {
    let brief: Brief
    let analysis: AudioAnalysis
    let context: PlanDraft.Context

    init() throws {
        brief = try PromptParser().parse("neon city at night, rain, synthwave")
        let beats = Fixtures.beats(bpm: 120, duration: 60)
        let downbeats = beats.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        analysis = AudioAnalysis(duration: 60, steady: true, tempo: 120, beats: beats, downbeats: downbeats, meter: .fourFour,
                                 sections: [Section(start: 0, end: 16.5, label: "A"), Section(start: 16.5, end: 60, label: "B")],
                                 energy: EnergyCurve(hop: 0.5, values: Array(repeating: 0.5, count: 120)), onsets: beats, peakDBFS: -3)
        context = PlanDraft.Context(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 9)
    }

    /// A valid answer for `context`: a cut at the first candidate at least 3.5 s after the previous one.
    var goodAnswer: String {
        var ends: [Double] = []
        var t = 0.0
        for c in context.candidates where c.time - t >= 3.5 && context.duration - c.time >= 2 { ends.append(c.time); t = c.time }
        ends.append(context.duration)
        return "{\"scenes\": [" + ends.enumerated().map { i, e in
            "{\"end\": \(e), \"content\": \"shot \(i + 1) of the neon city\", \"transition\": \"dissolve\"}"
        }.joined(separator: ", ") + "]}"
    }

    private func run(_ llm: ScriptedLLM, budget: Double? = nil, notes: Notes = Notes()) async throws -> (plan: Plan, warnings: [String], meter: CostMeter) {
        let meter = CostMeter(budget: budget)
        let planner = LLMPlanner(llm: llm, meter: meter, fallback: RulePlanner(), warn: { notes.add($0) })
        let (plan, warnings) = try await planner.plan(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 9)
        return (plan, warnings, meter)
    }

    var rulePlan: Plan { RulePlanner().plan(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 9) }

    @Test func aGoodAnswerGivesTheLLMPlanAndALedgerEntry() async throws {
        let llm = ScriptedLLM([.answer(goodAnswer)])
        let (plan, warnings, meter) = try await run(llm)
        try plan.validate()
        #expect(warnings.isEmpty)
        #expect(plan.seed == 9)
        #expect(plan.scenes.allSatisfy { $0.reason.hasPrefix("llm plan; ") && $0.content.hasPrefix("shot ") })
        let requests = await llm.script.requests
        #expect(requests.count == 1)
        let request = try #require(requests.first)
        #expect(request.system == PlanDraft.systemPrompt)
        #expect(request.messages == [.user(PlanDraft.request(context))])
        #expect(request.temperature == 0.2 && request.schemaName == PlanDraft.schemaName)
        #expect(request.schema == PlanDraft.schema(sceneCount: context.sceneCount))
        let ledger = await meter.ledger
        let entry = try #require(ledger.entries.first)
        #expect(ledger.entries.count == 1)
        #expect(entry.role == "llm.planner" && entry.provider == "anthropic" && entry.model == "claude-test" && entry.scene == nil)
        #expect(entry.units == 1500 && entry.unit == "token" && entry.kind == "text" && entry.status == "succeeded")
        #expect(entry.inputTokens == 1200 && entry.outputTokens == 300 && entry.predictionId == "msg_1")
        let cost = (1200 * 3.0 + 300 * 15.0) / 1_000_000
        #expect(abs(entry.cost - CostLedger.round(cost)) < 1e-12)
        #expect(abs(entry.unitPrice - cost / 1500) < 1e-15)
    }

    @Test func aUsablePlanIsCachedSoTheSameRunPlansAlikeForFree() async throws {
        let dir = try Fixtures.temporaryDirectory("llm-cache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = GenerationCache(root: dir)
        let llm = ScriptedLLM([.answer(goodAnswer)])
        let first = try await LLMPlanner(llm: llm, meter: CostMeter(budget: nil), cache: cache)
            .plan(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 9)
        let meter = CostMeter(budget: nil)
        let again = try await LLMPlanner(llm: llm, meter: meter, cache: cache)
            .plan(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 9)
        #expect(again.plan == first.plan)
        let calls = await llm.script.requests.count
        #expect(calls == 1, "the second plan came from the cache")
        let ledger = await meter.ledger
        #expect(ledger.entries.count == 1 && ledger.entries[0].cacheHit && ledger.total == 0)
        // Another seed is another request.
        _ = try await LLMPlanner(llm: llm, meter: CostMeter(budget: nil), cache: cache)
            .plan(brief: brief, analysis: analysis, songStart: 0, duration: 30, seed: 10)
        let callsAfter = await llm.script.requests.count
        #expect(callsAfter == 2)
    }

    @Test func aMalformedFirstAnswerIsCorrectedOnce() async throws {
        let llm = ScriptedLLM([.answer("{\"scenes\": [{\"end\": \"soon\"}]}"), .answer(goodAnswer)])
        let notes = Notes()
        let (plan, warnings, meter) = try await run(llm, notes: notes)
        #expect(plan.scenes.allSatisfy { $0.reason.hasPrefix("llm plan; ") })
        #expect(warnings.isEmpty)
        let requests = await llm.script.requests
        #expect(requests.count == 2)
        let second = try #require(requests.last).messages
        #expect(second.map(\.role) == [.user, .assistant, .user])
        #expect(second[1].text == "{\"scenes\": [{\"end\": \"soon\"}]}")
        #expect(second[2].text.contains("scene 1 has no \"content\""))
        #expect(notes.all.count == 1 && notes.all[0].contains("asking it once more"))
        let statuses = await meter.ledger.entries.map(\.status)
        #expect(statuses.sorted { ($0 ?? "") < ($1 ?? "") } == ["failed", "succeeded"])
    }

    @Test func twoUnusableAnswersGiveTheRulePlanAndAWarning() async throws {
        let llm = ScriptedLLM([.answer("I think the video should be lovely."), .answer("{\"scenes\": []}")])
        let (plan, warnings, meter) = try await run(llm)
        #expect(plan == rulePlan)
        #expect(warnings == ["the LLM planner's answer was not usable (the answer has no scenes); using the rule-based plan"])
        #expect(await llm.script.requests.count == 2)
        #expect(await meter.ledger.entries.count == 2)
    }

    @Test func providerErrorsGiveTheRulePlanAndAWarning() async throws {
        for (error, expected) in [
            (ReelError(.providerUnavailable, "Anthropic could not be used after 5 attempts (last: HTTP 529)"), "failed: Anthropic could not be used"),
            (ReelError(.providerFailed, "Anthropic answered something that is not a message"), "failed: Anthropic answered"),
            (ReelError(.providerRejected, "Anthropic rejected the request (HTTP 400): bad"), "failed: Anthropic rejected"),
            (ReelError(.providerAuth, "Anthropic refused the API key (HTTP 401)"), "could not be used: Anthropic refused the API key"),
        ] {
            let (plan, warnings, meter) = try await run(ScriptedLLM([.fail(error)]))
            #expect(plan == rulePlan)
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains(expected) == true, "\(warnings)")
            #expect(warnings.first?.hasSuffix("; using the rule-based plan") == true)
            #expect(await meter.ledger.entries.isEmpty)
            #expect(await meter.spent == 0)
        }
    }

    @Test func aBudgetTooSmallMakesNoCall() async throws {
        let llm = ScriptedLLM([.answer(goodAnswer)])
        let (plan, warnings, meter) = try await run(llm, budget: 0.001)
        #expect(plan == rulePlan)
        #expect(await llm.script.requests.isEmpty)
        #expect(warnings.count == 1 && warnings[0].contains("budget") && warnings[0].hasPrefix("the LLM planner was not asked"))
        #expect(await meter.ledger.entries.isEmpty)
    }

    @Test func endToEndOverHTTPWithACorrection() async throws {
        // Anthropic: a good first answer. OpenAI-compatible: prose first, then a good answer once corrected.
        let good = goodAnswer
        for dialect in [FakeLLM.Dialect.anthropic, .openAI] {
            let fake = try await FakeLLM.start(dialect, apiKey: "key-1") { request in
                dialect == .anthropic || request.messages.count > 1 ? good : "Here is a lovely plan: neon, rain, more neon."
            }
            let retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.02)
            let pricing = Pricing(unit: "token", usd: 0, inputPerMillion: 3, outputPerMillion: 15)
            let llm: any StructuredLLM = dialect == .anthropic
                ? AnthropicClient(baseURL: fake.baseURL, apiKey: "key-1", model: "claude-sonnet-4-5", pricing: pricing, retry: retry)
                : OpenAIChatClient(baseURL: fake.baseURL + "/v1", apiKey: "key-1", model: "gpt-4o-mini", pricing: pricing, retry: retry)
            let meter = CostMeter(budget: 1)
            let (plan, warnings) = try await LLMPlanner(llm: llm, meter: meter).plan(brief: brief, analysis: analysis, songStart: 0,
                                                                                      duration: 30, seed: 9)
            try plan.validate()
            #expect(warnings.isEmpty)
            #expect(plan.scenes.allSatisfy { $0.reason.hasPrefix("llm plan; ") })
            #expect(await fake.calls == (dialect == .anthropic ? 1 : 2))
            let entries = await meter.ledger.entries
            #expect(entries.count == (dialect == .anthropic ? 1 : 2))
            #expect(entries.allSatisfy { $0.role == "llm.planner" && ($0.inputTokens ?? 0) > 0 && ($0.outputTokens ?? 0) > 0 && $0.cost > 0 })
            #expect(entries.last?.provider == (dialect == .anthropic ? "anthropic" : "openai"))
            await fake.shutdown()
        }
    }

    @Test func cancellationPropagates() async throws {
        await #expect(throws: CancellationError.self) { _ = try await run(ScriptedLLM([.cancel])) }
    }
}
