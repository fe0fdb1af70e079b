import Foundation
import ReelCore
import ReelMedia
import ReelPipeline
import ReelProviders
import ReelServer
import ReelStore
import ReelTestSupport
import Testing

/// Issue 14, items 4, 6 and 7 on real parts: money limits across jobs, the length cap, deleting a project mid-run,
/// nothing internal shown to users, media named by asset in stored plans.
@Suite("hardening: jobs", .serialized)
struct HardeningJobTests {
    /// A worker on `store` and `objects` whose pipelines use `fake` for the model roles (offline without one).
    static func worker(store: ServiceStore, objects: any ObjectStore, dir: String, fake: FakeReplicate?, name: String = "w-hardening-7f3a",
                       maxVideoSeconds: Double = 600) throws -> JobWorker {
        let setup = try ProviderSetup.make(settings: ProviderSettings.from(environment: try WorkerBench.environment(fake, dir: dir),
                                                                           offline: fake == nil))
        let factory: PipelineFactory = { progress, budget, scratch in
            ClassicPipeline.configured(setup: setup, progress: progress, budget: budget, generationCache: nil, useCache: false, scratch: scratch)
        }
        let settings = WorkerSettings(name: name, lease: .seconds(3), pollInterval: .milliseconds(100), drainGrace: .seconds(20),
                                      scratchRoot: dir + "/work-\(name)", maxVideoSeconds: maxVideoSeconds)
        return JobWorker(store: store, objects: objects, settings: settings, makePipeline: factory)
    }

    // MARK: Item 4: money limits hold across jobs

