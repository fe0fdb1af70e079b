import Foundation
import SQLKit
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelStore

/// Issue 14: a job's end and its event are one write; limits and budget holds are decided inside the transaction
/// that acts on them; lease times come from the database's clock.
@Suite("store consistency")
struct StoreConsistencyTests {
    /// Makes every insert into `job_events` fail, as a crash between the job's update and its event would.
    func breakEventWrites(_ store: ServiceStore) async throws {
        let sql = try store.sql
        if store.database.isPostgres {
            try await sql.raw("""
                CREATE FUNCTION reject_events() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql
                """).run()
            try await sql.raw("CREATE TRIGGER reject_events BEFORE INSERT ON job_events FOR EACH ROW EXECUTE FUNCTION reject_events()").run()
        } else {
            try await sql.raw("CREATE TRIGGER reject_events BEFORE INSERT ON job_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END").run()
        }
    }

    func repairEventWrites(_ store: ServiceStore) async throws {
        let sql = try store.sql
        try await sql.raw(store.database.isPostgres ? "DROP TRIGGER reject_events ON job_events" : "DROP TRIGGER reject_events").run()
    }

    @Test(arguments: Backend.allCases)
    func aJobEndsOnlyTogetherWithItsTerminalEvent(_ backend: Backend) async throws {
        let (location, cleanup) = try await backend.freshLocation()
        defer { cleanup() }
        let outputs = JobOutputs(video: "jobs/x/video.mp4", manifest: "jobs/x/manifest.json", thumbnail: "jobs/x/thumbnail.jpg")
        let (projectId, done, failing) = try await ServiceDatabase.withStore(location) { store -> (UUID, UUID, UUID) in
            let user = try await store.createUser(name: "crash").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let done = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let failing = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate, maxAttempts: 1),
                                                  idempotencyKey: nil).job
            #expect(try await store.claimJob(worker: "w", lease: .seconds(300))?.id == done.id)
            #expect(try await store.claimJob(worker: "w", lease: .seconds(300))?.id == failing.id)

