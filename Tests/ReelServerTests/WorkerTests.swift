import Foundation
import ReelCore
import ReelMedia
import ReelServer
import ReelStore
import ReelTestSupport
import Testing

/// `JobWorker` on a real database, object folder, ffmpeg and (where money is involved) a loopback Replicate.
@Suite("job worker", .serialized)
struct WorkerTests {
    @Test func aJobRunsToTheEndWithEventsOutputsAndPlan() async throws {
        let bench = try await WorkerBench.open("worker-run")
        let project = try await bench.project(duration: 3, songSeconds: 6)
        let job = try await bench.enqueue(project)
        let worker = try bench.worker("w1")
        #expect(try await worker.runNext())

        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .succeeded, "\(String(describing: done.error))")
        #expect(done.progress == 100)
        #expect(done.leaseOwner == nil)
        let outputs = try #require(done.result)
        for key in [outputs.video, outputs.manifest, outputs.thumbnail] { #expect(try await bench.objects.head(key) != nil, "\(key)") }
        let video = try #require(bench.objects.fileURL(for: outputs.video)?.path)
        let info = try await MediaProbe().probe(video)
        #expect(abs((info.duration ?? 0) - 3) < 0.1)
        #expect(info.video?.width == 960 && info.video?.height == 540)
        let thumb = try await MediaProbe().probe(try #require(bench.objects.fileURL(for: outputs.thumbnail)?.path))
        #expect(thumb.video?.width == 960)

        // The manifest names storage keys, not the worker's scratch paths.
        let manifestPath = try #require(bench.objects.fileURL(for: outputs.manifest)?.path)
        let manifestData = try #require(FileManager.default.contents(atPath: manifestPath))
        let manifest = try ReelJSON.decoder().decode(Manifest.self, from: manifestData)
        #expect(manifest.video.path == outputs.video)
        #expect(manifest.audio?.file == "song.wav")
        #expect(manifest.seed == 7)

        // The project has the plan, and each scene its clip.
        let stored = try #require(try await bench.store.project(id: project.id, owner: bench.user.id))
        #expect(stored.plan?.scenes.count == manifest.plan.scenes.count)
        let scenes = try await bench.store.scenes(projectId: project.id)
        #expect(scenes.count == manifest.plan.scenes.count)
        for scene in scenes {
            let key = try #require(scene.clipKey)
            #expect(try await bench.objects.head(key) != nil)
        }

        let events = try await bench.events(project)
        let types = events.map(\.type)
        #expect(types.first == .jobStarted)
        #expect(types.last == .jobCompleted)
        #expect(events.first?.data["attempt"] == 1)
        for stage in ["analyze", "plan", "generate", "compose"] {
            #expect(events.contains { $0.type == .stageStarted && $0.data["stage"] == .string(stage) }, "stage_started \(stage)")
        }
        #expect(events.filter { $0.type == .sceneStarted }.count == manifest.plan.scenes.count)
        #expect(events.filter { $0.type == .sceneCompleted }.count == manifest.plan.scenes.count)
        #expect(!types.contains(.jobFailed))
        await bench.close()
    }

    @Test func regeneratingASceneMakesOnlyThatSceneAgain() async throws {
        let bench = try await WorkerBench.open("worker-regenerate")
        let project = try await bench.project(duration: 6, songSeconds: 8)
        let worker = try bench.worker("w-regen")
        let first = try await bench.enqueue(project)
        #expect(try await worker.runNext())
        #expect(try await bench.job(first.id)?.status == .succeeded)
        let scenes = try await bench.store.scenes(projectId: project.id)
        try #require(scenes.count >= 2, "a plan of several scenes")
        let target = scenes[1]
        let clipBefore = try #require(target.clipKey)
        let eventsBefore = try await bench.events(project)

        _ = try await bench.store.bumpSceneVariant(projectId: project.id, sceneId: target.id)
        let again = try await bench.enqueue(project, kind: .regenerateScene, sceneIndex: target.index)
        #expect(try await worker.runNext())
        let done = try #require(try await bench.job(again.id))
        #expect(done.status == .succeeded, "\(String(describing: done.error))")
        let events = try await bench.events(project).filter { $0.id > (eventsBefore.last?.id ?? 0) }
        let made = events.filter { $0.type == .sceneStarted }.compactMap { $0.data["scene"]?.intValue }
        let reused = events.filter { $0.type == .sceneCompleted && $0.data["reused"] == true }.compactMap { $0.data["scene"]?.intValue }
        #expect(made == [target.index], "only the regenerated scene is made again")
        #expect(Set(reused) == Set(scenes.map(\.index)).subtracting([target.index]))
        let after = try await bench.store.scenes(projectId: project.id)
        #expect(after.count == scenes.count)
        #expect(after.first { $0.index == target.index }?.clipKey != clipBefore, "the scene shows its new clip")
        #expect(after.first { $0.index == target.index }?.variant == 1)
        let video = try #require(done.result.flatMap { bench.objects.fileURL(for: $0.video)?.path })
        #expect(abs((try await MediaProbe().probe(video).duration ?? 0) - 6) < 0.1)
        await bench.close()
    }

    @Test func theUsersRemainingBudgetStopsPaidCallsAndIsNotRetried() async throws {
        let bench = try await WorkerBench.open("worker-budget")
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        try await bench.store.setLimits(userId: bench.user.id, budget: 0.1, maxConcurrentJobs: nil, requestsPerMinute: nil)
        let project = try await bench.project(duration: 8, songSeconds: 10)
        let job = try await bench.enqueue(project)
        let worker = try bench.worker("w-budget", fake: fake)
        #expect(try await worker.runNext())
        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .failed)
        #expect(done.attempts == 1, "a budget refusal is not retried")
        #expect(done.error?.code == "budget-exceeded")
        let bill = await fake.bill
        #expect(bill > 0 && bill <= 0.1 + 1e-9)
        // What was spent is recorded against the user, so the next job has only the rest.
        let spent = try await bench.store.spent(userId: bench.user.id)
        #expect(abs(spent - bill) < 0.0005, "recorded \(spent), billed \(bill)")
        await fake.shutdown()
        await bench.close()
    }

