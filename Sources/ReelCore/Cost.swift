import Foundation

/// One metered call to a provider (CONTRACTS.md, manifest `cost.entries`).
public struct CostEntry: Codable, Sendable, Hashable {
    public var role: String
    public var provider: String
    public var model: String
    public var scene: Int?
    public var units: Double
    public var unit: String
    public var unitPrice: Double
    public var cost: Double
    public var cacheHit: Bool
    public var predictionId: String?
    public var at: Date
    /// What the call made: `video`, `image`, `audio` or `text` (costs are grouped by it).
    public var kind: String?
    /// `succeeded`, or `failed` for a call that ended without a usable result (charged only if the provider charges).
    public var status: String?
    /// For token-priced calls: the tokens read and written.
    public var inputTokens: Int?
    public var outputTokens: Int?

    /// `cost` defaults to units × unitPrice (0 for a cache hit); token-priced calls pass their own.
    public init(role: String, provider: String, model: String, scene: Int?, units: Double, unit: String,
                unitPrice: Double, cacheHit: Bool, predictionId: String?, at: Date, kind: String? = nil,
                status: String? = nil, cost: Double? = nil, inputTokens: Int? = nil, outputTokens: Int? = nil) {
        self.role = role; self.provider = provider; self.model = model; self.scene = scene; self.units = units
        self.unit = unit; self.unitPrice = unitPrice; self.cacheHit = cacheHit; self.predictionId = predictionId
        self.at = at; self.kind = kind; self.status = status; self.inputTokens = inputTokens; self.outputTokens = outputTokens
        self.cost = cacheHit ? 0 : CostLedger.round(cost ?? units * unitPrice)
    }
}

/// Every metered call of a run, with totals. Amounts are rounded to 1/10,000 of a dollar.
public struct CostLedger: Codable, Sendable, Hashable {
    public var currency: String
    public var entries: [CostEntry]

    public init(entries: [CostEntry] = []) { self.currency = "USD"; self.entries = entries }

    public var total: Double { Self.round(entries.reduce(0) { $0 + $1.cost }) }

    /// Cost per scene index.
    public var byScene: [Int: Double] {
        var out: [Int: Double] = [:]
        for e in entries { if let s = e.scene { out[s, default: 0] += e.cost } }
        return out.mapValues(Self.round)
    }

    public mutating func append(_ entry: CostEntry) { entries.append(entry) }

    public static func round(_ amount: Double) -> Double { (amount * 10_000).rounded() / 10_000 }

    /// Per-scene totals as written in the manifest.
    public struct SceneTotal: Codable, Sendable, Hashable { public var scene: Int; public var cost: Double }

    enum CodingKeys: String, CodingKey { case currency, total, byScene, entries }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        currency = try c.decode(String.self, forKey: .currency)
        entries = try c.decode([CostEntry].self, forKey: .entries)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(currency, forKey: .currency)
        try c.encode(total, forKey: .total)
        try c.encode(byScene.sorted { $0.key < $1.key }.map { SceneTotal(scene: $0.key, cost: $0.value) }, forKey: .byScene)
        try c.encode(entries, forKey: .entries)
    }
}
