import Foundation
import ReelCore
import Synchronization
import Testing
@testable import ReelProviders

@Suite("Cost meter, generation cache and shipped registry")
struct GenerationTests {
    func entry(_ role: String, at: Double = 0, cost: Double) -> CostEntry {
        CostEntry(role: role, provider: "replicate", model: "m", scene: 0, units: 1, unit: "video", unitPrice: cost, cacheHit: false,
                  predictionId: "p", at: Date(timeIntervalSince1970: at))
    }

    @Test func aCallThatWouldPassTheBudgetIsRefusedBeforeItIsMade() async throws {
        let warnings = Mutex<[String]>([])
        let meter = CostMeter(budget: 0.10, warn: { w in warnings.withLock { $0.append(w) } })
        let a = try await meter.reserve(0.05, for: "clip 1")
        // Open reservations count: two calls in flight cannot both squeeze under the limit.
        let b = try await meter.reserve(0.04, for: "clip 2")
        await #expect(throws: ReelError.self) { try await meter.reserve(0.02, for: "clip 3") }
        await meter.settle(a, with: entry("video.draft", cost: 0.05))
        #expect(warnings.withLock { $0.count } == 1, "half the budget is spent: one warning")
        await meter.release(b)
        let c = try await meter.reserve(0.05, for: "clip 3")
        await meter.settle(c, with: entry("video.draft", at: 1, cost: 0.05))
        do {
            _ = try await meter.reserve(0.001, for: "clip 4")
            Issue.record("the budget is spent; the call must be refused")
        } catch let e as ReelError {
            #expect(e.code == .budgetExceeded)
            #expect(e.message.contains("$0.10"))
        }
        let total = await meter.ledger.total
        #expect(total == 0.10)
        #expect(warnings.withLock { $0.count } == 1, "the half-way warning is given once")
        let free = CostMeter(budget: nil)
        _ = try await free.reserve(1000, for: "anything")
    }

    @Test func theCacheKeyHashesFilesByContentAndIncludesTheSeed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reel-cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.png", b = dir + "/renamed.png", c = dir + "/other.png"
        try Data("same bytes".utf8).write(to: URL(fileURLWithPath: a))
        try Data("same bytes".utf8).write(to: URL(fileURLWithPath: b))
        try Data("other bytes".utf8).write(to: URL(fileURLWithPath: c))
        let input: [String: JSONValue] = ["prompt": "rain", "num_frames": 81]
        let k1 = try GenerationCache.key(provider: .replicate, model: "w/x", input: input, files: ["image": [a]], seed: 7)
        #expect(k1 == (try GenerationCache.key(provider: .replicate, model: "w/x", input: input, files: ["image": [b]], seed: 7)))
        #expect(k1 != (try GenerationCache.key(provider: .replicate, model: "w/x", input: input, files: ["image": [c]], seed: 7)))
        #expect(k1 != (try GenerationCache.key(provider: .replicate, model: "w/x", input: input, files: ["image": [a]], seed: 8)))
        #expect(k1 != (try GenerationCache.key(provider: .replicate, model: "w/x:v2", input: input, files: ["image": [a]], seed: 7)))
        #expect(k1 != (try GenerationCache.key(provider: .cog, model: "w/x", input: input, files: ["image": [a]], seed: 7)))
    }

    @Test func aStoredGenerationSurvivesAndAnIncompleteOneIsAMiss() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reel-cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = GenerationCache(root: dir + "/cache")
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: dir + "/out/clip.mp4"))
        #expect(cache.lookup("k1") == nil)
        let hit = try cache.store(key: "k1", provider: .replicate, model: "w/x",
                                  result: PredictionResult(id: "pred1", files: [dir + "/out/clip.mp4"], text: nil, metrics: ["predict_time": 3]))
        #expect(hit.record.predictionId == "pred1")
        #expect(FileManager.default.contents(atPath: hit.files[0])?.count == 1000)
        // A second instance (a later run) finds it.
        let again = GenerationCache(root: dir + "/cache").lookup("k1")
        #expect(again?.files == hit.files)
        try FileManager.default.removeItem(atPath: hit.files[0])
        #expect(cache.lookup("k1") == nil, "a record whose file is gone is not a hit")
        // In-flight notes.
        try cache.noteInFlight("k2", predictionId: "abc", provider: .replicate, model: "w/x")
        #expect(GenerationCache(root: dir + "/cache").predictionInFlight("k2") == "abc")
        cache.clearInFlight("k2")
        #expect(cache.predictionInFlight("k2") == nil)
    }

    @Test func theShippedRegistryMapsEveryRoleWithPricesAndFallbacks() throws {
        let registry = try ModelRegistry.parse(Data(ShippedRegistry.json.utf8), source: "shipped")
        for role in Role.allCases {
            let chain = registry.chain(for: role)
            #expect(!chain.isEmpty, "\(role.rawValue) has no model")
            for e in chain {
                #expect(e.provider == .replicate, "\(e.model)")
                #expect(e.model.split(separator: "/").count == 2, "\(e.model) is an official owner/name model")
                #expect(e.price.unit == "token" ? (e.price.outputPerMillion ?? 0) > 0 : e.price.usd > 0, "\(e.model) has a price")
                #expect(e.inputs["prompt"] != nil || e.inputs["image"] != nil)
            }
        }
        for role in [Role.imageFast, .imageQuality, .videoDraft, .videoFinal, .music, .llmPlanner] {
            #expect(registry.chain(for: role).count >= 2, "\(role.rawValue) has a fallback")
        }
        // Draft clips must start from a keyframe and cover a scene in one call.
        let draft = registry.chain(for: .videoDraft)[0]
        #expect(draft.capabilities.firstFrame == true && (draft.capabilities.maxDuration ?? 0) >= 4)
    }
}
