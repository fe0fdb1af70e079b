import Foundation

/// What code asks for instead of a model (DESIGN.md, "Provider roles").
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case imageFast = "image.fast"
    case imageQuality = "image.quality"
    case videoDraft = "video.draft"
    case videoFinal = "video.final"
    case videoInterpolate = "video.interpolate"
    case music
    case speech
    case llmPlanner = "llm.planner"
    case llmCritic = "llm.critic"
    case visionCritic = "vision.critic"
    case upscale

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }

    /// Looks a role up by its name; throws `.unknownRole` listing the known ones.
    public static func named(_ name: String) throws -> Role {
        guard let role = Role(rawValue: name) else {
            throw ReelError(.unknownRole, "unknown role '\(name)'; known roles: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }

    public var isLLM: Bool { self == .llmPlanner || self == .llmCritic || self == .visionCritic }

    /// The image and video roles a preset uses for keyframes and clips.
    public static func keyframe(for preset: Preset) -> Role { preset == .final ? .imageQuality : .imageFast }
    public static func clip(for preset: Preset) -> Role { preset == .final ? .videoFinal : .videoDraft }
}

/// Which service runs a model.
public enum ProviderKind: String, Codable, Sendable, CaseIterable {
    case replicate, cog, openai, anthropic, offline
}

/// What a model gives back.
public enum OutputKind: String, Codable, Sendable {
    case video, image, audio, text
}

/// How a model is paid for, and the price of one unit.
public struct Pricing: Codable, Sendable, Hashable {
    /// `second` (of output media), `video`, `image`, `run`, `token`, `character` or `gpu-second`.
    public var unit: String
    /// US dollars per unit (for `token`, unused: see the per-million prices).
    public var usd: Double
    /// Prices that depend on the requested resolution (`"720p": 0.11`), replacing `usd`.
    public var byResolution: [String: Double]?
    /// For `token`: dollars per million input and output tokens.
    public var inputPerMillion: Double?
    public var outputPerMillion: Double?

    public init(unit: String, usd: Double, byResolution: [String: Double]? = nil, inputPerMillion: Double? = nil, outputPerMillion: Double? = nil) {
        self.unit = unit; self.usd = usd; self.byResolution = byResolution
        self.inputPerMillion = inputPerMillion; self.outputPerMillion = outputPerMillion
    }

    /// The price of one unit at a resolution.
    public func unitPrice(resolution: String?) -> Double {
        resolution.flatMap { byResolution?[$0] } ?? usd
    }

    /// The cost of a token-priced call.
    public func tokenCost(input: Int, output: Int) -> Double {
        (Double(input) * (inputPerMillion ?? 0) + Double(output) * (outputPerMillion ?? 0)) / 1_000_000
    }
}

/// What a model can be asked for; Reelsmith adapts its requests to these.
public struct Capabilities: Codable, Sendable, Hashable {
    /// Accepts a first frame (image-to-video), and whether it must have one.
    public var firstFrame: Bool?
    public var firstFrameRequired: Bool?
    /// Accepts a last frame (keyframe interpolation).
    public var lastFrame: Bool?
    /// Clip lengths the model makes, seconds (an enum), or a range given by `durationRange`.
    public var durations: [Double]?
    public var durationRange: [Double]?
    /// Aspect ratios it accepts ("16:9"); nil when it follows the first frame.
    public var aspectRatios: [String]?
    /// The resolution value to ask for at each preset (`"draft": "480p"`).
    public var resolutions: [String: String]?
    public var seed: Bool?

    public init(firstFrame: Bool? = nil, firstFrameRequired: Bool? = nil, lastFrame: Bool? = nil, durations: [Double]? = nil,
                durationRange: [Double]? = nil, aspectRatios: [String]? = nil, resolutions: [String: String]? = nil, seed: Bool? = nil) {
        self.firstFrame = firstFrame; self.firstFrameRequired = firstFrameRequired; self.lastFrame = lastFrame
        self.durations = durations; self.durationRange = durationRange; self.aspectRatios = aspectRatios
        self.resolutions = resolutions; self.seed = seed
    }

    /// The longest clip the model makes in one call, if it says.
    public var maxDuration: Double? { durationRange?.last ?? durations?.max() }

    /// The clip length to ask for a scene of `seconds`: the shortest the model offers that covers it, else its longest.
    /// A clip up to a quarter shorter than the scene is preferred to one twice its price (the clip is slowed to fit).
    public func duration(toCover seconds: Double) -> Double? {
        if let range = durationRange, range.count == 2 {
            return min(max(seconds.rounded(.up), range[0]), range[1])
        }
        guard let options = durations?.sorted(), !options.isEmpty else { return nil }
        if let shorter = options.last(where: { $0 < seconds - 1e-6 }), seconds / shorter <= Self.acceptableStretch { return shorter }
        return options.first(where: { $0 >= seconds - 1e-6 }) ?? options.last
    }

    /// How much a clip may be slowed to fill its scene before a longer clip is worth its price.
    public static let acceptableStretch = 1.25
}

/// One concrete model that can fill a role: where it runs, how Reelsmith's request maps onto its inputs, what it costs.
public struct ModelEntry: Codable, Sendable, Hashable {
    public var provider: ProviderKind
    /// `owner/name` (official model), `owner/name:version`, `deployments/owner/name`, or a name for Cog and LLM APIs.
    public var model: String
    public var output: OutputKind
    /// Reelsmith's request field → the model's input name. Fields: prompt, negativePrompt, firstFrame, lastFrame,
    /// duration, aspectRatio, resolution, seed, system, maxTokens, temperature, image (for vision/upscale).
    public var inputs: [String: String]
    /// Inputs sent as they are (`"go_fast": true`).
    public var fixed: [String: JSONValue]?
    public var capabilities: Capabilities
    public var price: Pricing
    public var notes: String?

    public init(provider: ProviderKind, model: String, output: OutputKind, inputs: [String: String], fixed: [String: JSONValue]? = nil,
                capabilities: Capabilities = Capabilities(), price: Pricing, notes: String? = nil) {
        self.provider = provider; self.model = model; self.output = output; self.inputs = inputs; self.fixed = fixed
        self.capabilities = capabilities; self.price = price; self.notes = notes
    }

    enum CodingKeys: String, CodingKey { case provider, model, output, inputs, fixed, capabilities, price, notes }

    /// `capabilities` and `fixed` may be left out of a registry file.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        provider = try c.decode(ProviderKind.self, forKey: .provider)
        model = try c.decode(String.self, forKey: .model)
        output = try c.decode(OutputKind.self, forKey: .output)
        inputs = try c.decode([String: String].self, forKey: .inputs)
        fixed = try c.decodeIfPresent([String: JSONValue].self, forKey: .fixed)
        capabilities = try c.decodeIfPresent(Capabilities.self, forKey: .capabilities) ?? Capabilities()
        price = try c.decode(Pricing.self, forKey: .price)
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
    }

    /// `provider:model`, as shown to people and written in ledgers.
    public var label: String { "\(provider.rawValue):\(model)" }
}

/// Roles mapped to models with fallback chains: the shipped file, with a user's file laid over it.
public struct ModelRegistry: Codable, Sendable, Hashable {
    public var version: Int
    /// Each role's chain: the first entry is tried first, the others in order when it keeps failing.
    public var roles: [String: [ModelEntry]]
    /// Prices per million tokens for models called on the Anthropic and OpenAI APIs, by model name.
    public var llmPrices: [String: Pricing]?

    public init(version: Int = 1, roles: [String: [ModelEntry]], llmPrices: [String: Pricing]? = nil) {
        self.version = version; self.roles = roles; self.llmPrices = llmPrices
    }

    /// The chain for a role (empty when the registry maps nothing to it).
    public func chain(for role: Role) -> [ModelEntry] { roles[role.rawValue] ?? [] }

    /// Parses a registry file; unknown roles or an empty chain are errors that name the file.
    public static func parse(_ data: Data, source: String) throws -> ModelRegistry {
        let registry: ModelRegistry
        do { registry = try JSONDecoder().decode(ModelRegistry.self, from: data) } catch {
            throw ReelError(.badRegistry, "the model registry '\(source)' is not valid: \(Self.describe(error))")
        }
        for (name, chain) in registry.roles {
            guard Role(rawValue: name) != nil else {
                throw ReelError(.badRegistry, "the model registry '\(source)' names an unknown role '\(name)'; known roles: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard !chain.isEmpty else { throw ReelError(.badRegistry, "the model registry '\(source)' gives role '\(name)' no model") }
            for entry in chain where entry.model.trimmingCharacters(in: .whitespaces).isEmpty {
                throw ReelError(.badRegistry, "the model registry '\(source)' has an entry for '\(name)' without a model name")
            }
        }
        return registry
    }

    /// This registry with `overrides` laid over it: a role the overrides name gets their chain; prices are merged.
    public func overlaid(with overrides: ModelRegistry) -> ModelRegistry {
        var out = self
        for (role, chain) in overrides.roles { out.roles[role] = chain }
        if let prices = overrides.llmPrices { out.llmPrices = (out.llmPrices ?? [:]).merging(prices) { $1 } }
        return out
    }

    /// Finds an entry by model name (`owner/name` or `provider:model`) in any chain.
    public func entry(named name: String) throws -> (Role, ModelEntry) {
        for role in Role.allCases {
            if let e = chain(for: role).first(where: { $0.model == name || $0.label == name }) { return (role, e) }
        }
        throw ReelError(.unknownModel, "no role in the model registry uses the model '\(name)'")
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx): return "missing '\(key.stringValue)' at \(path(ctx))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx): return "\(ctx.debugDescription) at \(path(ctx))"
        case DecodingError.dataCorrupted(let ctx): return ctx.codingPath.isEmpty ? "it is not JSON" : "\(ctx.debugDescription) at \(path(ctx))"
        default: return "\(error)"
        }
    }

    static func path(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.isEmpty ? "the top level" : ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
