import Foundation
import ReelCore
import ReelPipeline
import ReelProviders
import ReelServer
import ReelStore
import ReelTestSupport

/// A service on a temporary folder for worker tests: a real database (SQLite file or PostgreSQL), a real object folder,
/// one user, and helpers to make projects with songs and queue jobs.
struct WorkerBench {
    static let token = "r8_worker_test_token"

    let dir: String
    let database: ServiceDatabase
    let store: ServiceStore
    let objects: LocalObjectStore
    let user: User

    static func open(_ name: String, postgres: Bool = false) async throws -> WorkerBench {
        let dir = try Fixtures.temporaryDirectory(name)
        let location: DatabaseLocation = postgres ? .postgres(url: try await PostgresFixture.freshDatabaseURL())
                                                  : .sqlite(path: dir + "/reelsmith.sqlite")
        let database = try await ServiceDatabase.open(location)
        let store = ServiceStore(database: database)
        let user = try await store.createUser(name: "worker-test-\(UUID().uuidString.prefix(6))").user
        return WorkerBench(dir: dir, database: database, store: store, objects: LocalObjectStore(root: dir + "/objects"), user: user)
    }

    func close() async {
        await database.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A draft project of `duration` seconds, with a click-track song of `songSeconds` uploaded as its audio asset.
    func project(duration: Double, songSeconds: Double? = 8, seed: UInt64? = 7, prompt: String = "neon city at night") async throws -> Project {
        let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: prompt, duration: duration, preset: .draft, seed: seed))
        if let songSeconds {
            let song = try Fixtures.song(bpm: 120, duration: songSeconds, in: dir, name: "song-\(project.id.uuidString.prefix(8)).wav")
            let key = "assets/\(project.id.uuidString.lowercased())/\(UUID().uuidString.lowercased()).wav"
            try await objects.put(key, fromFile: song.path, contentType: "audio/wav")
            let size = (try FileManager.default.attributesOfItem(atPath: song.path)[.size] as? NSNumber)?.int64Value ?? 0
            _ = try await store.createAsset(AssetRecord(projectId: project.id, ownerId: user.id, kind: .audio, filename: "song.wav",
                                                        storageKey: key, contentType: "audio/wav", size: size, duration: songSeconds))
        }
        return project
    }

    func enqueue(_ project: Project, kind: JobKind = .generate, sceneIndex: Int? = nil, maxAttempts: Int = 3) async throws -> JobRecord {
        try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: kind, parameters: JobParameters(sceneIndex: sceneIndex),
                                          maxAttempts: maxAttempts), idempotencyKey: nil).job
    }

    /// Replicate on `fake` for the model roles, rule-based planning; offline without a fake.
    static func environment(_ fake: FakeReplicate?, dir: String) throws -> [String: String] {
        guard let fake else { return [:] }
        let registry = dir + "/rules-planner.json"
        try Data(#"{"version":1,"roles":{"llm.planner":[{"provider":"offline","model":"rules","output":"text","inputs":{},"price":{"unit":"token","usd":0}}]}}"#.utf8)
            .write(to: URL(fileURLWithPath: registry))
        return ["REPLICATE_API_TOKEN": token, "REPLICATE_BASE_URL": fake.baseURL, "REELSMITH_REGISTRY": registry]
    }

    /// A worker whose pipelines use the providers of `fake` (offline without one), no generation cache.
    func worker(_ name: String, fake: FakeReplicate? = nil, lease: Duration = .seconds(30), grace: Duration = .seconds(20),
                log: @escaping @Sendable (String) -> Void = { _ in }) throws -> JobWorker {
        let settings = ProviderSettings.from(environment: try Self.environment(fake, dir: dir), offline: fake == nil)
        let setup = try ProviderSetup.make(settings: settings)
        let factory: PipelineFactory = { progress, budget, scratch in
            ClassicPipeline.configured(setup: setup, progress: progress, budget: budget, generationCache: nil, useCache: false, scratch: scratch)
        }
        let worker = WorkerSettings(name: name, lease: lease, pollInterval: .milliseconds(100), drainGrace: grace, scratchRoot: dir + "/work-\(name)")
        return JobWorker(store: store, objects: objects, settings: worker, log: log, makePipeline: factory)
    }

    func events(_ project: Project) async throws -> [JobEvent] {
        var all: [JobEvent] = []
        while true {
            let page = try await store.events(projectId: project.id, after: all.last?.id ?? 0, limit: 500)
            all += page
            if page.count < 500 { return all }
        }
    }

    func job(_ id: UUID) async throws -> JobRecord? { try await store.job(id: id, owner: nil) }

}
