import Foundation
import Testing
import Fluent
import SQLKit
import ReelCore
import ReelTestSupport
@testable import ReelStore

/// The persistence and queue suite: every test runs on a temporary SQLite file and on a real PostgreSQL
/// (`PostgresFixture`: a throwaway cluster, or `REELSMITH_TEST_DATABASE_URL`), each on a fresh database.
@Suite("Store") struct StoreTests {

    // MARK: Accounts

    @Test(arguments: Backend.allCases)
    func usersKeysAndSessions(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let (alice, key) = try await store.createUser(name: "alice")
            #expect(key.hasPrefix("rs_") && key.count == 46)
            #expect(try await store.authenticate(key: key) == alice)
            #expect(alice.maxConcurrentJobs == 2 && alice.requestsPerMinute == 120 && alice.budget == nil)
            let dup = await #expect(throws: ReelError.self) { try await store.createUser(name: "alice") }
            #expect(dup?.code == .badInput)
            #expect(try await store.user(named: "alice") == alice)
            #expect(try await store.user(id: alice.id) == alice)
            #expect(try await store.user(named: "nobody") == nil)

            // Only the hash is stored, looked up by hash.
            let rows = try await APIKeyModel.query(on: store.db).all()
            #expect(rows.count == 1)
            #expect(rows[0].keyHash == ServiceStore.sha256Hex(key) && rows[0].keyHash != key && rows[0].keyHash.count == 64)
            #expect(rows[0].prefix == String(key.prefix(8)))

            let (second, key2) = try await store.createKey(userId: alice.id)
            #expect(key2 != key && second.prefix == String(key2.prefix(8)))
            #expect(try await store.keys(userId: alice.id).map(\.id).contains(second.id))
            #expect(try await store.authenticate(key: key2)?.id == alice.id)

            // Rotate: the old key stops working, the new one works.
            let firstId = try #require(try await store.keys(userId: alice.id).first { $0.id != second.id }).id
            let rotated = try #require(try await store.rotateKey(id: firstId, userId: alice.id))
            #expect(try await store.authenticate(key: key) == nil)
            #expect(try await store.authenticate(key: rotated.key)?.id == alice.id)
            #expect(try await store.rotateKey(id: firstId, userId: alice.id) == nil)   // already revoked

            // Revoke; another user cannot revoke alice's key.
            let (bob, bobKey) = try await store.createUser(name: "bob")
            #expect(try await store.revokeKey(id: second.id, userId: bob.id) == false)
            #expect(try await store.revokeKey(id: second.id, userId: alice.id))
            #expect(try await store.revokeKey(id: second.id, userId: alice.id) == false)
            #expect(try await store.authenticate(key: key2) == nil)
            #expect(try await store.authenticate(key: bobKey)?.id == bob.id)
            #expect(try await store.authenticate(key: "rs_" + String(repeating: "A", count: 43)) == nil)
            #expect(try await store.authenticate(key: "") == nil)
            let keys = try await store.keys(userId: alice.id)
            #expect(keys.count == 3 && keys.filter { $0.revokedAt == nil }.count == 1)
            #expect(try await store.users().map(\.name) == ["alice", "bob"])

            // Limits.
            try await store.setLimits(userId: alice.id, budget: 5, maxConcurrentJobs: 3, requestsPerMinute: 10)
            let limited = try #require(try await store.user(id: alice.id))
            #expect(limited.budget == 5 && limited.maxConcurrentJobs == 3 && limited.requestsPerMinute == 10)
            try await store.setLimits(userId: alice.id, budget: nil, maxConcurrentJobs: nil, requestsPerMinute: nil)
            let unlimited = try #require(try await store.user(id: alice.id))
            #expect(unlimited.budget == nil && unlimited.maxConcurrentJobs == 3)

            // Sessions.
            let token = try await store.createSession(userId: alice.id, keyId: rotated.info.id, ttl: .seconds(3600))
            #expect(try await store.sessionUser(token: token)?.id == alice.id)
            #expect(try await SessionModel.query(on: store.db).filter(\.$tokenHash == token).count() == 0)
            try await store.deleteSession(token: token)
            #expect(try await store.sessionUser(token: token) == nil)
            let expired = try await store.createSession(userId: alice.id, keyId: rotated.info.id, ttl: .seconds(-1))
            #expect(try await store.sessionUser(token: expired) == nil)
        }
    }

    // MARK: Projects

    @Test(arguments: Backend.allCases)
    func ownershipHidesOtherUsersThings(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let bob = try await store.createUser(name: "bob").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let asset = try await store.createAsset(sampleAsset(project, kind: .audio))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job

            #expect(try await store.project(id: project.id, owner: bob.id) == nil)
            #expect(try await store.updateProject(id: project.id, owner: bob.id, fields: ProjectFields(name: "mine")) == nil)
            #expect(try await store.deleteProject(id: project.id, owner: bob.id) == nil)
            #expect(try await store.asset(id: asset.id, owner: bob.id) == nil)
            #expect(try await store.deleteAsset(id: asset.id, owner: bob.id) == nil)
            #expect(try await store.assets(projectId: project.id, owner: bob.id, limit: 10, cursor: nil).items.isEmpty)
            #expect(try await store.job(id: job.id, owner: bob.id) == nil)
            #expect(try await store.cancelJob(id: job.id, owner: bob.id) == nil)
            #expect(try await store.projects(owner: bob.id, limit: 10, cursor: nil).items.isEmpty)
            var bobsAsset = sampleAsset(project, kind: .image)
            bobsAsset.ownerId = bob.id
            await #expect(throws: ReelError.self) { _ = try await store.createAsset(bobsAsset) }

            // Still all there for alice.
            #expect(try await store.project(id: project.id, owner: alice.id)?.name == "neon city")
            #expect(try await store.asset(id: asset.id, owner: alice.id) == asset)
            #expect(try await store.job(id: job.id, owner: alice.id)?.status == .queued)
            #expect(try await store.job(id: job.id, owner: nil)?.id == job.id)
        }
    }

    @Test(arguments: Backend.allCases)
    func projectsCRUDAndPagination(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let first = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "a calm lake at dawn"))
            #expect(first.name == "a calm lake at dawn" && first.category == .musicVideo && first.aspectRatio == .landscape)
            #expect(first.preset == .draft && first.mode == .classic && first.seed == nil && first.plan == nil && first.duration == nil)
            var made = [first.id]
            for i in 1..<7 {
                let p = try await store.createProject(owner: alice.id, fields: ProjectFields(
                    name: "p\(i)", prompt: "prompt \(i)", category: .adCreative, duration: 15, aspectRatio: .portrait,
                    style: "noir", mood: "tense", preset: .preview, mode: .agentic, seed: UInt64.max - UInt64(i)))
                #expect(p.seed == UInt64.max - UInt64(i) && p.aspectRatio == .portrait && p.style == "noir")
                made.append(p.id)
            }
            // Newest first, pages of 3 + 3 + 1, nothing twice, nothing missed.
            var seen: [UUID] = []
            var cursor: String? = nil
            var pages = 0
            repeat {
                let page = try await store.projects(owner: alice.id, limit: 3, cursor: cursor)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(seen == made.reversed())

            // Bad cursors are the client's fault.
            for bad in ["garbage!", "Zm9vOmJhcg", "", String(repeating: "x", count: 500)] {
                let e = await #expect(throws: ReelError.self) { _ = try await store.projects(owner: alice.id, limit: 3, cursor: bad) }
                #expect(e?.code == .badInput)
            }

            // Update: a patch.
            let updated = try #require(try await store.updateProject(id: first.id, owner: alice.id,
                                                                       fields: ProjectFields(name: "Lake", preset: .final)))
            #expect(updated.name == "Lake" && updated.preset == .final && updated.prompt == "a calm lake at dawn")
            #expect(updated.updatedAt >= first.updatedAt)
            let bad = await #expect(throws: ReelError.self) {
                _ = try await store.updateProject(id: first.id, owner: alice.id, fields: ProjectFields(duration: -3))
            }
            #expect(bad?.code == .badInput)

            // Delete returns the objects to remove.
            let asset = try await store.createAsset(sampleAsset(first, kind: .video))
            try await store.setPlan(projectId: first.id, plan: samplePlan())
            try await store.setSceneClip(projectId: first.id, index: 1, clipKey: "clips/one.mp4")
            let job = try await store.enqueue(makeJob(first), idempotencyKey: "gen-1").job
            let claimed = try #require(try await store.claimJob(worker: "w", lease: .seconds(60)))
            #expect(claimed.id == job.id)
            try await store.completeJob(jobId: job.id, worker: "w",
                                        outputs: JobOutputs(video: "out/v.mp4", manifest: "out/m.json", thumbnail: "out/t.jpg"),
                                        stageSeconds: [:])
            _ = try await store.appendEvent(jobId: job.id, projectId: first.id, type: .jobCompleted, data: [:])
            try await store.saveCheckpoint(run: "\(first.id.uuidString.lowercased())-abc", name: "plan", data: Data("x".utf8))
            let keys = try #require(try await store.deleteProject(id: first.id, owner: alice.id))
            #expect(Set(keys) == [asset.storageKey, "clips/one.mp4", "out/v.mp4", "out/m.json", "out/t.jpg"])
            #expect(try await store.project(id: first.id, owner: alice.id) == nil)
            #expect(try await store.scenes(projectId: first.id).isEmpty)
            #expect(try await store.job(id: job.id, owner: nil) == nil)
            #expect(try await store.events(projectId: first.id, after: 0, limit: 10).isEmpty)
            #expect(try await store.checkpoint(run: "\(first.id.uuidString.lowercased())-abc", name: "plan") == nil)
            #expect(try await store.deleteProject(id: first.id, owner: alice.id) == nil)
            #expect(try await store.projects(owner: alice.id, limit: 100, cursor: nil).items.count == 6)
        }
    }

    @Test(arguments: Backend.allCases)
    func scenesFollowThePlan(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            #expect(try await store.scenes(projectId: project.id).isEmpty)
            try await store.setPlan(projectId: project.id, plan: samplePlan(scenes: 3))
            let scenes = try await store.scenes(projectId: project.id)
            #expect(scenes.map(\.index) == [0, 1, 2] && scenes.map(\.prompt) == ["scene 0", "scene 1", "scene 2"])
            #expect(scenes.allSatisfy { !$0.locked && $0.variant == 0 && $0.clipKey == nil })
            #expect(try await store.project(id: project.id, owner: alice.id)?.plan == samplePlan(scenes: 3))

            // Edit, lock, bump, clip.
            let edited = try #require(try await store.updateScene(projectId: project.id, sceneId: scenes[0].id,
                                                                  prompt: "a red door", duration: 3, locked: true))
            #expect(edited.prompt == "a red door" && edited.locked && edited.end == 3)
            let after = try await store.scenes(projectId: project.id)
            #expect(after[1].start == 3 && after[1].end == 4)
            let plan = try #require(try await store.project(id: project.id, owner: alice.id)?.plan)
            #expect(plan.scenes[0].prompt == "a red door" && plan.scenes[0].end == 3 && plan.scenes[1].start == 3)
            try plan.validate()
            let tooLong = await #expect(throws: ReelError.self) {
                _ = try await store.updateScene(projectId: project.id, sceneId: scenes[0].id, prompt: nil, duration: 4, locked: nil)
            }
            #expect(tooLong?.code == .badInput)
            let last = await #expect(throws: ReelError.self) {
                _ = try await store.updateScene(projectId: project.id, sceneId: scenes[2].id, prompt: nil, duration: 1, locked: nil)
            }
            #expect(last?.code == .badInput)
            #expect(try await store.bumpSceneVariant(projectId: project.id, sceneId: scenes[2].id)?.variant == 1)
            #expect(try await store.bumpSceneVariant(projectId: project.id, sceneId: scenes[2].id)?.variant == 2)
            try await store.setSceneClip(projectId: project.id, index: 2, clipKey: "clips/2.mp4")
            #expect(try await store.updateScene(projectId: project.id, sceneId: UUID(), prompt: "x", duration: nil, locked: nil) == nil)
            let other = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "other"))
            #expect(try await store.bumpSceneVariant(projectId: other.id, sceneId: scenes[2].id) == nil)

            // A new plan keeps ids, locks and variants by index; drops rows past the end; keeps unchanged clips.
            try await store.setPlan(projectId: project.id, plan: samplePlan(scenes: 4))
            let replanned = try await store.scenes(projectId: project.id)
            #expect(replanned.count == 4)
            #expect(replanned[0].id == scenes[0].id && replanned[0].locked && replanned[0].prompt == "scene 0")
            #expect(replanned[2].id == scenes[2].id && replanned[2].variant == 2 && replanned[2].clipKey == "clips/2.mp4")
            try await store.setPlan(projectId: project.id, plan: samplePlan(scenes: 2, prompt: { "new \($0)" }))
            let shorter = try await store.scenes(projectId: project.id)
            #expect(shorter.map(\.prompt) == ["new 0", "new 1"] && shorter[0].locked)
        }
    }

    @Test(arguments: Backend.allCases)
    func assetsSongAndMedia(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let oldSong = try await store.createAsset(sampleAsset(project, kind: .audio, at: t0))
            let newSong = try await store.createAsset(sampleAsset(project, kind: .audio, at: t0 + 10))
            let pendingSong = try await store.createAsset(sampleAsset(project, kind: .audio, status: "pending", at: t0 + 20))
            let image = try await store.createAsset(sampleAsset(project, kind: .image, at: t0 + 1))
            let video = try await store.createAsset(sampleAsset(project, kind: .video, at: t0 + 2))
            var pendingImage = try await store.createAsset(sampleAsset(project, kind: .image, status: "pending", at: t0 + 3))
            #expect(oldSong.filename == "my audio.bin" && oldSong.size == 1234 && oldSong.duration == 3.5)

            #expect(try await store.projectSong(projectId: project.id)?.id == newSong.id)
            #expect(try await store.projectMedia(projectId: project.id).map(\.id) == [image.id, video.id])
            _ = try await store.updateProject(id: project.id, owner: alice.id, fields: ProjectFields(audioAssetId: oldSong.id))
            #expect(try await store.projectSong(projectId: project.id)?.id == oldSong.id)
            let notAudio = await #expect(throws: ReelError.self) {
                _ = try await store.updateProject(id: project.id, owner: alice.id, fields: ProjectFields(audioAssetId: image.id))
            }
            #expect(notAudio?.code == .badInput)

            // Completing an upload.
            pendingImage.status = "ready"
            pendingImage.width = 1920
            try await store.updateAsset(pendingImage)
            #expect(try await store.asset(id: pendingImage.id, owner: alice.id)?.width == 1920)
            #expect(try await store.projectMedia(projectId: project.id).map(\.id) == [image.id, video.id, pendingImage.id])

            // Pages, newest first.
            let page1 = try await store.assets(projectId: project.id, owner: alice.id, limit: 4, cursor: nil)
            let page2 = try await store.assets(projectId: project.id, owner: alice.id, limit: 4, cursor: page1.nextCursor)
            #expect(page1.items.map(\.id) == [pendingSong.id, newSong.id, pendingImage.id, video.id])
            #expect(page2.items.map(\.id) == [image.id, oldSong.id] && page2.nextCursor == nil)

            // Deleting the chosen song forgets the choice.
            #expect(try await store.deleteAsset(id: oldSong.id, owner: alice.id)?.storageKey == oldSong.storageKey)
            #expect(try await store.project(id: project.id, owner: alice.id)?.audioAssetId == nil)
            #expect(try await store.projectSong(projectId: project.id)?.id == newSong.id)
            #expect(try await store.asset(id: oldSong.id, owner: alice.id) == nil)
        }
    }

    // MARK: Queue

    @Test(arguments: Backend.allCases)
    func idempotencyKeysReturnTheSameJob(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let bob = try await store.createUser(name: "bob").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let bobs = try await store.createProject(owner: bob.id, fields: ProjectFields(prompt: "rain"))
            let a = try await store.enqueue(makeJob(project), idempotencyKey: "k1")
            let b = try await store.enqueue(makeJob(project), idempotencyKey: "k1")
            #expect(a.created && !b.created && a.job.id == b.job.id)
            let c = try await store.enqueue(makeJob(bobs), idempotencyKey: "k1")
            #expect(c.created && c.job.id != a.job.id)
            let d = try await store.enqueue(makeJob(project), idempotencyKey: nil)
            let e = try await store.enqueue(makeJob(project), idempotencyKey: nil)
            #expect(d.created && e.created && d.job.id != e.job.id)
            #expect(try await store.activeJobCount(userId: alice.id) == 3)

            // Concurrent requests with one key make one job.
            let results = try await withThrowingTaskGroup(of: UUID.self) { group in
                for _ in 0..<6 { group.addTask { try await store.enqueue(makeJob(project), idempotencyKey: "k2").job.id } }
                return try await group.reduce(into: Set<UUID>()) { $0.insert($1) }
            }
            #expect(results.count == 1)
            #expect(try await store.activeJobCount(userId: alice.id) == 4)

            // After 24 hours the key makes a new job.
            try await IdempotencyKeyModel.query(on: store.db).filter(\.$key == "k1").filter(\.$userId == alice.id)
                .set(\.$createdAt, to: Date().timeIntervalSince1970 - 25 * 3600).update()
            let f = try await store.enqueue(makeJob(project), idempotencyKey: "k1")
            #expect(f.created && f.job.id != a.job.id)
            let page = try await store.jobs(projectId: project.id, limit: 2, cursor: nil)
            let rest = try await store.jobs(projectId: project.id, limit: 10, cursor: page.nextCursor)
            #expect(page.items.count == 2 && rest.items.count == 3 && rest.nextCursor == nil)
            #expect(Set(page.items.map(\.id) + rest.items.map(\.id)).count == 5)
            #expect(page.items[0].id == f.job.id)
        }
    }

    @Test(arguments: Backend.allCases)
    func queueLifecycle(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            try await store.setPlan(projectId: project.id, plan: samplePlan(scenes: 3))   // 6 s of video
            #expect(try await store.claimJob(worker: "w1", lease: .seconds(30)) == nil)

            // Claim, renew, progress, complete.
            let job = try await store.enqueue(JobRecord(projectId: project.id, userId: alice.id, kind: .regenerateScene,
                                                        parameters: JobParameters(sceneIndex: 1, budget: 2)), idempotencyKey: nil).job
            let claimed = try #require(try await store.claimJob(worker: "w1", lease: .seconds(30)))
            #expect(claimed.id == job.id && claimed.status == .running && claimed.attempts == 1 && claimed.leaseOwner == "w1")
            #expect(claimed.startedAt != nil && claimed.parameters == JobParameters(sceneIndex: 1, budget: 2) && claimed.kind == .regenerateScene)
            #expect(try #require(claimed.leaseExpiresAt) > Date())
            #expect(try await store.claimJob(worker: "w2", lease: .seconds(30)) == nil)
            #expect(try await store.renewLease(jobId: job.id, worker: "w1", lease: .seconds(30)) == .held)
            #expect(try await store.renewLease(jobId: job.id, worker: "w2", lease: .seconds(30)) == .lost)
            try await store.updateProgress(jobId: job.id, worker: "w1", stage: .generate, progress: 42, etaSeconds: 12)
            try await store.updateProgress(jobId: job.id, worker: "w2", stage: .compose, progress: 99, etaSeconds: 1)
            let running = try #require(try await store.job(id: job.id, owner: alice.id))
            #expect(running.stage == .generate && running.progress == 42 && running.etaSeconds == 12)
            let stranger = await #expect(throws: ReelError.self) {
                try await store.completeJob(jobId: job.id, worker: "w2", outputs: JobOutputs(video: "v", manifest: "m", thumbnail: "t"), stageSeconds: [:])
            }
            #expect(stranger?.code == .cancelled)
            let outputs = JobOutputs(video: "out/v.mp4", manifest: "out/v.manifest.json", thumbnail: "out/v.jpg")
            try await store.completeJob(jobId: job.id, worker: "w1", outputs: outputs, stageSeconds: [.generate: 12, .compose: 3])
            let done = try #require(try await store.job(id: job.id, owner: nil))
            #expect(done.status == .succeeded && done.result == outputs && done.progress == 100 && done.finishedAt != nil)
            #expect(done.leaseOwner == nil && done.error == nil)
            #expect(try await store.renewLease(jobId: job.id, worker: "w1", lease: .seconds(30)) == .lost)
            #expect(try await store.averageStageSeconds() == [.generate: 2, .compose: 0.5])
            #expect(try await store.activeJobCount(userId: alice.id) == 0)

            // Fail with backoff, then for good.
            let flaky = try await store.enqueue(makeJob(project, maxAttempts: 2), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w1", lease: .seconds(30)))
            let failure = JobFailure(code: "provider-unavailable", message: "Replicate is down")
            let failedAt = Date()
            let retried = try await store.failJob(jobId: flaky.id, worker: "w1", failure: failure, retryable: true)
            #expect(retried.status == .queued && retried.error == failure && retried.leaseOwner == nil && retried.attempts == 1)
            // Backoff: 2 s ± 20 % from the failure (bounds from the clock around the call, so a slow machine cannot fail it).
            #expect(retried.runAfter >= failedAt + 1.6 - 0.01)
            #expect(retried.runAfter <= Date() + 2.4 + 0.01)
            // Not claimable while it waits (the wait pushed out, so the check does not race the clock).
            try await JobModel.query(on: store.db).filter(\.$id == flaky.id).set(\.$runAfter, to: Date().timeIntervalSince1970 + 600).update()
            #expect(try await store.claimJob(worker: "w1", lease: .seconds(30)) == nil)
            try await JobModel.query(on: store.db).filter(\.$id == flaky.id).set(\.$runAfter, to: Date().timeIntervalSince1970 - 1).update()
            let again = try #require(try await store.claimJob(worker: "w2", lease: .seconds(30)))
            #expect(again.id == flaky.id && again.attempts == 2 && again.leaseOwner == "w2")
            let failed = try await store.failJob(jobId: flaky.id, worker: "w2", failure: failure, retryable: true)
            #expect(failed.status == .failed && failed.finishedAt != nil && failed.error == failure)

            // A user error does not retry.
            let bad = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w1", lease: .seconds(30)))
            let badFail = try await store.failJob(jobId: bad.id, worker: "w1", failure: JobFailure(code: "bad-plan", message: "no"), retryable: false)
            #expect(badFail.status == .failed && badFail.attempts == 1)

            // Release (drain): queued again at once, the attempt not counted.
            let drained = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w1", lease: .seconds(30)))
            try await store.releaseJob(jobId: drained.id, worker: "w2")     // not its job: nothing happens
            #expect(try await store.job(id: drained.id, owner: nil)?.status == .running)
            try await store.releaseJob(jobId: drained.id, worker: "w1")
            let released = try #require(try await store.job(id: drained.id, owner: nil))
            #expect(released.status == .queued && released.attempts == 0 && released.leaseOwner == nil)
            let reclaimed = try #require(try await store.claimJob(worker: "w2", lease: .seconds(30)))
            #expect(reclaimed.id == drained.id && reclaimed.attempts == 1)

            // Cancel: running → requested, then the worker stops; queued → canceled at once; finished → unchanged.
            let requested = try #require(try await store.cancelJob(id: drained.id, owner: alice.id))
            #expect(requested.status == .running && requested.cancelRequested)
            #expect(try await store.renewLease(jobId: drained.id, worker: "w2", lease: .seconds(30)) == .cancelRequested)
            try await store.markCanceled(jobId: drained.id, worker: "w2")
            let canceled = try #require(try await store.job(id: drained.id, owner: nil))
            #expect(canceled.status == .canceled && canceled.finishedAt != nil && canceled.leaseOwner == nil)
            let queued = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            #expect(try await store.cancelJob(id: queued.id, owner: alice.id)?.status == .canceled)
            #expect(try await store.claimJob(worker: "w1", lease: .seconds(30)) == nil)
            #expect(try await store.cancelJob(id: job.id, owner: alice.id)?.status == .succeeded)
            #expect(try await store.activeJobCount(userId: alice.id) == 0)
        }
    }

    @Test(arguments: Backend.allCases)
    func expiredLeaseIsReclaimedLiveLeaseNever(_ backend: Backend) async throws {
        try await withStore(backend) { store, location in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job

            // A live lease is never taken, from this process or another.
            let first = try #require(try await store.claimJob(worker: "w1", lease: .seconds(60)))
            #expect(first.id == job.id)
            #expect(try await store.claimJob(worker: "w2", lease: .seconds(60)) == nil)
            let fromOther = try await ServiceDatabase.withStore(location) { other in try await other.claimJob(worker: "w3", lease: .seconds(60)) }
            #expect(fromOther == nil)

            // w1 "dies": its lease runs out. Another worker (another process) takes the job over.
            try await JobModel.query(on: store.db).filter(\.$id == job.id)
                .set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()
            let second = try await ServiceDatabase.withStore(location) { other in try await other.claimJob(worker: "w2", lease: .seconds(60)) }
            let taken = try #require(second)
            #expect(taken.id == job.id && taken.leaseOwner == "w2" && taken.attempts == 2 && taken.startedAt == first.startedAt)
            #expect(try await store.renewLease(jobId: job.id, worker: "w1", lease: .seconds(60)) == .lost)
            await #expect(throws: ReelError.self) {
                _ = try await store.failJob(jobId: job.id, worker: "w1", failure: JobFailure(code: "x", message: "y"), retryable: true)
            }
            await #expect(throws: ReelError.self) { try await store.markCanceled(jobId: job.id, worker: "w1") }
            #expect(try await store.renewLease(jobId: job.id, worker: "w2", lease: .seconds(60)) == .held)

            // The last attempt's worker dies too: the job fails ("worker lost") instead of running a fourth time.
            try await JobModel.query(on: store.db).filter(\.$id == job.id)
                .set(\.$attempts, to: 3).set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()
            #expect(try await store.claimJob(worker: "w4", lease: .seconds(60)) == nil)
            let lost = try #require(try await store.job(id: job.id, owner: nil))
            #expect(lost.status == .failed && lost.finishedAt != nil && lost.error?.message.contains("worker lost") == true)
            #expect(try await store.events(projectId: project.id, after: 0, limit: 10).map(\.type) == [.jobFailed])

            // A canceled job whose worker died ends canceled.
            let doomed = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w5", lease: .seconds(60)))
            _ = try await store.cancelJob(id: doomed.id, owner: alice.id)
            try await JobModel.query(on: store.db).filter(\.$id == doomed.id)
                .set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()
            #expect(try await store.claimJob(worker: "w6", lease: .seconds(60)) == nil)
            #expect(try await store.job(id: doomed.id, owner: nil)?.status == .canceled)
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentClaimersTakeEachJobOnce(_ backend: Backend) async throws {
        try await withStore(backend) { store, location in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            var ids = Set<UUID>()
            for _ in 0..<30 { ids.insert(try await store.enqueue(makeJob(project), idempotencyKey: nil).job.id) }

            // Three claimers, each with its own connection pool as separate processes would have, two tasks each.
            let claims = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for c in 0..<3 {
                    group.addTask {
                        try await ServiceDatabase.withStore(location) { other in
                            try await withThrowingTaskGroup(of: [UUID].self) { inner in
                                for t in 0..<2 {
                                    inner.addTask {
                                        var mine: [UUID] = []
                                        let worker = "claimer-\(c)-\(t)"
                                        while let job = try await other.claimJob(worker: worker, lease: .seconds(120)) {
                                            mine.append(job.id)
                                            #expect(job.leaseOwner == worker && job.attempts == 1)
                                            try await other.completeJob(jobId: job.id, worker: worker,
                                                                        outputs: JobOutputs(video: "v", manifest: "m", thumbnail: "t"),
                                                                        stageSeconds: [:])
                                        }
                                        return mine
                                    }
                                }
                                return try await inner.reduce(into: []) { $0 += $1 }
                            }
                        }
                    }
                }
                return try await group.reduce(into: [UUID]()) { $0 += $1 }
            }
            #expect(claims.count == 30)
            #expect(Set(claims) == ids)
            let page = try await store.jobs(projectId: project.id, limit: 100, cursor: nil)
            #expect(page.items.count == 30 && page.items.allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
        }
    }

    // MARK: Events

    @Test(arguments: Backend.allCases)
    func eventsResumeAfterAnId(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let a = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "a"))
            let b = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "b"))
            let job = try await store.enqueue(makeJob(a), idempotencyKey: nil).job
            let jobB = try await store.enqueue(makeJob(b), idempotencyKey: nil).job
            let wake = store.eventWakeups()
            var appended: [JobEvent] = []
            appended.append(try await store.appendEvent(jobId: job.id, projectId: a.id, type: .jobStarted, data: ["attempt": .number(1)]))
            #expect(await wakes(wake))
            _ = try await store.appendEvent(jobId: jobB.id, projectId: b.id, type: .jobStarted, data: [:])
            appended.append(try await store.appendEvent(jobId: job.id, projectId: a.id, type: .stageStarted, data: ["stage": .string("plan")]))
            appended.append(try await store.appendEvent(jobId: job.id, projectId: a.id, type: .sceneCompleted,
                                                        data: ["scene": .number(2), "reusedScenes": .array([.number(0)])]))
            appended.append(try await store.appendEvent(jobId: job.id, projectId: a.id, type: .progress, data: ["progress": .number(55.5)]))
            #expect(zip(appended, appended.dropFirst()).allSatisfy { $0.id < $1.id })

            let all = try await store.events(projectId: a.id, after: 0, limit: 100)
            #expect(all == appended)
            #expect(all[2].data["reusedScenes"] == .array([.number(0)]))
            #expect(try await store.events(projectId: a.id, after: appended[1].id, limit: 100) == Array(appended[2...]))
            #expect(try await store.events(projectId: a.id, after: 0, limit: 2) == Array(appended[..<2]))
            #expect(try await store.events(projectId: a.id, after: appended[3].id, limit: 100).isEmpty)
            #expect(try await store.events(projectId: b.id, after: 0, limit: 100).map(\.type) == [.jobStarted])

            // Concurrent appends: ids unique and each reader sees them in id order.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask { _ = try await store.appendEvent(jobId: job.id, projectId: a.id, type: .progress, data: ["progress": .number(Double(i))]) }
                }
                try await group.waitForAll()
            }
            let more = try await store.events(projectId: a.id, after: appended[3].id, limit: 100)
            #expect(more.count == 20 && Set(more.map(\.id)).count == 20)
        }
    }

    @Test func eventWakeupsCrossServersOnPostgres() async throws {
        try await withStore(.postgres) { store, location in
            try await ServiceDatabase.withStore(location) { other in
                let alice = try await store.createUser(name: "alice").user
                let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
                let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
                let wake = other.eventWakeups()
                let event = try await store.appendEvent(jobId: job.id, projectId: project.id, type: .jobStarted, data: [:])
                #expect(await wakes(wake))
                #expect(try await other.events(projectId: project.id, after: 0, limit: 10) == [event])
            }
        }
    }

    // MARK: Costs, checkpoints, cache index

    @Test(arguments: Backend.allCases)
    func costsAndSpending(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let bob = try await store.createUser(name: "bob").user
            let a = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "a"))
            let b = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "b"))
            let job = try await store.enqueue(makeJob(a), idempotencyKey: nil).job
            let jobB = try await store.enqueue(makeJob(b), idempotencyKey: nil).job
            #expect(try await store.spent(userId: alice.id) == 0)
            let t = Date(timeIntervalSince1970: 1_800_000_000)
            var cached = sampleCost(scene: 2, cost: 0.3, at: t + 2)
            cached = CostEntry(role: cached.role, provider: cached.provider, model: cached.model, scene: 2, units: 5, unit: "second",
                               unitPrice: 0.06, cacheHit: true, predictionId: nil, at: t + 2, kind: "video")
            let llm = CostEntry(role: "planner", provider: "anthropic", model: "claude", scene: nil, units: 1, unit: "call",
                                unitPrice: 0, cacheHit: false, predictionId: nil, at: t + 3, kind: "text", status: "succeeded",
                                cost: 0.0123, inputTokens: 1200, outputTokens: 300)
            let entries = [sampleCost(scene: 0, cost: 0.25, at: t), sampleCost(scene: 1, cost: 0.5, at: t + 1), cached, llm]
            try await store.recordCosts(projectId: a.id, jobId: job.id, userId: alice.id, entries: entries)
            try await store.recordCosts(projectId: b.id, jobId: jobB.id, userId: alice.id, entries: [sampleCost(scene: 0, cost: 1, at: t)])
            #expect(try await store.costs(projectId: a.id) == entries)
            #expect(try await store.spent(userId: alice.id) == CostLedger.round(0.25 + 0.5 + 0.0123 + 1))
            #expect(try await store.spent(userId: bob.id) == 0)
            _ = try await store.deleteProject(id: b.id, owner: alice.id)
            #expect(try await store.spent(userId: alice.id) == CostLedger.round(0.25 + 0.5 + 0.0123 + 1))
        }
    }

    @Test(arguments: Backend.allCases)
    func checkpointsAndCacheIndex(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            #expect(try await store.checkpoint(run: "r1", name: "plan") == nil)
            let blob = Data((0..<5000).map { UInt8($0 % 251) })
            try await store.saveCheckpoint(run: "r1", name: "plan", data: blob)
            try await store.saveCheckpoint(run: "r1", name: "scene-0", data: Data("zero".utf8))
            try await store.saveCheckpoint(run: "r2", name: "plan", data: Data("other".utf8))
            #expect(try await store.checkpoint(run: "r1", name: "plan") == blob)
            try await store.saveCheckpoint(run: "r1", name: "plan", data: Data("replaced".utf8))
            #expect(try await store.checkpoint(run: "r1", name: "plan") == Data("replaced".utf8))
            #expect(try await store.checkpoint(run: "r1", name: "scene-0") == Data("zero".utf8))
            #expect(try await store.checkpoint(run: "r2", name: "plan") == Data("other".utf8))

            #expect(try await store.cacheEntry(key: "abc") == nil)
            let entry = CacheIndexEntry(key: "abc", provider: "replicate", model: "owner/model", objectKey: "cache/ab/abc.mp4",
                                        size: 123_456_789_012, createdAt: Date(timeIntervalSince1970: 1_800_000_000))
            try await store.indexCacheEntry(entry)
            #expect(try await store.cacheEntry(key: "abc") == entry)
            var moved = entry
            moved.objectKey = "cache/ab/abc-2.mp4"
            try await store.indexCacheEntry(moved)
            #expect(try await store.cacheEntry(key: "abc") == moved)
        }
    }

    @Test func openingFailsCleanly() async throws {
        let bad = await #expect(throws: ReelError.self) { _ = try await ServiceDatabase.open(.postgres(url: "not a url at all")) }
        #expect(bad?.code == .badInput)
        // Nothing listens on port 1: a prompt error, not a hang.
        await #expect(throws: (any Error).self) {
            _ = try await ServiceDatabase.open(.postgres(url: "postgres://postgres@127.0.0.1:1/none?sslmode=disable"))
        }
        // A closed database throws instead of crashing.
        let dir = try Fixtures.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try await ServiceDatabase.open(.sqlite(path: dir + "/nested/db.sqlite"))
        let store = ServiceStore(database: database)
        _ = try await store.createUser(name: "alice")
        await database.shutdown()
        await database.shutdown()
        await #expect(throws: ReelError.self) { _ = try await store.users() }
    }

    @Test(arguments: Backend.allCases)
    func reopeningMigratesOnceAndPings(_ backend: Backend) async throws {
        try await withStore(backend) { store, location in
            try await store.database.ping()
            _ = try await store.createUser(name: "alice")
            try await ServiceDatabase.withStore(location) { other in
                try await other.database.ping()
                #expect(other.database.isPostgres == (backend == .postgres))
                #expect(try await other.user(named: "alice") != nil)
            }
            if backend == .sqlite {
                let mode = try await store.sql.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self)
                #expect(mode == "wal")
            }
        }
    }
}
