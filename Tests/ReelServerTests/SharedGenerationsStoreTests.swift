import Foundation
import ReelCore
import ReelProviders
import ReelServer
import ReelStore
import ReelTestSupport
import Testing

/// `StoreSharedGenerations` on a real database (SQLite file, and PostgreSQL) and object folder: what one machine shares,
/// another (its own database connection, its own cache folder) gets back whole.
@Suite("shared generations in the service store")
struct SharedGenerationsStoreTests {
    /// A store on a fresh database, and a second one on the same database, as another machine's worker would open it.
    func withTwoMachines(_ name: String, postgres: Bool = false,
                         _ body: (String, StoreSharedGenerations, StoreSharedGenerations) async throws -> Void) async throws {
        let dir = try Fixtures.temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let location: DatabaseLocation = postgres ? .postgres(url: try await PostgresFixture.freshDatabaseURL())
                                                  : .sqlite(path: dir + "/reelsmith.sqlite")
        let first = try await ServiceDatabase.open(location)
        let second = try await ServiceDatabase.open(location)
        let objects = LocalObjectStore(root: dir + "/objects")
        do {
            try await body(dir, StoreSharedGenerations(store: ServiceStore(database: first), objects: objects),
                           StoreSharedGenerations(store: ServiceStore(database: second), objects: objects))
        } catch {
            await first.shutdown(); await second.shutdown()
            throw error
        }
        await first.shutdown(); await second.shutdown()
    }

    @Test(arguments: [false, true])
    func hitsAndInFlightNotesRoundTrip(postgres: Bool) async throws {
        try await withTwoMachines("shared-store", postgres: postgres) { dir, a, b in
            // Machine A stores a generation of two files (with text and metrics) in its local cache and shares it.
            let cacheA = GenerationCache(root: dir + "/a/cache"), cacheB = GenerationCache(root: dir + "/b/cache")
            let key = try GenerationCache.key(provider: .replicate, model: "acme/video", input: ["prompt": "rain"], files: [:], seed: 3)
            try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
            try Data("first file".utf8).write(to: URL(fileURLWithPath: dir + "/out/a.mp4"))
            try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: dir + "/out/b.png"))
            let hit = try cacheA.store(key: key, provider: .replicate, model: "acme/video",
                                       result: PredictionResult(id: "pred-1", files: [dir + "/out/a.mp4", dir + "/out/b.png"], text: "said",
                                                                metrics: ["predict_time": 1.5]))
            #expect(try await b.fetch(key: key, into: cacheB) == nil, "nothing shared yet")
            try await a.publish(hit)
            try await a.publish(hit)   // sharing again is harmless

            let entry = try #require(try await a.store.cacheEntry(key: key))
            #expect(entry.objectKey == "generations/\(key)/record.json")
            #expect(entry.provider == "replicate" && entry.model == "acme/video")
            #expect(entry.size == Int64("first file".utf8.count + 4096))

            // Machine B gets it back whole, in its own cache.
            let got = try #require(try await b.fetch(key: key, into: cacheB))
            #expect(got.record.key == key && got.record.predictionId == "pred-1" && got.record.text == "said")
            #expect(got.record.metrics["predict_time"]?.doubleValue == 1.5)
            #expect(got.files.count == 2 && got.files.allSatisfy { $0.hasPrefix(dir + "/b/cache/") })
            for (mine, theirs) in zip(hit.files, got.files) { #expect(FileManager.default.contentsEqual(atPath: mine, andPath: theirs)) }
            #expect(cacheB.lookup(key) != nil)
            #expect(!((try? FileManager.default.contentsOfDirectory(atPath: cacheB.root)) ?? []).contains { $0.hasPrefix(".incoming") },
                    "no staging folder is left behind")

            // Indexed but its objects gone since: a miss, not an error.
            let other = try GenerationCache.key(provider: .replicate, model: "acme/video", input: ["prompt": "snow"], files: [:], seed: 3)
            try await a.store.indexCacheEntry(CacheIndexEntry(key: other, provider: "replicate", model: "acme/video",
                                                              objectKey: "generations/\(other)/record.json", size: 1))
            #expect(try await b.fetch(key: other, into: cacheB) == nil)

            // The in-flight journal: a create being sent, then its prediction; seen by the other machine; cleared.
            #expect(try await b.inFlight(key: key) == nil)
            let sent = Date(timeIntervalSince1970: 1_800_000_000)
            try await a.noteInFlight(key: key, entry: GenerationCache.InFlight(predictionId: nil, provider: .replicate, model: "acme/video", sentAt: sent))
            let sending = try #require(try await b.inFlight(key: key))
            #expect(sending.predictionId == nil && sending.sentAt == sent && sending.model == "acme/video" && sending.provider == .replicate)
            try await a.noteInFlight(key: key, entry: GenerationCache.InFlight(predictionId: "pred-2", provider: .replicate, model: "acme/video", sentAt: sent))
            #expect(try await b.inFlight(key: key)?.predictionId == "pred-2")
            try await b.clearInFlight(key: key)
            #expect(try await a.inFlight(key: key) == nil)
            try await b.clearInFlight(key: key)   // clearing a missing note is not an error

            // A key that is not a cache key never becomes an object key.
            await #expect(throws: ReelError.self) { try await a.inFlight(key: "../../etc") }
        }
    }

    @Test func aGenerationPaidOnOneMachineIsFreeOnAnotherThroughTheStore() async throws {
        try await withTwoMachines("shared-store-runner") { dir, a, b in
            let fake = try await FakeReplicate.start(token: "r8_store_token", models: [ReplicateCatalogue.fluxSchnell])
            await fake.setLifecycle(starting: 0.01, processing: 0.02)
            func machine(_ name: String, _ shared: StoreSharedGenerations) -> (ModelRunner, CostMeter) {
                let client = ReplicateClient(token: "r8_store_token", baseURL: fake.baseURL, retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 0.05),
                                             pollInterval: (0.02, 0.1), waitSeconds: 0)
                let meter = CostMeter(budget: nil)
                let chain = [RegistryLoader.shipped.chain(for: .imageFast)[0]]
                let runner = ModelRunner(chains: [.imageFast: chain.map { RoutedEntry(entry: $0, backend: client) }],
                                         cache: GenerationCache(root: "\(dir)/\(name)/cache"), useCache: true, meter: meter,
                                         scratch: "\(dir)/\(name)/scratch", shared: shared, warn: { _ in })
                return (runner, meter)
            }
            let request = ModelRequest(role: .imageFast, scene: 2, prompt: "a harbour at night", aspect: .landscape, preset: .draft, seed: 9)
            let made = try await machine("a", a).0.run(request)
            let (runnerB, meterB) = machine("b", b)
            let reused = try await runnerB.run(request)
            #expect(await fake.predictionsCreated == 1)
            #expect(reused.cost.cacheHit && reused.cost.predictionId == made.cost.predictionId)
            #expect(await meterB.ledger.total == 0)
            #expect(FileManager.default.contentsEqual(atPath: made.files[0], andPath: reused.files[0]))
            await fake.shutdown()
        }
    }
}
