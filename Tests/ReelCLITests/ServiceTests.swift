import Foundation
import ReelCore
import ReelMedia
import ReelStore
import ReelTestSupport
import Testing

/// `reelsmith worker`, `serve` and `users` as processes: killed, drained and resumed on a real SQLite file, object
/// folder, ffmpeg and a loopback Replicate.
@Suite("service commands", .serialized)
struct ServiceTests {
    static let token = "r8_service_test_token"

    /// A data folder with one user, a project (draft, `duration` s, seed 21) with a song, and one queued job.
    struct Seeded {
        let data: String
        let database: ServiceDatabase
        let store: ServiceStore
        let user: User
        let project: Project
        let job: JobRecord

        func events() async throws -> [JobEvent] { try await store.events(projectId: project.id, after: 0, limit: 10_000) }
        func job() async throws -> JobRecord { try #require(try await store.job(id: job.id, owner: nil)) }
        func objectPath(_ key: String) -> String { data + "/objects/" + key }
    }

    static func seed(_ dir: String, duration: Double, songSeconds: Double) async throws -> Seeded {
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data + "/objects", withIntermediateDirectories: true)
        let database = try await ServiceDatabase.open(.sqlite(path: data + "/reelsmith.sqlite"))
        let store = ServiceStore(database: database)
        let user = try await store.createUser(name: "svc-\(UUID().uuidString.prefix(6))").user
        let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "desert highway at dusk", duration: duration,
                                                                                             preset: .draft, seed: 21))
        let song = try Fixtures.song(bpm: 120, duration: songSeconds, in: dir)
        let key = "assets/\(project.id.uuidString.lowercased())/song.wav"
        try await LocalObjectStore(root: data + "/objects").put(key, fromFile: song.path, contentType: "audio/wav")
        _ = try await store.createAsset(AssetRecord(projectId: project.id, ownerId: user.id, kind: .audio, filename: "song.wav", storageKey: key,
                                                    contentType: "audio/wav", size: 1, duration: songSeconds))
        let job = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
        return Seeded(data: data, database: database, store: store, user: user, project: project, job: job)
    }

    /// Replicate on the fake, rule-based planning, SQLite and objects in `data`, short leases and polls.
    static func environment(_ fake: FakeReplicate, dir: String, data: String) throws -> [String: String] {
        let registry = dir + "/rules-planner.json"
        try Data(#"{"version":1,"roles":{"llm.planner":[{"provider":"offline","model":"rules","output":"text","inputs":{},"price":{"unit":"token","usd":0}}]}}"#.utf8)
            .write(to: URL(fileURLWithPath: registry))
        return ["REPLICATE_API_TOKEN": token, "REPLICATE_BASE_URL": fake.baseURL, "REELSMITH_DATA": data, "REELSMITH_REGISTRY": registry,
                "REELSMITH_LEASE_SECONDS": "3", "REELSMITH_POLL_SECONDS": "0.2", "REELSMITH_SCENE_CONCURRENCY": "2",
                "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "COG_URL": "", "DATABASE_URL": "",
                "S3_ENDPOINT": "", "S3_BUCKET": ""]
    }

    /// The binary running in the background, its standard error collected.
    static func background(_ args: [String], in dir: String, environment env: [String: String]) throws -> ChildProcess {
        try ChildProcess(ReelsmithProcess.binary, args, in: dir, environment: env)
    }


    /// Paid calls a plan needs (as in ReplicateEndToEndTests): a clip per scene that does not continue the previous
    /// clip, and a keyframe for each of those that is not chained from the previous shot's last frame.
    static func callsNeeded(_ plan: Plan) -> Int {
        let chained = plan.scenes.filter { $0.source.chain == true }.count
        let continued = plan.scenes.filter { $0.source.continuesClip == true }.count
        return (plan.scenes.count - chained - continued) + (plan.scenes.count - continued)
    }

    @Test func usersAddPrintsTheKeyAloneOnTheLastLineAndKeysCanBeRevokedAndRotated() async throws {
        let dir = try Fixtures.temporaryDirectory("svc-users")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["REELSMITH_DATA": dir + "/data", "DATABASE_URL": ""]
        let add = try await ReelsmithProcess.runAsync(["users", "add", "ada"], in: dir, environment: env).result
        #expect(add.exitCode == 0, "\(add.stderr)")
        let key = try #require(add.stdout.split(separator: "\n").last.map(String.init))
        #expect(key.range(of: #"^rs_[A-Za-z0-9_-]{43}$"#, options: .regularExpression) != nil, "\(add.stdout)")
        #expect(!add.stderr.contains(key))

        let again = try await ReelsmithProcess.runAsync(["users", "add", "ada"], in: dir, environment: env).result
        #expect(again.exitCode == 2, "a taken name is bad input: \(again.stderr)")

        let keys = try await ReelsmithProcess.runAsync(["users", "keys", "ada", "--json"], in: dir, environment: env).result
        #expect(keys.exitCode == 0, "\(keys.stderr)")
        let listed = try #require(try jsonObject(keys.stdout)["keys"] as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(!keys.stdout.contains(key))
        let keyId = try #require(listed.first?["id"] as? String)
        let prefix = try #require(listed.first?["prefix"] as? String)
        #expect(key.hasPrefix(prefix))

        let rotate = try await ReelsmithProcess.runAsync(["users", "rotate", keyId], in: dir, environment: env).result
        #expect(rotate.exitCode == 0, "\(rotate.stderr)")
        let newKey = try #require(rotate.stdout.split(separator: "\n").last.map(String.init))
        #expect(newKey.hasPrefix("rs_") && newKey != key)

        let database = try await ServiceDatabase.open(.sqlite(path: dir + "/data/reelsmith.sqlite"))
        let store = ServiceStore(database: database)
        #expect(try await store.authenticate(key: key) == nil, "the rotated key no longer works")
        let user = try #require(try await store.authenticate(key: newKey))
        #expect(user.name == "ada")
        let newId = try #require(try await store.keys(userId: user.id).first { $0.revokedAt == nil }?.id)
        await database.shutdown()

        let revoke = try await ReelsmithProcess.runAsync(["users", "revoke", newId.uuidString], in: dir, environment: env).result
        #expect(revoke.exitCode == 0, "\(revoke.stderr)")
        let unknown = try await ReelsmithProcess.runAsync(["users", "revoke", UUID().uuidString], in: dir, environment: env).result
        #expect(unknown.exitCode == 2)
        let list = try await ReelsmithProcess.runAsync(["users", "list"], in: dir, environment: env).result
        #expect(list.exitCode == 0 && list.stdout.contains("ada"))
        let reopened = try await ServiceDatabase.open(.sqlite(path: dir + "/data/reelsmith.sqlite"))
        #expect(try await ServiceStore(database: reopened).authenticate(key: newKey) == nil)
        await reopened.shutdown()

        // Limits: a budget set once is kept when other limits change, and only --no-budget removes it.
        func limits(_ args: [String]) async throws -> User? {
            let r = try await ReelsmithProcess.runAsync(["users", "limits", "ada"] + args, in: dir, environment: env).result
            #expect(r.exitCode == 0, "\(r.stderr)")
            return try await ServiceDatabase.withStore(.sqlite(path: dir + "/data/reelsmith.sqlite")) { try await $0.user(named: "ada") }
        }
        #expect(try await limits(["--budget", "12.5"])?.budget == 12.5)
        let raised = try await limits(["--rpm", "600", "--max-jobs", "4"])
        #expect(raised?.budget == 12.5 && raised?.requestsPerMinute == 600 && raised?.maxConcurrentJobs == 4)
        #expect(try await limits(["--no-budget"])?.budget == nil)
    }

    @Test func aWorkerKilledMidJobIsReplacedAndTheJobResumesWithoutMakingFinishedScenesAgain() async throws {
        let dir = try Fixtures.temporaryDirectory("svc-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seeded = try await Self.seed(dir, duration: 12, songSeconds: 14)
        let fake = try await FakeReplicate.start(token: Self.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.05, processing: 0.6)
        let env = try Self.environment(fake, dir: dir, data: seeded.data)

        let first = try Self.background(["worker"], in: dir, environment: env)
        let sceneDone = try await waitUntil(seconds: 180) {
            try await seeded.events().contains { $0.type == .sceneCompleted } || !first.isRunning
        }
        #expect(sceneDone && first.isRunning, "\(first.stderr)")
        first.signal(SIGKILL)
        _ = await first.exit()
        let beforeKill = try await seeded.events()
        let finishedBeforeKill = Set(beforeKill.filter { $0.type == .sceneCompleted }.compactMap { $0.data["scene"]?.intValue })
        #expect(!beforeKill.contains { $0.type == .jobCompleted }, "the job was still running when its worker was killed")
        #expect(try await seeded.job().status == .running)

        let second = try Self.background(["worker"], in: dir, environment: env)
        let finished = try await waitUntil(seconds: 240) { try await seeded.job().status.isFinal || !second.isRunning }
        #expect(finished)
        second.signal(SIGTERM)
        #expect(await second.exit() == 0, "\(second.stderr)")

        let job = try await seeded.job()
        #expect(job.status == .succeeded, "\(String(describing: job.error)) \(second.stderr)")
        #expect(job.attempts == 2)
        let outputs = try #require(job.result)
        let info = try await MediaProbe().probe(seeded.objectPath(outputs.video))
        #expect(abs((info.duration ?? 0) - 12) < 0.1)
        #expect(info.video?.width == 960 && info.video?.height == 540)
        let manifest = try ReelJSON.decoder().decode(Manifest.self, from: try #require(FileManager.default.contents(atPath: seeded.objectPath(outputs.manifest))))

        // Every paid call the plan needs was made exactly once: none for the scenes finished before the kill.
        let needed = Self.callsNeeded(manifest.plan)
        let created = await fake.predictionsCreated, billable = await fake.billablePredictions
        #expect(created == needed, "predictions created \(created), the plan needs \(needed)")
        #expect(billable == created)

        // The events tell the story: a second attempt that resumed, reusing the scenes finished before the kill.
        let events = try await seeded.events()
        let starts = events.filter { $0.type == .jobStarted }
        #expect(starts.map { $0.data["attempt"]?.intValue } == [1, 2])
        #expect(starts.last?.data["resumed"] == true)
        let afterRestart = events.drop { $0.id <= (starts.last?.id ?? 0) }
        let reused = Set(afterRestart.filter { $0.type == .sceneCompleted && $0.data["reused"] == true }.compactMap { $0.data["scene"]?.intValue })
        #expect(!finishedBeforeKill.isEmpty && finishedBeforeKill.isSubset(of: reused), "finished \(finishedBeforeKill), reused \(reused)")
        #expect(!afterRestart.contains { $0.type == .sceneStarted && finishedBeforeKill.contains($0.data["scene"]?.intValue ?? -1) })
        #expect(events.last?.type == .jobCompleted)
        await fake.shutdown()
        await seeded.database.shutdown()
    }

    @Test func sigtermDrainsServeAndHandsTheRunningJobBack() async throws {
        let dir = try Fixtures.temporaryDirectory("svc-sigterm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seeded = try await Self.seed(dir, duration: 4, songSeconds: 6)
        let fake = try await FakeReplicate.start(token: Self.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.05, processing: 120)
        var env = try Self.environment(fake, dir: dir, data: seeded.data)
        env["REELSMITH_DRAIN_SECONDS"] = "1"

        let server = try Self.background(["serve", "--port", "0", "--workers", "1"], in: dir, environment: env)
        let listening = await waitUntil(seconds: 60) { server.stderr.contains("listening on http://") || !server.isRunning }
        #expect(listening, "\(server.stderr)")
        let port = try #require(server.stderr.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/).map { String($0.1) })
        let health = try await LoopbackClient.send("GET", "http://127.0.0.1:\(port)/healthz")
        #expect(health.status == 200)
        #expect(try await waitUntil { await fake.inFlight > 0 || !server.isRunning })

        server.signal(SIGTERM)
        #expect(await server.exit() == 0, "\(server.stderr)")
        let job = try await seeded.job()
        #expect(job.status == .queued, "the job went back to the queue: \(job.status)")
        #expect(job.leaseOwner == nil)
        #expect(job.result == nil)
        #expect(!FileManager.default.fileExists(atPath: seeded.objectPath("jobs/\(job.id.uuidString.lowercased())")))
        #expect((try? await LoopbackClient.send("GET", "http://127.0.0.1:\(port)/healthz")) == nil, "the server no longer answers")
        // The predictions in flight were canceled, not left running on the user's bill.
        _ = await fake.waitUntilIdle(timeout: 10)
        #expect(Set(await fake.predictionIds).isSubset(of: Set(await fake.canceledPredictionIds)))
        await fake.shutdown()
        await seeded.database.shutdown()
    }
}
