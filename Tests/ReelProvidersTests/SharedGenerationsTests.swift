import Foundation
import ReelCore
import ReelTestSupport
import Testing
@testable import ReelProviders

/// Two machines (each its own Replicate client and cache folder) sharing one generation tier, over a loopback Replicate:
/// what one paid for or left in flight is not paid again by the other.
@Suite("Shared generations: one cache for every machine of a service")
struct SharedGenerationsTests {
    static let token = "r8_shared_token"
    let request = ModelRequest(role: .imageFast, scene: 0, prompt: "a lighthouse at dusk", aspect: .landscape, preset: .draft, seed: 4)

    /// One machine: its own client (its own process state), its own cache folder, and the shared tier.
    func machine(_ fake: FakeReplicate, dir: String, shared: FolderSharedGenerations?,
                 warnings: Warnings = Warnings()) -> (ModelRunner, CostMeter) {
        let client = ReplicateClient(token: Self.token, baseURL: fake.baseURL, retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 0.05),
                                     pollInterval: (0.02, 0.1), waitSeconds: 0)
        let meter = CostMeter(budget: nil)
        let chain = [RegistryLoader.shipped.chain(for: .imageFast)[0]]
        let runner = ModelRunner(chains: [.imageFast: chain.map { RoutedEntry(entry: $0, backend: client) }],
                                 cache: GenerationCache(root: dir + "/cache"), useCache: true, meter: meter, scratch: dir + "/scratch",
                                 shared: shared, warn: { warnings.add($0) })
        return (runner, meter)
    }

    @Test func aGenerationMadeOnOneMachineIsFreeOnAnother() async throws {
        let dir = try Fixtures.temporaryDirectory("shared-hit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: [ReplicateCatalogue.fluxSchnell])
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        let tier = FolderSharedGenerations(root: dir + "/shared")

        let (a, _) = machine(fake, dir: dir + "/a", shared: tier)
        let made = try await a.run(request)
        #expect(!made.cost.cacheHit)
        #expect(await fake.predictionsCreated == 1)
        #expect(await tier.published == 1)
        #expect(await tier.openNotes == 0, "the in-flight note is cleared once the result is shared")

        let (b, meterB) = machine(fake, dir: dir + "/b", shared: tier)
        let reused = try await b.run(request)
        #expect(await fake.predictionsCreated == 1, "machine B created no prediction")
        #expect(reused.cost.cacheHit)
        #expect(reused.cost.predictionId == made.cost.predictionId)
        let ledger = await meterB.ledger
        #expect(ledger.entries.count == 1 && ledger.total == 0, "metered as a cache hit, $0")
        #expect(reused.files.count == 1 && reused.files.allSatisfy { $0.hasPrefix(dir + "/b/cache/") }, "downloaded into B's own cache")
        #expect(FileManager.default.contentsEqual(atPath: reused.files[0], andPath: made.files[0]))

        // Now in B's local cache: B's next run does not even ask the shared tier.
        let fetches = await tier.fetches
        _ = try await b.run(request)
        #expect(await tier.fetches == fetches)
        await fake.shutdown()
    }

    /// Machine A dies while its prediction runs (a killed process sends no cancel, so the prediction runs on); machine B
    /// resumes the work and follows that prediction. Also when the shared cache cannot be read: a prediction noted in
    /// flight is followed whatever the cache answers.
    @Test(arguments: [false, true])
    func aPredictionLeftInFlightByADeadMachineIsFollowed(fetchFails: Bool) async throws {
        let dir = try Fixtures.temporaryDirectory("shared-inflight")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: [ReplicateCatalogue.fluxSchnell])
        await fake.setLifecycle(starting: 0.01, processing: 1.5)
        let tier = FolderSharedGenerations(root: dir + "/shared")

        let (a, _) = machine(fake, dir: dir + "/a", shared: tier)
        let request = self.request
        let runA = Task { try await a.run(request) }
        #expect(await waitUntil(seconds: 20) { await tier.notedIds.count == 1 }, "A notes the prediction in the shared journal")
        let id = try #require(await tier.notedIds.first)
        // A dies: nothing it would send on the way out reaches Replicate.
        await fake.inject(.dropConnection, on: .cancel, times: 50)
        runA.cancel()
        _ = await runA.result
        #expect(await fake.canceledPredictionIds.isEmpty)
        #expect(await tier.openNotes == 1)

        await tier.fail(fetch: fetchFails)
        let warnings = Warnings()
        let (b, meterB) = machine(fake, dir: dir + "/b", shared: tier, warnings: warnings)
        let out = try await b.run(request)
        #expect(await fake.predictionsCreated == 1, "B followed A's prediction instead of creating another")
        #expect(out.cost.predictionId == id)
        let ledger = await meterB.ledger
        let bill = await fake.bill
        #expect(ledger.entries.map(\.status) == ["succeeded"])
        #expect(abs(ledger.total - bill) < 1e-9, "the one prediction is metered once, by the machine that got its result")
        #expect(!warnings.any { $0.contains("may repeat") }, "nothing was paid again")
        if fetchFails {
            #expect(warnings.any { $0.contains("shared generation cache could not be read") })
        } else {
            #expect(await tier.openNotes == 0)
        }
        await fake.shutdown()
    }

    @Test func aSharedCacheThatCannotBeReadCostsOnePaymentAndAWarning() async throws {
        let dir = try Fixtures.temporaryDirectory("shared-down")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: [ReplicateCatalogue.fluxSchnell])
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        let tier = FolderSharedGenerations(root: dir + "/shared")
        let (a, _) = machine(fake, dir: dir + "/a", shared: tier)
        _ = try await a.run(request)

        await tier.fail(fetch: true)
        let warnings = Warnings()
        let (b, meterB) = machine(fake, dir: dir + "/b", shared: tier, warnings: warnings)
        let out = try await b.run(request)
        #expect(!out.cost.cacheHit)
        #expect(await fake.predictionsCreated == 2, "B could not see A's result: it paid, once")
        let ledger = await meterB.ledger
        #expect(ledger.entries.map(\.status) == ["succeeded"])
        #expect(warnings.any { $0.contains("may repeat a generation another machine made") }, "and said so")
        await fake.shutdown()
    }

    @Test func aResultThatCouldNotBeSharedIsFollowedByItsPrediction() async throws {
        let dir = try Fixtures.temporaryDirectory("shared-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: [ReplicateCatalogue.fluxSchnell])
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        let tier = FolderSharedGenerations(root: dir + "/shared")
        await tier.fail(publish: true)
        let warningsA = Warnings()
        let (a, _) = machine(fake, dir: dir + "/a", shared: tier, warnings: warningsA)
        let made = try await a.run(request)
        #expect(warningsA.any { $0.contains("could not share") })
        #expect(await tier.openNotes == 1, "the note naming the finished prediction stays")

        await tier.fail(publish: false)
        let (b, _) = machine(fake, dir: dir + "/b", shared: tier)
        let out = try await b.run(request)
        #expect(await fake.predictionsCreated == 1, "B downloaded the outputs of A's prediction")
        #expect(out.cost.predictionId == made.cost.predictionId)
        #expect(await tier.published == 1, "B shared it")
        #expect(await tier.openNotes == 0, "and cleared the note")
        await fake.shutdown()
    }

    @Test func withoutASharedTierNothingChanges() async throws {
        let dir = try Fixtures.temporaryDirectory("shared-none")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try await FakeReplicate.start(token: Self.token, models: [ReplicateCatalogue.fluxSchnell])
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        _ = try await machine(fake, dir: dir + "/a", shared: nil).0.run(request)
        _ = try await machine(fake, dir: dir + "/b", shared: nil).0.run(request)
        #expect(await fake.predictionsCreated == 2, "two machines without a shared tier each pay")
        _ = try await machine(fake, dir: dir + "/a", shared: nil).0.run(request)
        #expect(await fake.predictionsCreated == 2, "the local cache still serves repeats")
        await fake.shutdown()
    }
}

