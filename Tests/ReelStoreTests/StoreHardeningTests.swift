import Foundation
import Testing
import Fluent
import SQLKit
import Synchronization
import ReelCore
import ReelTestSupport
@testable import ReelStore

/// Races and limits found in review of the store: each test pins one fix.
@Suite("Store hardening") struct StoreHardeningTests {
    // MARK: Queue races (PostgreSQL runs at READ COMMITTED: read-check-write must lock the row)

    /// A worker whose lease expired ends its run (fail, release) while another worker's claim of the same job is in
    /// flight. Before the fix the ending worker read "running, mine", waited for the claim's row lock and then wrote
    /// "queued" over the claim, so a third worker could run the job beside the second. The claim is held open in a
    /// transaction here so the interleaving is certain; the sleep only lets the other call reach the row lock, and
    /// the outcome checked is the same whether or not it got there first.
    @Test func endingARunNeverOverwritesAConcurrentClaim() async throws {
        try await withStore(.postgres) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            _ = try #require(try await store.claimJob(worker: "w1", lease: .seconds(60)))
            try await JobModel.query(on: store.db).filter(\.$id == job.id)
                .set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()

            for ending in ["fail", "release", "complete", "cancel-mark"] {
                let claimer = "claimer-\(ending)"
                let outcome = try await store.db.transaction { tx -> Task<String, Never> in
                    // What `claimJob` does for an expired lease, left uncommitted for a moment.
                    try await (tx as! any SQLDatabase).raw("""
                        UPDATE jobs SET lease_owner = \(bind: claimer), lease_expires_at = \(bind: Date().timeIntervalSince1970 + 60),
                            attempts = attempts + 1
                        WHERE id = \(bind: job.id)
                        """).run()
                    let task = Task { () -> String in
                        do {
                            switch ending {
                            case "fail":
                                _ = try await store.failJob(jobId: job.id, worker: "w1", failure: JobFailure(code: "x", message: "y"), retryable: true)
                            case "release":
                                try await store.releaseJob(jobId: job.id, worker: "w1")
                            case "complete":
                                try await store.completeJob(jobId: job.id, worker: "w1",
                                                            outputs: JobOutputs(video: "v", manifest: "m", thumbnail: "t"), stageSeconds: [:])
                            default:
                                try await store.markCanceled(jobId: job.id, worker: "w1")
                            }
                            return "wrote"
                        } catch let error as ReelError where error.code == .cancelled {
                            return "lost"
                        } catch {
                            return "error: \(error)"
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    return task
                }
                let result = await outcome.value
                #expect(result == (ending == "release" ? "wrote" : "lost"), "\(ending)")
                let now = try #require(try await store.job(id: job.id, owner: nil))
                #expect(now.status == .running && now.leaseOwner == claimer, "\(ending) overwrote the claim: \(now.status)")
                // The next round: the current claimer "dies" and w1 is the stale one again.
                try await JobModel.query(on: store.db).filter(\.$id == job.id)
                    .set(\.$leaseOwner, to: "w1").set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()
            }
        }
    }

    /// The user cancels a queued job while a worker's claim of it is in flight: the job ends up running with a
    /// cancel requested (its worker stops at the next renewal), never "canceled" in the table while a worker runs it.
    @Test func cancelRacingAClaimLeavesACancelRequest() async throws {
        try await withStore(.postgres) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            let cancel = try await store.db.transaction { tx -> Task<JobRecord?, any Error> in
                try await (tx as! any SQLDatabase).raw("""
                    UPDATE jobs SET status = 'running', lease_owner = 'w1', lease_expires_at = \(bind: Date().timeIntervalSince1970 + 60),
                        attempts = attempts + 1, started_at = \(bind: Date().timeIntervalSince1970)
                    WHERE id = \(bind: job.id)
                    """).run()
                let task = Task { try await store.cancelJob(id: job.id, owner: alice.id) }
                try await Task.sleep(for: .milliseconds(300))
                return task
            }
            let answered = try #require(try await cancel.value)
            #expect(answered.status == .running && answered.cancelRequested)
            let now = try #require(try await store.job(id: job.id, owner: nil))
            #expect(now.status == .running && now.leaseOwner == "w1" && now.cancelRequested)
            #expect(try await store.renewLease(jobId: job.id, worker: "w1", lease: .seconds(60)) == .cancelRequested)
        }
    }

