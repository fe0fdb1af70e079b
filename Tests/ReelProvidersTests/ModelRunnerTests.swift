import Foundation
import ReelCore
import ReelTestSupport
import Synchronization
import Testing
@testable import ReelProviders

/// The role runner over a real ReplicateClient and a loopback Replicate.
@Suite("Running roles: cache, fallback, resume")
struct ModelRunnerTests {
    static let token = "r8_runner_token"

    func runner(_ fake: FakeReplicate, chain: [ModelEntry], dir: String, budget: Double? = nil,
                warnings: Warnings = Warnings()) -> (ModelRunner, CostMeter) {
        let client = ReplicateClient(token: Self.token, baseURL: fake.baseURL, retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 0.05),
                                     pollInterval: (0.02, 0.1), waitSeconds: 1)
        let meter = CostMeter(budget: budget)
        let runner = ModelRunner(chains: [.videoDraft: chain.map { RoutedEntry(entry: $0, backend: client) },
                                          .imageFast: chain.filter { $0.output == .image }.map { RoutedEntry(entry: $0, backend: client) }],
                                 cache: GenerationCache(root: dir + "/cache"), useCache: true, meter: meter, scratch: dir + "/scratch",
                                 warn: { w in warnings.add(w) })
        return (runner, meter)
    }

    var shipped: ModelRegistry { RegistryLoader.shipped }

    func keyframe(_ dir: String) async throws -> String {
        let path = dir + "/key.png"
        try await Fixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=64x36", "-frames:v", "1", path])
        return path
    }

    @Test func aModelThatKeepsFailingFallsBackToTheNext() async throws {
        let dir = try Fixtures.temporaryDirectory("runner-fallback")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.05)
        await fake.inject(.predictionFails("NSFW content detected"), on: .create, times: 2)
        let warnings = Warnings()
        let (runner, meter) = runner(fake, chain: shipped.chain(for: .videoDraft), dir: dir, warnings: warnings)
        let out = try await runner.run(ModelRequest(role: .videoDraft, scene: 0, prompt: "rain", firstFrame: try await keyframe(dir),
                                                    duration: 3, aspect: .landscape, preset: .draft, seed: 1))
        #expect(out.entry.model == "bytedance/seedance-1-lite")
        #expect(out.cost.units == 3, "seedance is asked for 3 s and billed per second")
        let ids = await fake.predictionIds
        #expect(ids.count == 3, "two failed attempts on wan, then seedance")
        let ledger = await meter.ledger
        let failed = ledger.entries.filter { $0.status == "failed" }
        #expect(failed.count == 2)
        #expect(failed.allSatisfy { $0.cost == 0 })
        let bill = await fake.bill
        #expect(abs(ledger.total - bill) < 1e-9)
        #expect(warnings.any { $0.contains("falling back to bytedance/seedance-1-lite") })
        await fake.shutdown()
    }

    @Test func aPaidOutputThatIsLostIsMeteredBeforeTheRetry() async throws {
        let dir = try Fixtures.temporaryDirectory("runner-lost")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.05)
        await fake.inject(.expireOutputs, on: .create)
        let (runner, meter) = runner(fake, chain: shipped.chain(for: .videoDraft), dir: dir)
        let out = try await runner.run(ModelRequest(role: .videoDraft, scene: 0, prompt: "rain", firstFrame: try await keyframe(dir),
                                                    duration: 3, aspect: .landscape, preset: .draft, seed: 1))
        #expect(out.entry.model == "wan-video/wan-2.2-i2v-fast")
        let ledger = await meter.ledger
        #expect(ledger.entries.map(\.status) == ["lost", "succeeded"])
        let bill = await fake.bill
        #expect(abs(ledger.total - bill) < 1e-9, "both predictions succeeded on Replicate and both are billed")
        #expect(ledger.total == 0.1)
        await fake.shutdown()
    }

    @Test func aNewVersionOfAModelIsNotServedFromTheCache() async throws {
        let dir = try Fixtures.temporaryDirectory("runner-version")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let chain = [shipped.chain(for: .imageFast)[0]]
        let request = ModelRequest(role: .imageFast, scene: 0, prompt: "a lighthouse", aspect: .landscape, preset: .draft, seed: 4)
        func createdBy(version: String) async throws -> Int {
            var flux = ReplicateCatalogue.fluxSchnell
            flux.version = version
            let fake = try await FakeReplicate.start(token: Self.token, models: [flux])
            await fake.setLifecycle(starting: 0.01, processing: 0.02)
            _ = try await runner(fake, chain: chain, dir: dir).0.run(request)
            let created = await fake.predictionsCreated
            await fake.shutdown()
            return created
        }
        let v1 = String(repeating: "a", count: 64), v2 = String(repeating: "b", count: 64)
        #expect(try await createdBy(version: v1) == 1)
        #expect(try await createdBy(version: v1) == 0, "the same version: served from the cache")
        #expect(try await createdBy(version: v2) == 1, "an updated model is asked again")
    }

    @Test func aRenamedInputIsCaughtBeforePaying() async throws {
        let dir = try Fixtures.temporaryDirectory("runner-schema")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The model renamed `image` to `start_image` since the registry was written.
        var wan = ReplicateCatalogue.wan22I2VFast
        wan.input["start_image"] = wan.input["image"]; wan.input["image"] = nil
        wan.required = ["start_image", "prompt"]
        let fake = try await FakeReplicate.start(token: Self.token, models: [wan, ReplicateCatalogue.seedance1Lite])
        await fake.setLifecycle(starting: 0.01, processing: 0.05)
        let warnings = Warnings()
        let (runner, _) = runner(fake, chain: shipped.chain(for: .videoDraft), dir: dir, warnings: warnings)
        let out = try await runner.run(ModelRequest(role: .videoDraft, scene: 1, prompt: "rain", firstFrame: try await keyframe(dir),
                                                    duration: 4, aspect: .landscape, preset: .draft, seed: 1))
        #expect(out.entry.model == "bytedance/seedance-1-lite")
        let created = await fake.predictionsCreated
        #expect(created == 1, "nothing was sent to the model whose inputs changed")
        #expect(warnings.any { $0.contains("no input 'image'") })
        await fake.shutdown()
    }
}

/// Warnings collected from any task.
final class Warnings: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ w: String) { list.withLock { $0.append(w) } }
    func any(_ match: (String) -> Bool) -> Bool { list.withLock { $0.contains(where: match) } }
}