/// A shared tier over a folder, standing for the service's database and object store: a `GenerationCache` of its own
/// holds the shared generations and the shared in-flight journal. It can be made to fail, as an unreachable database.
actor FolderSharedGenerations: SharedGenerations {
    let shelf: GenerationCache
    private var failFetch = false
    private var failPublish = false
    private(set) var fetches = 0
    private(set) var published = 0
    /// Prediction ids noted in flight, in order.
    private(set) var notedIds: [String] = []

    init(root: String) { shelf = GenerationCache(root: root) }

    func fail(fetch: Bool? = nil, publish: Bool? = nil) {
        failFetch = fetch ?? failFetch; failPublish = publish ?? failPublish
    }

    /// In-flight notes not cleared.
    var openNotes: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: shelf.root + "/in-flight")) ?? []).count
    }

    func fetch(key: String, into cache: GenerationCache) throws -> GenerationCache.Hit? {
        fetches += 1
        if failFetch { throw ReelError(.storageUnavailable, "the shared store cannot be reached (test)") }
        guard let hit = shelf.lookup(key) else { return nil }
        return try Self.copy(hit, into: cache)
    }

    func publish(_ hit: GenerationCache.Hit) throws {
        if failPublish { throw ReelError(.storageUnavailable, "the shared store cannot be reached (test)") }
        _ = try Self.copy(hit, into: shelf)
        published += 1
    }

    func inFlight(key: String) -> GenerationCache.InFlight? { shelf.inFlight(key) }

    func noteInFlight(key: String, entry: GenerationCache.InFlight) throws {
        if let id = entry.predictionId, !notedIds.contains(id) { notedIds.append(id) }
        try shelf.noteInFlight(key, predictionId: entry.predictionId, provider: entry.provider, model: entry.model, sentAt: entry.sentAt)
    }

    func clearInFlight(key: String) { shelf.clearInFlight(key) }

    /// Copies a hit's files (the cache moves what it stores) and stores them in `cache`.
    static func copy(_ hit: GenerationCache.Hit, into cache: GenerationCache) throws -> GenerationCache.Hit {
        let staging = cache.root + "/incoming-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let copies = try hit.files.map { file in
            let to = staging + "/" + (file as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: file, toPath: to)
            return to
        }
        let r = hit.record
        return try cache.store(key: r.key, provider: r.provider, model: r.model,
                               result: PredictionResult(id: r.predictionId, files: copies, text: r.text, metrics: r.metrics))
    }
}