    @Test(arguments: [false, true])
    func twoJobsOfOneUserRunningAtOnceStayWithinItsBudget(postgres: Bool) async throws {
        let bench = try await WorkerBench.open("hardening-budget", postgres: postgres)
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.05)
        let budget = 0.1
        try await bench.store.setLimits(userId: bench.user.id, budget: budget, maxConcurrentJobs: nil, requestsPerMinute: nil)
        // Each job alone would spend more than the whole budget (see WorkerTests' budget test).
        let first = try await bench.enqueue(try await bench.project(duration: 8, songSeconds: 10, prompt: "neon city at night"))
        let second = try await bench.enqueue(try await bench.project(duration: 8, songSeconds: 10, prompt: "ocean waves at dawn"))
        let workers = [try bench.worker("w-budget-a", fake: fake), try bench.worker("w-budget-b", fake: fake)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { _ = try await worker.runNext() } }
            try await group.waitForAll()
        }
        for id in [first.id, second.id] {
            let job = try #require(try await bench.job(id))
            #expect(job.status.isFinal, "\(job.status)")
        }
        _ = await fake.waitUntilIdle(timeout: 10)
        let bill = await fake.bill
        let spent = try await bench.store.spent(userId: bench.user.id)
        #expect(bill > 0)
        #expect(bill <= budget + 1e-9, "the two jobs together were billed \(bill), over the budget of \(budget)")
        #expect(abs(spent - bill) < 0.0005, "recorded \(spent), billed \(bill)")
        // Nothing stays held once both jobs ended.
        #expect(abs(try await bench.store.committedSpending(userId: bench.user.id) - spent) < 1e-9)
        await fake.shutdown()
        await bench.close()
    }

    @Test func aCallReservedWhileAnotherIsSettledCountsItsCost() async throws {
        let ledger = SuspendingLedger()
        let meter = CostMeter(budget: 1.0, ledger: ledger)
        let first = try await meter.reserve(0.6, for: "the first clip")
        let entry = CostEntry(role: "video.draft", provider: "replicate", model: "m", scene: 0, units: 1, unit: "clip",
                              unitPrice: 0.6, cacheHit: false, predictionId: "p-1", at: Date())
        let settling = Task { await meter.settle(first, with: entry) }
        // The first call's hold is being settled in the user's ledger: what it cost still counts against the run's budget.
        for await _ in ledger.settling { break }
        let refused = await #expect(throws: ReelError.self) { _ = try await meter.reserve(0.6, for: "the second clip") }
        #expect(refused?.code == .budgetExceeded)
        ledger.finishSettling()
        await settling.value
        #expect(abs(await meter.spent - 0.6) < 1e-9)
        #expect(try await meter.reserve(0.4, for: "a clip that fits").amount == 0.4)
    }

    @Test func twentyParallelGenerateRequestsWithALimitOfOneStartOne() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: 1, requestsPerMinute: nil)
            let project = try await server.project(key: key)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await server.send(.POST, "/api/projects/\(project)/generate", key: key).status }
                }
                var out: [Int] = []
                for try await status in group { out.append(status) }
                return out
            }
            #expect(statuses.filter { $0 == 202 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count == 19, "\(statuses)")
            #expect(try await server.store.activeJobCount(userId: user.id) == 1)
        }
    }

    @Test func aRegenerationRefusedByTheJobLimitLeavesTheSceneVariant() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            // Before the first request: the server caches who a key is for a few seconds.
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: 1, requestsPerMinute: nil)
            let project = try await server.project(key: key)
            try await server.store.setPlan(projectId: project, plan: apiPlan(scenes: 2))
            let scene = try #require(try await server.store.scenes(projectId: project).first)
            let path = "/api/projects/\(project)/scenes/\(scene.id)/regenerate"
            // At once, so several pass the route's quick look at the limit and only the enqueue refuses them.
            let answers = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for i in 0..<20 {
                    group.addTask {
                        let idempotencyKey = "regenerate-\(i)"
                        return (idempotencyKey, try await server.send(.POST, path, key: key, headers: [("Idempotency-Key", idempotencyKey)]).status)
                    }
                }
                var out: [(String, Int)] = []
                for try await answer in group { out.append(answer) }
                return out
            }
            let started = answers.filter { $0.1 == 202 }
            #expect(started.count == 1, "\(answers)")
            #expect(answers.filter { $0.1 == 429 }.count == 19, "\(answers)")
            #expect(try await server.store.scenes(projectId: project).first?.variant == 1)
            // A replay of the started request answers with its job and bumps nothing either.
            let replay = try await server.send(.POST, path, key: key, headers: [("Idempotency-Key", try #require(started.first).0)])
            #expect(replay.status == 202 && replay.headers.first(name: "Idempotent-Replayed") == "true", "\(replay.text)")
            #expect(try await server.store.scenes(projectId: project).first?.variant == 1)
        }
    }

    @Test func aPromptAskingForAnHourIsHeldToTheLengthCap() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let long = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "a 60 minutes video of neon rain"}"#)
            #expect(long.isProblem(422))
            #expect(long.json["detail"]?.stringValue?.contains("600") == true, "\(long.text)")
            let hours = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "2 hours of ocean waves"}"#)
            #expect(hours.isProblem(422))
            // The field wins over the words, and is held to the same cap.
            #expect(try await server.send(.POST, "/api/projects", key: key,
                                          json: #"{"prompt": "a 60 minutes video", "duration": 20}"#).status == 201)
            #expect(try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "neon", "duration": 601}"#).isProblem(422))
            let project = try await server.project(key: key)
            #expect(try await server.send(.PATCH, "/api/projects/\(project)", key: key,
                                          json: #"{"prompt": "a 60 minutes video", "duration": 10}"#).status == 200)
        }
        // A project stored before the cap (or by another route) is cut to the worker's cap when it runs.
        let bench = try await WorkerBench.open("hardening-length")
        let project = try await bench.store.createProject(owner: bench.user.id,
                                                          fields: ProjectFields(prompt: "a 60 minutes video of neon rain", preset: .draft, seed: 3))
        let job = try await bench.enqueue(project)
        let worker = try Self.worker(store: bench.store, objects: bench.objects, dir: bench.dir, fake: nil, maxVideoSeconds: 4)
        #expect(try await worker.runNext())
        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .succeeded, "\(String(describing: done.error))")
        let video = try #require(done.result.flatMap { bench.objects.fileURL(for: $0.video)?.path })
        #expect(abs((try await MediaProbe().probe(video).duration ?? 0) - 4) < 0.1)
        let warnings = try await bench.events(project).compactMap { $0.data["warning"]?.stringValue }
        #expect(warnings.contains { $0.contains("at most 4 s") }, "\(warnings)")
        await bench.close()
    }

    @Test func deletingAProjectDuringARunStopsItKeepsItsSpendAndRemovesItsObjects() async throws {
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.4)
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            #expect(try await server.upload(projectId: project, key: key, data: try await APIMedia.mp3(seconds: 12), filename: "song.mp3",
                                            contentType: "audio/mpeg").status == 201)
            let started = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            let jobId = try #require(started.json["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
            let worker = try Self.worker(store: server.store, objects: server.objects, dir: server.directory, fake: fake)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await worker.runNext() }
                // Mid-run: some scene is finished (its cost recorded, its clip stored as a checkpoint).
                #expect(try await waitUntil(seconds: 60) { (try? await server.store.spent(userId: user.id)) ?? 0 > 0 })
                let deleted = try await server.send(.DELETE, "/api/projects/\(project)", key: key)
                #expect(deleted.status == 204, "\(deleted.text)")
                try await group.waitForAll()
            }
            #expect(try await server.store.job(id: jobId, owner: nil) == nil)
            #expect(try await server.send(.GET, "/api/projects/\(project)", key: key).isProblem(404))
            // What it spent is recorded (and stays against the user's budget) ...
            _ = await fake.waitUntilIdle(timeout: 10)
            let bill = await fake.bill
            let spent = try await server.store.spent(userId: user.id)
            #expect(spent > 0 && abs(spent - bill) < 0.0005, "recorded \(spent), billed \(bill)")
            // ... and nothing of the project is left in storage: song, scene checkpoints, outputs.
            let left = server.storedFiles().filter { $0.contains(project.uuidString.lowercased()) || $0.contains(jobId.uuidString.lowercased()) }
            #expect(left.isEmpty, "\(left)")
        }
        await fake.shutdown()
    }

    // MARK: Item 6: nothing internal leaks

    @Test func regeneratingAProjectWithAnUploadedImageFindsTheImage() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let image = try await server.upload(projectId: project, key: key, data: try await APIMedia.png(), filename: "still.png",
                                                contentType: "image/png")
            #expect(image.status == 201, "\(image.text)")
            let imageId = try #require(image.json["id"]?.stringValue?.lowercased())
            let worker = try Self.worker(store: server.store, objects: server.objects, dir: server.directory, fake: nil)
            #expect(try await server.send(.POST, "/api/projects/\(project)/generate", key: key).status == 202)
            #expect(try await worker.runNext())

            // The stored plan names the image by its asset, not by the worker's scratch file (deleted by now).
            let shown = try await server.send(.GET, "/api/projects/\(project)", key: key)
            let scenes = try #require(shown.json["plan"]?["scenes"]?.arrayValue)
            let media = scenes.compactMap { $0["source"]?["media"]?.stringValue }
            #expect(!media.isEmpty, "a scene shows the uploaded image")
            #expect(media.allSatisfy { $0 == "asset:\(imageId)" }, "\(media)")
            #expect(!shown.text.contains(worker.settings.scratchRoot))

            let listed = try await server.send(.GET, "/api/projects/\(project)/scenes", key: key)
            let sceneIndex = try #require(scenes.firstIndex { $0["source"]?["media"] != nil })
            let sceneId = try #require(listed.json["items"]?.arrayValue?[sceneIndex]["id"]?.stringValue)
            let again = try await server.send(.POST, "/api/projects/\(project)/scenes/\(sceneId)/regenerate", key: key)
            #expect(again.status == 202, "\(again.text)")
            #expect(try await worker.runNext())
            let jobId = try #require(again.json["id"]?.stringValue)
            let job = try await server.send(.GET, "/api/jobs/\(jobId)", key: key)
            #expect(job.json["status"] == "succeeded", "\(job.text)")
        }
    }

    @Test func theStoredPlanAndTheDownloadedManifestNameMediaByAssetAndShowNoServerPaths() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let project = try await server.project(key: key)
            let image = try await server.upload(projectId: project, key: key, data: try await APIMedia.png(), filename: "still.png",
                                                contentType: "image/png")
            #expect(image.status == 201, "\(image.text)")
            let imageRef = "asset:" + (try #require(image.json["id"]?.stringValue?.lowercased()))
            let worker = try Self.worker(store: server.store, objects: server.objects, dir: server.directory, fake: nil)
            let scratch = worker.settings.scratchRoot

            let first = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            #expect(first.status == 202, "\(first.text)")
            let firstId = try #require(first.json["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
            #expect(try await worker.runNext())
            // The plan regenerations start from, as stored: the image by its asset, no scratch (or data) folder.
            let stored = try #require(try await server.store.project(id: project, owner: user.id)?.plan)
            let storedText = String(decoding: try ReelJSON.encoder().encode(stored), as: UTF8.self)
            #expect(stored.scenes.contains { $0.source.media == imageRef }, "\(storedText)")
            #expect(!storedText.contains(scratch) && !storedText.contains(server.directory), "\(storedText)")
            // The manifest users download says the same.
            let manifest = try await server.send(.GET, "/api/jobs/\(firstId)/manifest", key: key)
            #expect(manifest.status == 200)
            #expect(manifest.text.contains(imageRef), "\(manifest.text)")
            #expect(!manifest.text.contains(scratch) && !manifest.text.contains(server.directory), "\(manifest.text)")

            // A run whose plan warnings name a server path (as a planner's error can): the manifest names the file only.
            let second = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            let secondId = try #require(second.json["id"]?.stringValue.flatMap(UUID.init(uuidString:)))
            let run = { (job: UUID) in "\(project.uuidString.lowercased())/job-\(job.uuidString.lowercased())" }
            var planned = try ReelJSON.decoder().decode(PlanCheckpoint.self,
                                                        from: try #require(try await server.store.checkpoint(run: run(firstId), name: "plan")))
            planned.warnings.append("the planner could not read \(scratch)/job-1-1/input/media/000-still.png")
            try await server.store.saveCheckpoint(run: run(secondId), name: "plan", data: try ReelJSON.encoder().encode(planned))
            #expect(try await worker.runNext())
            let again = try await server.send(.GET, "/api/jobs/\(secondId)/manifest", key: key)
            #expect(again.status == 200, "\(again.text)")
            let warnings = again.json["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(warnings.contains("the planner could not read 000-still.png"), "\(warnings)")
            #expect(!again.text.contains(scratch) && !again.text.contains(server.directory), "\(again.text)")
        }
    }

    @Test func aPlanStoredWithAScratchPathIsShownByAsset() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let asset = UUID()
            var plan = apiPlan(scenes: 2)
            plan.scenes[0].source = SceneSource(provider: "user-media", model: "image",
                                                media: "/var/lib/reelsmith/work/job-1-1/input/media/000-\(asset.uuidString.lowercased()).png")
            try await server.store.setPlan(projectId: project, plan: plan)
            let shown = try await server.send(.GET, "/api/projects/\(project)", key: key)
            #expect(shown.json["plan"]?["scenes"]?.arrayValue?.first?["source"]?["media"] == .string("asset:\(asset.uuidString.lowercased())"))
            #expect(!shown.text.contains("/var/lib"), "\(shown.text)")
        }
    }

    @Test func jobErrorsAndEventsShowNoServerPathsOrWorkerNames() async throws {
        let bench = try await WorkerBench.open("hardening-leaks")
        let project = try await bench.project(duration: 3, songSeconds: 6)
        // An "image" that is not one: the run fails on it, with a message that used to name the worker's scratch folder.
        let key = "assets/\(project.id.uuidString.lowercased())/\(UUID().uuidString.lowercased()).png"
        let junk = bench.dir + "/junk.png"
        try Data("not an image at all".utf8).write(to: URL(fileURLWithPath: junk))
        try await bench.objects.put(key, fromFile: junk, contentType: "image/png")
        _ = try await bench.store.createAsset(AssetRecord(projectId: project.id, ownerId: bench.user.id, kind: .image, filename: "junk.png",
                                                          storageKey: key, contentType: "image/png", size: 19))
        let job = try await bench.enqueue(project, maxAttempts: 1)
        let worker = try Self.worker(store: bench.store, objects: bench.objects, dir: bench.dir, fake: nil, name: "w-secret-host-42")
        #expect(try await worker.runNext())
        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .failed)
        let error = try #require(done.error)
        #expect(error.code == "not-media")
        #expect(!error.message.contains("/"), "\(error.message)")

        let events = try await bench.events(project)
        #expect(events.first?.type == .jobStarted && events.first?.data["worker"] == nil)
        #expect(events.last?.type == .jobFailed)
        let shown = String(decoding: try ReelJSON.encoder(pretty: false).encode(events.map(\.data)), as: UTF8.self)
        #expect(!shown.contains("w-secret-host-42"))
        #expect(!shown.contains(bench.dir), "\(shown)")
        await bench.close()
    }
}

/// A user ledger whose `settle` waits, once it has said so on `settling`, until the test calls `finishSettling()`.
final class SuspendingLedger: SpendLedger {
    let settling: AsyncStream<Void>
    private let settlingIn: AsyncStream<Void>.Continuation
    private let finished: AsyncStream<Void>
    private let finishedIn: AsyncStream<Void>.Continuation

    init() {
        (settling, settlingIn) = AsyncStream<Void>.makeStream()
        (finished, finishedIn) = AsyncStream<Void>.makeStream()
    }

    func finishSettling() { finishedIn.finish() }

    func reserve(_ amount: Double, for what: String) async throws -> SpendHold { SpendHold(id: UUID(), amount: amount) }

    func settle(_ hold: SpendHold, cost: Double) async throws {
        settlingIn.yield()
        for await _ in finished {}
    }

    func release(_ hold: SpendHold) async throws {}
}