    /// Lost jobs swept by several claimers at once (two processes, two tasks each) end exactly once, each with
    /// exactly one final event (written in the same transaction as the status).
    @Test(arguments: Backend.allCases)
    func lostJobsEndOnceWithOneEventEach(_ backend: Backend) async throws {
        try await withStore(backend) { store, location in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            var ids: [UUID] = []
            for _ in 0..<6 {
                let job = try await store.enqueue(makeJob(project, maxAttempts: 1), idempotencyKey: nil).job
                ids.append(job.id)
                _ = try #require(try await store.claimJob(worker: "dead", lease: .seconds(60)))
            }
            try await JobModel.query(on: store.db).filter(\.$id ~~ ids)
                .set(\.$leaseExpiresAt, to: Date().timeIntervalSince1970 - 1).update()
            try await ServiceDatabase.withStore(location) { other in
                try await withThrowingTaskGroup(of: JobRecord?.self) { group in
                    for i in 0..<4 {
                        let s = i % 2 == 0 ? store : other
                        group.addTask { try await s.claimJob(worker: "w\(i)", lease: .seconds(60)) }
                    }
                    for try await claimed in group { #expect(claimed == nil) }
                }
            }
            let events = try await store.events(projectId: project.id, after: 0, limit: 100)
            #expect(events.count == ids.count && events.allSatisfy { $0.type == .jobFailed })
            #expect(Set(events.map(\.jobId)) == Set(ids))
            for id in ids { #expect(try await store.job(id: id, owner: nil)?.status == .failed) }
        }
    }

    // MARK: Event ids in commit order

    /// Readers follow a project with `events(after:)`, moving their cursor to the last id seen. If an event could
    /// become visible after one with a larger id, such a reader would skip it forever. Writers in two processes
    /// append concurrently while a reader follows; it must end up with every event, each once, in id order.
    @Test(arguments: Backend.allCases)
    func aFollowingReaderMissesNoEvent(_ backend: Backend) async throws {
        try await withStore(backend) { store, location in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            let perWriter = 40, writers = 6
            try await ServiceDatabase.withStore(location) { other in
                let done = Flag()
                async let followed: [Int64] = {
                    var seen: [Int64] = []
                    var cursor: Int64 = 0
                    while true {
                        let finished = done.isSet
                        let batch = try await store.events(projectId: project.id, after: cursor, limit: 1000)
                        seen += batch.map(\.id)
                        cursor = batch.last?.id ?? cursor
                        if finished && batch.isEmpty { return seen }
                        if batch.isEmpty { await Task.yield() }
                    }
                }()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for w in 0..<writers {
                        let s = w % 2 == 0 ? store : other
                        group.addTask {
                            for i in 0..<perWriter {
                                _ = try await s.appendEvent(jobId: job.id, projectId: project.id, type: .progress,
                                                            data: ["w": .number(Double(w)), "i": .number(Double(i))])
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                done.set()
                let seen = try await followed
                let all = try await store.events(projectId: project.id, after: 0, limit: 1000).map(\.id)
                #expect(all.count == perWriter * writers)
                let missed = Set(all).subtracting(seen).sorted()
                #expect(missed.isEmpty, "the follower missed \(missed.count) events, first \(missed.prefix(5))")
                #expect(seen == all)
            }
        }
    }

    /// The LISTEN connection dies (server restart, network cut, idle kill): the listener reconnects, and NOTIFYs
    /// from another process wake this one's readers again.
    @Test func listenerReconnectsAfterItsConnectionDies() async throws {
        try await withStore(.postgres) { store, location in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            let job = try await store.enqueue(makeJob(project), idempotencyKey: nil).job
            let sql = try store.sql
            func listeners() async throws -> [Int] {
                try await sql.raw("""
                    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'
                    """).all().map { try $0.decode(column: "pid", as: Int32.self) }.map(Int.init)
            }
            let before = try await listeners()
            #expect(before.count == 1)
            for pid in before {
                do { try await sql.raw("SELECT pg_terminate_backend(\(bind: Int32(pid)))").run() }
                catch { Issue.record("terminate: \(String(reflecting: error))") }
            }
            // Wait (bounded) for a new listening backend.
            var after: [Int] = []
            for _ in 0..<200 {
                after = try await listeners().filter { !before.contains($0) }
                if !after.isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(after.count == 1, "the listener did not reconnect")
            // Let the reconnect's own catch-up wake pass before subscribing, so the wake below is the NOTIFY's.
            try await Task.sleep(for: .milliseconds(300))
            let wake = store.eventWakeups()
            try await ServiceDatabase.withStore(location) { other in
                _ = try await other.appendEvent(jobId: job.id, projectId: project.id, type: .progress, data: [:])
            }
            #expect(await wakes(wake))
        }
    }

    // MARK: Indexes

    /// Every hot query has an index: the job by id (`GET /api/jobs/{id}`: one primary-key lookup), the ETA averages,
    /// costs by job, idempotency keys by job, events by project and id, keys by hash.
    @Test(arguments: Backend.allCases)
    func hotQueriesUseIndexes(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let sql = try store.sql
            let names: Set<String>
            if backend == .postgres {
                names = Set(try await sql.raw("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'").all()
                    .map { try $0.decode(column: "indexname", as: String.self) })
            } else {
                names = Set(try await sql.raw("SELECT name FROM sqlite_master WHERE type = 'index'").all()
                    .map { try $0.decode(column: "name", as: String.self) })
            }
            for name in ["jobs_status_finished", "cost_entries_job", "idempotency_keys_job", "job_events_project",
                         "jobs_status_created", "jobs_project_created", "jobs_user_status", "cost_entries_project",
                         "cost_entries_user", "assets_project_created", "projects_owner_created"] {
                #expect(names.contains(name), "missing index \(name)")
            }
            let id = UUID()
            let queries: [(SQLQueryString, String)] = [
                ("SELECT * FROM jobs WHERE id = \(bind: id) AND user_id = \(bind: id)", "job by id"),
                ("SELECT * FROM jobs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 50", "ETA averages"),
                ("SELECT count(*) FROM cost_entries WHERE job_id = \(bind: id)", "costs of a job"),
                ("SELECT * FROM job_events WHERE project_id = \(bind: id) AND id > 5 ORDER BY id LIMIT 100", "events after"),
                ("SELECT * FROM api_keys WHERE key_hash = \(bind: "x")", "key by hash"),
            ]
            for (query, what) in queries {
                let plan: String
                if backend == .postgres {
                    // Tiny tables: make the planner show the index it can use instead of a (cheaper here) scan.
                    plan = try await store.db.transaction { tx in
                        let s = tx as! any SQLDatabase
                        try await s.raw("SET LOCAL enable_seqscan = off").run()
                        return try await s.raw(SQLQueryString("EXPLAIN ") + query).all().map { try $0.decode(column: "QUERY PLAN", as: String.self) }
                            .joined(separator: "\n")
                    }
                    #expect(!plan.contains("Seq Scan"), "\(what) scans the table: \(plan)")
                } else {
                    plan = try await sql.raw(SQLQueryString("EXPLAIN QUERY PLAN ") + query).all()
                        .map { try $0.decode(column: "detail", as: String.self) }.joined(separator: "\n")
                    #expect(plan.contains("USING") && !plan.contains("TEMP B-TREE"), "\(what) is not served by an index: \(plan)")
                }
            }
        }
    }

    // MARK: Input limits

    @Test(arguments: Backend.allCases)
    func oversizedTextIsBadInput(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let long = String(repeating: "x", count: 501)
            for fields in [ProjectFields(prompt: "a", style: long), ProjectFields(prompt: "a", mood: long)] {
                let e = await #expect(throws: ReelError.self) { _ = try await store.createProject(owner: alice.id, fields: fields) }
                #expect(e?.code == .badInput)
            }
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "a", style: "noir", mood: "calm"))
            var asset = sampleAsset(project, kind: .audio)
            asset.filename = String(repeating: "n", count: 1025)
            let e = await #expect(throws: ReelError.self) { _ = try await store.createAsset(asset) }
            #expect(e?.code == .badInput)
            asset.filename = "song.mp3"
            asset.size = -1
            await #expect(throws: ReelError.self) { _ = try await store.createAsset(asset) }
            asset.size = 10
            _ = try await store.createAsset(asset)
            asset.contentType = String(repeating: "t", count: 256)
            await #expect(throws: ReelError.self) { try await store.updateAsset(asset) }

            // Cursors that decode to something odd are still the client's fault, never a crash.
            let odd = [Data("7ff8000000000000:\(UUID().uuidString)".utf8), Data([0xff, 0xfe, 0x3a]),
                       Data("1:not-a-uuid".utf8), Data("ffffffffffffffffff:\(UUID().uuidString)".utf8)]
                .map { $0.base64EncodedString() } + ["💥", "a=b", "===="]
            for bad in odd {
                let e = await #expect(throws: ReelError.self) { _ = try await store.jobs(projectId: project.id, limit: 3, cursor: bad) }
                #expect(e?.code == .badInput, "\(bad)")
            }
        }
    }
}

/// A set-once flag shared between tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Concurrent edits of one project's plan and scenes: none is lost.
@Suite("Store hardening: plan edits") struct StorePlanEditRaceTests {
    /// Each scene's prompt is edited by its own request at the same time (and a scene is regenerated several times
    /// at once). Before the fix, on PostgreSQL each edit rewrote the stored plan from its own stale read, so the plan
    /// kept only some of the new prompts, and concurrent variant bumps could hand out one variant twice.
    @Test(arguments: Backend.allCases)
    func concurrentSceneEditsAreAllKept(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let alice = try await store.createUser(name: "alice").user
            let project = try await store.createProject(owner: alice.id, fields: ProjectFields(prompt: "neon city"))
            try await store.setPlan(projectId: project.id, plan: samplePlan(scenes: 8))
            let scenes = try await store.scenes(projectId: project.id)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for scene in scenes {
                    group.addTask {
                        _ = try await store.updateScene(projectId: project.id, sceneId: scene.id, prompt: "edited \(scene.index)",
                                                        duration: nil, locked: nil)
                    }
                }
                for _ in 0..<6 { group.addTask { _ = try await store.bumpSceneVariant(projectId: project.id, sceneId: scenes[0].id) } }
                try await group.waitForAll()
            }
            let plan = try #require(try await store.project(id: project.id, owner: alice.id)?.plan)
            #expect(plan.scenes.map(\.prompt) == (0..<8).map { "edited \($0)" })
            let rows = try await store.scenes(projectId: project.id)
            #expect(rows.map(\.prompt) == (0..<8).map { "edited \($0)" })
            #expect(rows[0].variant == 6)
        }
    }
}
