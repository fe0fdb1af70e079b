import Foundation
import ReelCore

/// Provider settings (CONTRACTS.md, "Environment"), filled in by the CLI's configuration (`ReelCLI/Configuration.swift`).
/// Holds secrets: its description and mirror say only which are set.
public struct ProviderSettings: Sendable, CustomStringConvertible, CustomReflectable {
    public var offline = false
    public var registryPath: String?
    public var replicateToken: String?
    public var replicateBaseURL = "https://api.replicate.com"
    public var cogURL: String?
    public var openAIKey: String?
    public var openAIBaseURL: String?
    public var openAIModel: String?
    public var anthropicKey: String?
    public var anthropicBaseURL: String?
    public var anthropicModel: String?

    public init() {}

    public var description: String {
        "ProviderSettings(offline: \(offline), replicate: \(replicateToken != nil), cog: \(cogURL != nil), openAI: \(openAIKey != nil || openAIBaseURL != nil), anthropic: \(anthropicKey != nil))"
    }
    public var customMirror: Mirror { Mirror(self, children: ["summary": description], displayStyle: .struct) }
}

/// Who fills a role and why (`reelsmith doctor`).
public struct RoleAssignment: Codable, Sendable, Hashable {
    public var role: String
    /// `replicate`, `cog`, `openai`, `anthropic` or `offline`.
    public var provider: String
    public var model: String
    public var reason: String
    /// The models tried next, in order, when this one keeps failing.
    public var fallbacks: [String]
}

/// The shipped registry, with the user's file (REELSMITH_REGISTRY) laid over it.
public enum RegistryLoader {
    /// Parsed once per process. The shipped text is checked by a test; a failure here is a build defect, not user input.
    public static let shipped: ModelRegistry =
        (try? ModelRegistry.parse(Data(ShippedRegistry.json.utf8), source: "shipped registry")) ?? ModelRegistry(roles: [:])

    /// The registry in effect and the user's overrides (nil without REELSMITH_REGISTRY).
    public static func load(userFile: String?) throws -> (registry: ModelRegistry, overrides: ModelRegistry?) {
        guard let path = userFile else { return (shipped, nil) }
        try FileCheck.requireRegularFile(path, what: "model registry (REELSMITH_REGISTRY)")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReelError(.badRegistry, "the model registry '\(path)' cannot be read")
        }
        let overrides = try ModelRegistry.parse(data, source: path)
        return (shipped.overlaid(with: overrides), overrides)
    }
}

/// The composition of providers for one run: a backend for every usable registry entry, the LLM planner, and the
/// reasons behind each choice.
public struct ProviderSetup: Sendable {
    public let registry: ModelRegistry
    public let chains: [Role: [RoutedEntry]]
    public let planner: (any StructuredLLM)?
    public let assignments: [RoleAssignment]

    public static func make(settings: ProviderSettings, http: ProviderHTTP = ProviderHTTP()) throws -> ProviderSetup {
        let (registry, overrides) = try RegistryLoader.load(userFile: settings.registryPath)
        var backends: [ProviderKind: any PredictionBackend] = [:]
        if !settings.offline {
            if let token = settings.replicateToken {
                backends[.replicate] = ReplicateClient(token: token, baseURL: settings.replicateBaseURL, http: http)
            }
            if let cog = settings.cogURL { backends[.cog] = CogClient(baseURL: cog, http: http) }
        }
        var chains: [Role: [RoutedEntry]] = [:]
        var assignments: [RoleAssignment] = []
        var planner: (any StructuredLLM)?
        for role in Role.allCases {
            let chain = registry.chain(for: role)
            let routed = chain.compactMap { e in backends[e.provider].map { RoutedEntry(entry: e, backend: $0) } }
            if role.isLLM {
                let (llm, assignment) = llmFor(role: role, chain: chain, explicit: overrides?.roles[role.rawValue] != nil,
                                              routed: routed, settings: settings, registry: registry, http: http)
                if role == .llmPlanner { planner = llm }
                assignments.append(assignment)
                continue
            }
            chains[role] = routed.isEmpty ? nil : routed
            assignments.append(assignment(role: role, chain: chain, routed: routed, settings: settings))
        }
        return ProviderSetup(registry: registry, chains: chains, planner: planner, assignments: assignments)
    }

    /// What an LLM without a known price is metered at ($15 / $75 per million tokens, the top of today's price lists).
    public static let unknownLLMPrice = Pricing(unit: "token", usd: 0, inputPerMillion: 15, outputPerMillion: 75)

    static func offlineFill(_ role: Role) -> String {
        switch role {
        case .imageFast, .imageQuality, .videoDraft, .videoFinal, .videoInterpolate: "procedural"
        case .llmPlanner: "rule-based planner"
        case .llmCritic, .visionCritic: "measured critic"
        case .music: "none (the video uses --audio, or has no music)"
        case .speech: "none"
        case .upscale: "ffmpeg scaling"
        }
    }