            // The event cannot be written: the job is not marked done either (the old code marked it, then lost the event).
            try await breakEventWrites(store)
            await #expect(throws: (any Error).self) {
                try await store.completeJob(jobId: done.id, worker: "w", outputs: outputs, stageSeconds: [:])
            }
            await #expect(throws: (any Error).self) {
                _ = try await store.failJob(jobId: failing.id, worker: "w", failure: JobFailure(code: "x", message: "y"), retryable: false)
            }
            #expect(try await store.job(id: done.id, owner: nil)?.status == .running)
            #expect(try await store.job(id: done.id, owner: nil)?.result == nil)
            #expect(try await store.job(id: failing.id, owner: nil)?.status == .running)
            #expect(try await store.events(projectId: project.id, after: 0, limit: 100).isEmpty)
            try await repairEventWrites(store)
            return (project.id, done.id, failing.id)
        }

        // After a restart the worker (still holding its lease) ends both: each end comes with its event.
        try await ServiceDatabase.withStore(location) { store in
            try await store.completeJob(jobId: done, worker: "w", outputs: outputs, stageSeconds: [:])
            let failed = try await store.failJob(jobId: failing, worker: "w", failure: JobFailure(code: "x", message: "y"), retryable: false)
            #expect(failed.status == .failed)
            let events = try await store.events(projectId: projectId, after: 0, limit: 100)
            #expect(events.filter { $0.jobId == done }.map(\.type) == [.jobCompleted])
            #expect(events.filter { $0.jobId == failing }.map(\.type) == [.jobFailed])
            #expect(try await store.job(id: done, owner: nil)?.status == .succeeded)
        }
    }

    @Test(arguments: Backend.allCases)
    func cancelingAQueuedJobWritesItsTerminalEvent(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "cancel").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let job = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            #expect(try await store.cancelJob(id: job.id, owner: user.id)?.status == .canceled)
            let events = try await store.events(projectId: project.id, after: 0, limit: 10)
            #expect(events.map(\.type) == [.jobFailed])
            #expect(events.first?.data["status"] == "canceled")
        }
    }

    @Test(arguments: Backend.allCases)
    func leasesAreTimedByTheDatabaseClock(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "clock").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let job = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let sql = try store.sql
            let before = try await store.databaseNow(on: sql)
            let claimed = try #require(try await store.claimJob(worker: "w", lease: .seconds(100)))
            let after = try await store.databaseNow(on: sql)
            let expires = try #require(claimed.leaseExpiresAt).timeIntervalSince1970
            #expect(expires >= before + 100 - 0.01 && expires <= after + 100 + 0.01)
            // A job due later by the database's clock is not claimed, whatever this process's clock says.
            try await sql.raw("UPDATE jobs SET status = 'queued', run_after = \(unsafeRaw: store.clockSQL) + 50 WHERE id = \(bind: job.id)").run()
            #expect(try await store.claimJob(worker: "w2", lease: .seconds(100)) == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func budgetHoldsOfOneUserNeverPassTheBudgetTogether(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "holds").user
            try await store.setLimits(userId: user.id, budget: 1.0, maxConcurrentJobs: nil, requestsPerMinute: nil)
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let jobA = UUID(), jobB = UUID()
            let ledgers = [store.spendLedger(userId: user.id, jobId: jobA), store.spendLedger(userId: user.id, jobId: jobB)]
            // 40 holds of $0.10 asked at once from two jobs: exactly 10 fit in $1.
            let granted = await withTaskGroup(of: SpendHold?.self) { group in
                for i in 0..<40 {
                    group.addTask { try? await ledgers[i % 2].reserve(0.1, for: "a test call") }
                }
                var out: [SpendHold] = []
                for await hold in group { if let hold { out.append(hold) } }
                return out
            }
            #expect(granted.count == 10)
            #expect(abs(try await store.committedSpending(userId: user.id) - 1.0) < 1e-9)

            // A settled call counts its real cost until its entry is recorded, which closes the hold.
            try await ledgers[0].settle(granted[0], cost: 0.04)
            try await ledgers[0].release(granted[1])
            #expect(abs(try await store.committedSpending(userId: user.id) - 0.84) < 1e-9)
            let entry = CostEntry(role: "video.draft", provider: "replicate", model: "m", scene: 0, units: 1, unit: "second",
                                  unitPrice: 0.04, cacheHit: false, predictionId: "p", at: Date())
            try await store.recordCosts(projectId: project.id, jobId: jobA, userId: user.id, entries: [entry], closingHolds: [granted[0]])
            #expect(abs(try await store.committedSpending(userId: user.id) - 0.84) < 1e-9)
            #expect(abs(try await store.spent(userId: user.id) - 0.04) < 1e-9)
            let refused = await #expect(throws: ReelError.self) { _ = try await ledgers[1].reserve(0.2, for: "one more call") }
            #expect(refused?.code == .budgetExceeded)
        }
    }

    @Test(arguments: Backend.allCases)
    func aPredictionIsChargedOnceWhoeverMetersIt(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "once").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            func paid(_ id: String, status: String) -> CostEntry {
                CostEntry(role: "video.draft", provider: "replicate", model: "m", scene: 0, units: 5, unit: "second", unitPrice: 0.01,
                          cacheHit: false, predictionId: id, at: Date(), status: status)
            }
            // A stopped run metered the prediction it was charged for; the run that resumed the job followed it.
            try await store.recordCosts(projectId: project.id, jobId: UUID(), userId: user.id, entries: [paid("p-1", status: "canceled")])
            try await store.recordCosts(projectId: project.id, jobId: UUID(), userId: user.id,
                                        entries: [paid("p-1", status: "succeeded"), paid("p-2", status: "succeeded")])
            #expect(abs(try await store.spent(userId: user.id) - 0.1) < 1e-9)
        }
    }

    @Test(arguments: Backend.allCases)
    func aProjectWithARunningJobIsDeletedOnlyAfterTheJobStopped(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "delete").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let job = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w", lease: .seconds(300)))
            let run = "\(project.id.uuidString.lowercased())/job-\(job.id.uuidString.lowercased())"
            try await store.noteCheckpointObject(run: run, key: "checkpoints/\(project.id.uuidString.lowercased())/scene.mp4")

            // The running job is asked to stop; nothing is deleted under it.
            await #expect(throws: ProjectJobsRunning(count: 1)) { _ = try await store.deleteProject(id: project.id, owner: user.id) }
            #expect(try await store.job(id: job.id, owner: nil)?.cancelRequested == true)
            #expect(try await store.renewLease(jobId: job.id, worker: "w", lease: .seconds(300)) == .cancelRequested)
            try await store.markCanceled(jobId: job.id, worker: "w")

            let keys = try #require(try await store.deleteProject(id: project.id, owner: user.id))
            let outputs = JobOutputs.keys(forJob: job.id)
            #expect(Set(keys) == ["checkpoints/\(project.id.uuidString.lowercased())/scene.mp4", outputs.video, outputs.manifest, outputs.thumbnail])
            #expect(try await store.project(id: project.id, owner: user.id) == nil)
        }
    }

    /// PostgreSQL only: SQLite's writers (claims and deletions alike) run one at a time under BEGIN IMMEDIATE.
    @Test func aClaimCommittingDuringAProjectDeletionKeepsTheRunningJobAndItsRow() async throws {
        try await withStore(.postgres) { store, _ in
            let user = try await store.createUser(name: "claim-delete").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let job = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            let (claimed, claimedIn) = AsyncStream<Void>.makeStream()
            let (commit, commitIn) = AsyncStream<Void>.makeStream()
            // A worker's claim under way: the job's row updated to running (and locked), not committed yet.
            let claim = Task {
                try await store.db.transaction { db in
                    try await (db as! any SQLDatabase).raw("""
                        UPDATE jobs SET status = 'running', lease_owner = 'w', lease_expires_at = \(unsafeRaw: store.clockSQL) + 300,
                            attempts = attempts + 1 WHERE id = \(bind: job.id)
                        """).run()
                    claimedIn.yield()
                    for await _ in commit {}
                }
            }
            #expect(await wakes(claimed))
            let deletion = Task { try await store.deleteProject(id: project.id, owner: user.id) }
            // The deletion waits for the claim's row (it used to read the job as queued first, and wait only to delete it).
            let sql = try store.sql
            #expect(try await waitUntil(seconds: 60) {
                let row = try await sql.raw("""
                    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """).first()
                return try (row?.decode(column: "n", as: Int.self) ?? 0) > 0
            })
            commitIn.finish()
            try await claim.value
            await #expect(throws: ProjectJobsRunning(count: 1)) { _ = try await deletion.value }
            let running = try #require(try await store.job(id: job.id, owner: nil))
            #expect(running.status == .running && running.cancelRequested)
            #expect(try await store.project(id: project.id, owner: user.id) != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func theJobLimitIsCheckedInTheEnqueueTransaction(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "limit").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        do {
                            _ = try await store.enqueue(JobRecord(projectId: project.id, userId: user.id, kind: .generate),
                                                        idempotencyKey: nil, maxActiveJobs: 2)
                            return true
                        } catch { return false }
                    }
                }
                var out: [Bool] = []
                for await r in group { out.append(r) }
                return out
            }
            #expect(results.filter { $0 }.count == 2)
            #expect(try await store.activeJobCount(userId: user.id) == 2)
        }
    }
}