    @Test func cancelStopsARunningJobPromptlyAndLeavesNoOutput() async throws {
        let bench = try await WorkerBench.open("worker-cancel")
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.05, processing: 120)
        let project = try await bench.project(duration: 4, songSeconds: 6)
        let job = try await bench.enqueue(project)
        let worker = try bench.worker("w-cancel", fake: fake, lease: .seconds(3))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await worker.runNext() }
            let started = try await waitUntil { await fake.inFlight > 0 }
            #expect(started)
            let canceled = try await bench.store.cancelJob(id: job.id, owner: bench.user.id)
            #expect(canceled != nil)
            try await group.waitForAll()
        }
        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .canceled)
        #expect(done.result == nil)
        #expect(try await bench.objects.head("jobs/\(job.id.uuidString.lowercased())/video.mp4") == nil)
        // The predictions under way were canceled at Replicate, and none was paid for.
        _ = await fake.waitUntilIdle(timeout: 10)
        let created = Set(await fake.predictionIds), canceledIds = Set(await fake.canceledPredictionIds)
        #expect(!created.isEmpty && created.isSubset(of: canceledIds))
        #expect(await fake.billablePredictions == 0)
        let events = try await bench.events(project)
        #expect(events.last?.type == .jobFailed && events.last?.data["status"] == "canceled")
        await fake.shutdown()
        await bench.close()
    }

    @Test func aFailingJobRetriesWithBackoffThenFailsWithAClearReason() async throws {
        let bench = try await WorkerBench.open("worker-retry")
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        await fake.inject(.predictionFails("CUDA out of memory"), on: .create, times: 100_000)
        let project = try await bench.project(duration: 2, songSeconds: 4)
        let job = try await bench.enqueue(project, maxAttempts: 3)
        let worker = try bench.worker("w-retry", fake: fake)

        var runAfters: [Date] = []
        for attempt in 1...3 {
            // Not claimable before its backoff has passed.
            if let last = runAfters.last {
                if Date() < last.addingTimeInterval(-0.2) { #expect(try await worker.runNext() == false, "claimed during the backoff") }
                try await Task.sleep(for: .seconds(max(0, last.timeIntervalSinceNow) + 0.1))
            }
            #expect(try await waitUntil(seconds: 30) { try await worker.runNext() }, "attempt \(attempt) claimed")
            let after = try #require(try await bench.job(job.id))
            #expect(after.attempts == attempt)
            if attempt < 3 {
                #expect(after.status == .queued)
                #expect(after.runAfter > Date().addingTimeInterval(-1), "a retry waits (backoff)")
                runAfters.append(after.runAfter)
            } else {
                #expect(after.status == .failed)
                let error = try #require(after.error)
                #expect(error.code.hasPrefix("provider"), "\(error.code)")
                #expect(!error.message.isEmpty)
            }
        }
        #expect(runAfters.count == 2)
        let events = try await bench.events(project)
        #expect(events.filter { $0.type == .jobStarted }.map { $0.data["attempt"]?.intValue } == [1, 2, 3])
        #expect(events.filter { $0.type == .jobFailed }.count == 1)
        #expect(events.last?.type == .jobFailed)
        #expect(events.filter { $0.type == .progress && $0.data["message"]?.stringValue?.contains("retrying") == true }.count == 2)
        await fake.shutdown()
        await bench.close()
    }

    @Test func aDrainingWorkerHandsItsJobBackAndAnotherFinishesIt() async throws {
        let bench = try await WorkerBench.open("worker-drain")
        let fake = try await FakeReplicate.start(token: WorkerBench.token, models: ReplicateCatalogue.all)
        await fake.setLifecycle(starting: 0.05, processing: 120)
        let project = try await bench.project(duration: 4, songSeconds: 6)
        let job = try await bench.enqueue(project)
        let first = try bench.worker("w-drain", fake: fake, lease: .seconds(3), grace: .seconds(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await first.run() }
            #expect(try await waitUntil { await fake.inFlight > 0 })
            first.drain()
            try await group.waitForAll()
        }
        let released = try #require(try await bench.job(job.id))
        #expect(released.status == .queued)
        #expect(released.leaseOwner == nil)
        #expect(released.result == nil)

        await fake.setLifecycle(starting: 0.02, processing: 0.05)
        let second = try bench.worker("w-after", fake: fake)
        #expect(try await second.runNext())
        let done = try #require(try await bench.job(job.id))
        #expect(done.status == .succeeded, "\(String(describing: done.error))")
        let events = try await bench.events(project)
        #expect(events.filter { $0.type == .jobStarted }.count == 2)
        #expect(events.last?.type == .jobCompleted)
        await fake.shutdown()
        await bench.close()
    }

    @Test func threeWorkersOnPostgresRunThirtyJobsExactlyOnce() async throws {
        let bench = try await WorkerBench.open("worker-pg", postgres: true)
        var jobs: [(JobRecord, Project)] = []
        for i in 0..<30 {
            let project = try await bench.project(duration: 1, songSeconds: nil, seed: UInt64(i + 1), prompt: "tiny job \(i)")
            jobs.append((try await bench.enqueue(project), project))
        }
        let workers = try (1...3).map { try bench.worker("pg-w\($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker.run() } }
            let finished = try await waitUntil(seconds: 600) {
                var all = true
                for (job, _) in jobs where try await bench.job(job.id)?.status.isFinal != true { all = false; break }
                return all
            }
            #expect(finished)
            workers.forEach { $0.drain() }
            try await group.waitForAll()
        }
        #expect(workers.map(\.jobsRun).reduce(0, +) == 30, "\(workers.map(\.jobsRun))")
        #expect(workers.allSatisfy { $0.jobsRun > 0 }, "every worker took work: \(workers.map(\.jobsRun))")
        for (job, project) in jobs {
            let done = try #require(try await bench.job(job.id))
            #expect(done.status == .succeeded, "\(job.id): \(String(describing: done.error))")
            #expect(done.attempts == 1)
            let events = try await bench.events(project)
            #expect(events.filter { $0.type == .jobStarted }.count == 1, "job \(job.id) started once")
            #expect(events.filter { $0.type == .jobCompleted }.count == 1)
        }
        await bench.close()
    }
}