    static func assignment(role: Role, chain: [ModelEntry], routed: [RoutedEntry], settings: ProviderSettings) -> RoleAssignment {
        if let first = routed.first {
            let why = first.entry.provider == .replicate ? "REPLICATE_API_TOKEN is set and the registry maps \(role.rawValue) to it"
                                                         : "COG_URL is set and the registry maps \(role.rawValue) to it"
            return RoleAssignment(role: role.rawValue, provider: first.entry.provider.rawValue, model: first.entry.model, reason: why,
                                  fallbacks: routed.dropFirst().map(\.entry.model))
        }
        let reason: String
        if settings.offline { reason = "--offline forces the offline providers" }
        else if chain.isEmpty { reason = "the registry maps no model to \(role.rawValue)" }
        else {
            let needs = Set(chain.map(\.provider)).map { p -> String in
                switch p { case .replicate: "REPLICATE_API_TOKEN"; case .cog: "COG_URL"; default: p.rawValue }
            }.sorted()
            reason = "no provider configured for its models (set \(needs.joined(separator: " or ")))"
        }
        return RoleAssignment(role: role.rawValue, provider: "offline", model: offlineFill(role), reason: reason, fallbacks: [])
    }

    /// LLM roles: an explicit registry entry wins; otherwise Anthropic, then an OpenAI-compatible API, then an LLM on
    /// Replicate, then the offline rules (CONTRACTS.md).
    static func llmFor(role: Role, chain: [ModelEntry], explicit: Bool, routed: [RoutedEntry], settings: ProviderSettings,
                       registry: ModelRegistry, http: ProviderHTTP) -> ((any StructuredLLM)?, RoleAssignment) {
        let offline = RoleAssignment(role: role.rawValue, provider: "offline", model: offlineFill(role),
                                     reason: settings.offline ? "--offline forces the offline providers" : "no LLM is configured (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL, or REPLICATE_API_TOKEN)",
                                     fallbacks: [])
        if settings.offline { return (nil, offline) }
        // A model missing from the price list is metered at a high list price rather than as free, so `--budget` holds.
        func price(_ model: String) -> Pricing { registry.llmPrices?[model] ?? ProviderSetup.unknownLLMPrice }
        func anthropic(_ model: String?, why: String) -> ((any StructuredLLM)?, RoleAssignment)? {
            guard let key = settings.anthropicKey else { return nil }
            let m = model ?? settings.anthropicModel ?? AnthropicClient.defaultModel
            let client = AnthropicClient(baseURL: settings.anthropicBaseURL ?? AnthropicClient.defaultBaseURL, apiKey: key, model: m,
                                         pricing: price(m), http: http)
            return (client, RoleAssignment(role: role.rawValue, provider: "anthropic", model: m, reason: why, fallbacks: ["rule-based planner"]))
        }
        func openAI(_ model: String?, why: String) -> ((any StructuredLLM)?, RoleAssignment)? {
            guard settings.openAIKey != nil || settings.openAIBaseURL != nil else { return nil }
            let m = model ?? settings.openAIModel ?? OpenAIChatClient.defaultModel
            let client = OpenAIChatClient(baseURL: settings.openAIBaseURL ?? OpenAIChatClient.defaultBaseURL, apiKey: settings.openAIKey,
                                          model: m, pricing: price(m), http: http)
            return (client, RoleAssignment(role: role.rawValue, provider: "openai", model: m, reason: why, fallbacks: ["rule-based planner"]))
        }
        func replicate(why: String) -> ((any StructuredLLM)?, RoleAssignment)? {
            guard let first = routed.first, first.entry.provider == .replicate || first.entry.provider == .cog else { return nil }
            return (ReplicateLLM(backend: first.backend, entry: first.entry),
                    RoleAssignment(role: role.rawValue, provider: first.entry.provider.rawValue, model: first.entry.model, reason: why,
                                   fallbacks: ["rule-based planner"]))
        }
        if explicit, let entry = chain.first {
            let why = "the registry file (REELSMITH_REGISTRY) names it"
            switch entry.provider {
            case .anthropic: if let r = anthropic(entry.model, why: why) { return r }
            case .openai: if let r = openAI(entry.model, why: why) { return r }
            case .replicate, .cog: if let r = replicate(why: why) { return r }
            case .offline: return (nil, RoleAssignment(role: role.rawValue, provider: "offline", model: offlineFill(role), reason: why, fallbacks: []))
            }
        }
        if let r = anthropic(nil, why: "ANTHROPIC_API_KEY is set (Anthropic comes first for LLM roles)") { return r }
        if let r = openAI(nil, why: settings.openAIKey != nil ? "OPENAI_API_KEY is set" : "OPENAI_BASE_URL is set") { return r }
        if let r = replicate(why: "REPLICATE_API_TOKEN is set and no Anthropic or OpenAI-compatible API is configured") { return r }
        return (nil, offline)
    }

    /// A model runner over these chains; `shared` is the generation cache a service's machines share (nil: this one's only).
    public func runner(cache: GenerationCache?, useCache: Bool, meter: CostMeter, scratch: String,
                       shared: (any SharedGenerations)? = nil, warn: @escaping @Sendable (String) -> Void) -> ModelRunner {
        ModelRunner(chains: chains, cache: cache, useCache: useCache, meter: meter, scratch: scratch, shared: shared, warn: warn)
    }

    /// The video model that scenes are handed to at a preset, if one is configured.
    public func clipModel(for preset: Preset) -> ClipModel? {
        guard let first = chains[Role.clip(for: preset)]?.first?.entry else { return nil }
        let fixedLength = first.capabilities.durations?.count == 1 && first.capabilities.durationRange == nil
        return ClipModel(provider: first.provider.rawValue, model: first.model, acceptsFirstFrame: first.capabilities.firstFrame == true,
                         longestClip: first.capabilities.maxDuration,
                         pricedPerClip: fixedLength && ["video", "run"].contains(first.price.unit))
    }
}
