import Foundation
import Fluent
import SQLKit
import ReelCore

// The durable job queue. A worker claims the oldest runnable job with a lease (a time until which the job is its),
// renews the lease while it works, and ends the job (complete, fail, release, canceled) only while it holds the
// lease. A job whose lease expired (dead worker) is claimed again by another worker; one that has used all its
// attempts fails instead ("worker lost"). A job never runs on two workers at once:
// - PostgreSQL: one `UPDATE ... WHERE id = (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id`.
// - SQLite: inside `BEGIN IMMEDIATE` (writers serialised across processes), a compare-and-set UPDATE guarded by the
//   row's previous status and attempt count, retried when it loses.

extension JobModel {
    func value() throws -> JobRecord {
        JobRecord(id: id!, projectId: projectId, userId: userId, kind: JobKind(rawValue: kind) ?? .generate,
                  status: JobStatus(rawValue: status) ?? .failed, stage: stage.flatMap(Stage.init(rawValue:)),
                  progress: progress, etaSeconds: etaSeconds,
                  error: try error.map { try ServiceStore.decode(JobFailure.self, $0) },
                  createdAt: Date(seconds: createdAt), startedAt: startedAt.map(Date.init(seconds:)),
                  finishedAt: finishedAt.map(Date.init(seconds:)), retryOf: retryOf,
                  parameters: try ServiceStore.decode(JobParameters.self, parameters), attempts: attempts,
                  maxAttempts: maxAttempts, runAfter: Date(seconds: runAfter), leaseOwner: leaseOwner,
                  leaseExpiresAt: leaseExpiresAt.map(Date.init(seconds:)), cancelRequested: cancelRequested,
                  result: try result.map { try ServiceStore.decode(JobOutputs.self, $0) })
    }

    convenience init(_ r: JobRecord) throws {
        self.init()
        id = r.id; projectId = r.projectId; userId = r.userId; kind = r.kind.rawValue; status = r.status.rawValue
        stage = r.stage?.rawValue; progress = r.progress; etaSeconds = r.etaSeconds
        error = try r.error.map(ServiceStore.encode); createdAt = r.createdAt.seconds
        startedAt = r.startedAt?.seconds; finishedAt = r.finishedAt?.seconds; retryOf = r.retryOf
        parameters = try ServiceStore.encode(r.parameters); attempts = r.attempts; maxAttempts = r.maxAttempts
        runAfter = r.runAfter.seconds; leaseOwner = r.leaseOwner; leaseExpiresAt = r.leaseExpiresAt?.seconds
        cancelRequested = r.cancelRequested; result = try r.result.map(ServiceStore.encode)
    }
}

/// A user already has as many queued and running jobs as they may (`ServiceStore.enqueue`'s `maxActiveJobs`).
public struct TooManyJobs: Error, Sendable, Equatable {
    public var active: Int
    public var limit: Int
    public init(active: Int, limit: Int) { self.active = active; self.limit = limit }
}

extension ServiceStore {
    static let idempotencyWindow: Double = 24 * 3600

    /// The error a worker gets when it ends a job it no longer holds (its lease expired and another worker took it,
    /// or the job was deleted): it must stop without writing anything more.
    static func leaseLost(_ jobId: UUID) -> ReelError {
        ReelError(.cancelled, "job \(jobId) is no longer held by this worker (its lease expired or the job was removed)")
    }

    // MARK: Enqueue and read

    /// Queues the job. With an idempotency key, the same user's same key within 24 hours returns the job made the
    /// first time (`created` false) instead of queueing another. With `maxActiveJobs`, the user's queued and running
    /// jobs are counted in the same transaction as the insert (after locking the user's row on PostgreSQL; SQLite's
    /// write lock serialises the rest) and `TooManyJobs` is thrown when they are that many already, so requests made
    /// at once cannot together pass the limit. The job is due from now by the database's clock.
    ///
    /// With `bumpingVariantOf`, the scene's variant (`bumpSceneVariant`) is bumped in the same transaction, only when the
    /// job is created: a refused request or a replayed Idempotency-Key leaves it as it was, and a worker that claims
    /// the job finds the new variant.
    public func enqueue(_ job: JobRecord, idempotencyKey: String?, maxActiveJobs: Int? = nil,
                        bumpingVariantOf sceneId: UUID? = nil) async throws -> (job: JobRecord, created: Bool) {
        if let key = idempotencyKey, key.isEmpty || key.count > 255 {
            throw ReelError(.badInput, "an Idempotency-Key must be 1 to 255 characters")
        }
        let model = try JobModel(job)
        for attempt in 0..<3 {
            do {
                return try await write { db -> (JobRecord, Bool) in
                    let sql = db as! any SQLDatabase
                    let now = Self.now
                    if maxActiveJobs != nil { try await lockRow(of: UserModel.schema, id: job.userId, on: db) }
                    if let key = idempotencyKey {
                        if let seen = try await IdempotencyKeyModel.query(on: db).filter(\.$userId == job.userId)
                            .filter(\.$key == key).first() {
                            if seen.createdAt >= now - Self.idempotencyWindow, let existing = try await JobModel.find(seen.jobId, on: db) {
                                return (try existing.value(), false)
                            }
                            try await seen.delete(on: db)
                        }
                    }
                    if let limit = maxActiveJobs {
                        let active = try await JobModel.query(on: db).filter(\.$userId == job.userId)
                            .filter(\.$status ~~ [JobStatus.queued.rawValue, JobStatus.running.rawValue]).count()
                        if active >= limit { throw TooManyJobs(active: active, limit: limit) }
                    }
                    if let sceneId, try await bumpSceneVariant(projectId: job.projectId, sceneId: sceneId, on: db) == nil {
                        throw ReelError(.badInput, "the scene to make again is no longer in the project's plan")
                    }
                    // Due after the same delay as asked, but by the database's clock, which claims compare with.
                    model.runAfter = try await databaseNow(on: sql) + max(0, job.runAfter.seconds - now)
                    try await model.create(on: db)
                    if let key = idempotencyKey {
                        let k = IdempotencyKeyModel()
                        k.id = UUID(); k.userId = job.userId; k.key = key; k.jobId = job.id; k.createdAt = now
                        try await k.create(on: db)
                    }
                    return (try model.value(), true)
                }
            } catch let error as any DatabaseError where error.isConstraintFailure && idempotencyKey != nil && attempt < 2 {
                // Another request with the same key won the race: read its job on the next turn.
                model.$id.exists = false
                continue
            }
        }
        throw ReelError(.internalError, "could not queue the job")
    }

    /// The job a request with this Idempotency-Key already started within 24 hours, if any: a replay answers with it
    /// before any limit is checked (a client retrying its request must not be told it has too many jobs).
    public func job(idempotencyKey key: String, userId: UUID) async throws -> JobRecord? {
        guard let seen = try await IdempotencyKeyModel.query(on: db).filter(\.$userId == userId).filter(\.$key == key).first(),
              seen.createdAt >= Self.now - Self.idempotencyWindow else { return nil }
        return try await JobModel.find(seen.jobId, on: db)?.value()
    }

    /// How many jobs are in each status (for `/metrics`).
    public func jobCounts() async throws -> [JobStatus: Int] {
        var counts: [JobStatus: Int] = [:]
        for status in JobStatus.allCases {
            counts[status] = try await JobModel.query(on: db).filter(\.$status == status.rawValue).count()
        }
        return counts
    }

    /// The job; with an owner, only if it is that user's (nil otherwise, like a missing one).
    ///
    /// One SQL statement decoded straight into the record, not a Fluent query: this is the API's most frequent read
    /// (clients poll job status), and building the query and hydrating a `JobModel` cost more CPU than the lookup.
    public func job(id: UUID, owner: UUID?) async throws -> JobRecord? {
        let columns: SQLQueryString = """
            SELECT id, project_id, user_id, kind, status, stage, progress, eta_seconds, error, created_at, started_at,
                finished_at, retry_of, parameters, attempts, max_attempts, run_after, lease_owner, lease_expires_at,
                cancel_requested, result FROM jobs
            """
        let filter: SQLQueryString
        if let owner { filter = " WHERE id = \(bind: id) AND user_id = \(bind: owner)" } else { filter = " WHERE id = \(bind: id)" }
        let query = columns + filter
        guard let row = try await sql.raw(query).first() else { return nil }
        return try Self.jobRecord(row)
    }

    /// A `jobs` row (the columns `job(id:owner:)` selects) as a record, exactly as `JobModel.value()` makes it.
    static func jobRecord(_ row: any SQLRow) throws -> JobRecord {
        func opt<T: Decodable>(_ column: String, _ type: T.Type) throws -> T? { try row.decode(column: column, as: T?.self) }
        let parametersText = try row.decode(column: "parameters", as: String.self)
        // Most jobs have no parameters: skip a JSONDecoder for the common "{}".
        let parameters = parametersText == "{}" ? JobParameters() : try decode(JobParameters.self, parametersText)
        return JobRecord(
            id: try row.decode(column: "id", as: UUID.self), projectId: try row.decode(column: "project_id", as: UUID.self),
            userId: try row.decode(column: "user_id", as: UUID.self),
            kind: JobKind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .generate,
            status: JobStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            stage: try opt("stage", String.self).flatMap(Stage.init(rawValue:)),
            progress: try row.decode(column: "progress", as: Double.self), etaSeconds: try opt("eta_seconds", Double.self),
            error: try opt("error", String.self).map { try decode(JobFailure.self, $0) },
            createdAt: Date(seconds: try row.decode(column: "created_at", as: Double.self)),
            startedAt: try opt("started_at", Double.self).map(Date.init(seconds:)),
            finishedAt: try opt("finished_at", Double.self).map(Date.init(seconds:)), retryOf: try opt("retry_of", UUID.self),
            parameters: parameters, attempts: try row.decode(column: "attempts", as: Int.self),
            maxAttempts: try row.decode(column: "max_attempts", as: Int.self),
            runAfter: Date(seconds: try row.decode(column: "run_after", as: Double.self)),
            leaseOwner: try opt("lease_owner", String.self),
            leaseExpiresAt: try opt("lease_expires_at", Double.self).map(Date.init(seconds:)),
            cancelRequested: try row.decode(column: "cancel_requested", as: Bool.self),
            result: try opt("result", String.self).map { try decode(JobOutputs.self, $0) })
    }

    /// The project's jobs, newest first.
    public func jobs(projectId: UUID, limit: Int, cursor: String?) async throws -> Page<JobRecord> {
        let page = try await Self.newestFirst(try JobModel.query(on: db).filter(\.$projectId == projectId), limit: limit, cursor: cursor,
                                            createdAt: \.$createdAt, id: \.$id)
        return Page(items: try page.rows.map { try $0.value() }, nextCursor: page.nextCursor)
    }

    // MARK: Claim

    /// Claims the oldest job that is queued and due, or running under an expired lease (its worker died): the job
    /// becomes `running`, held by `worker` until now + `lease`, with one more attempt counted. Nil when there is none.
    /// Jobs whose lease expired after their last attempt fail ("worker lost") instead of running again. Lease times
    /// are the database's clock (`clockSQL`). Budget holds an earlier attempt left open are given back.
    public func claimJob(worker: String, lease: Duration) async throws -> JobRecord? {
        try await sweepExpired()
        let id: UUID? = database.isPostgres
            ? try await claimPostgres(worker: worker, lease: lease)
            : try await claimSQLite(worker: worker, lease: lease)
        guard let id else { return nil }
        try await SpendHoldModel.query(on: db).filter(\.$jobId == id).filter(\.$settled == false).delete()
        return try await JobModel.find(id, on: db)?.value()
    }

    private func claimPostgres(worker: String, lease: Duration) async throws -> UUID? {
        let now = clockSQL
        let rows = try await sql.raw("""
            UPDATE jobs SET status = 'running', lease_owner = \(bind: worker), lease_expires_at = \(unsafeRaw: now) + \(bind: lease.seconds),
                attempts = attempts + 1, started_at = COALESCE(started_at, \(unsafeRaw: now))
            WHERE id = (
                SELECT id FROM jobs
                WHERE (status = 'queued' AND run_after <= \(unsafeRaw: now))
                   OR (status = 'running' AND lease_expires_at < \(unsafeRaw: now) AND attempts < max_attempts AND NOT cancel_requested)
                ORDER BY created_at, id
                LIMIT 1
                FOR UPDATE SKIP LOCKED)
            RETURNING id
            """).all()
        return try rows.first?.decode(column: "id", as: UUID.self)
    }

    private func claimSQLite(worker: String, lease: Duration) async throws -> UUID? {
        for _ in 0..<8 {
            let outcome: UUID?? = try await write { db in
                let sql = db as! any SQLDatabase
                // One reading of the database's clock for both statements, so the compare-and-set sees what the read saw.
                let now = try await databaseNow(on: sql)
                guard let row = try await sql.raw("""
                    SELECT id, status, attempts FROM jobs
                    WHERE (status = 'queued' AND run_after <= \(bind: now))
                       OR (status = 'running' AND lease_expires_at < \(bind: now) AND attempts < max_attempts AND cancel_requested = 0)
                    ORDER BY created_at, id
                    LIMIT 1
                    """).first() else { return .some(nil) }
                let id = try row.decode(column: "id", as: UUID.self)
                let status = try row.decode(column: "status", as: String.self)
                let attempts = try row.decode(column: "attempts", as: Int.self)
                // Compare-and-set: only if the row is still as we read it, and still claimable.
                let updated = try await sql.raw("""
                    UPDATE jobs SET status = 'running', lease_owner = \(bind: worker), lease_expires_at = \(bind: now + lease.seconds),
                        attempts = attempts + 1, started_at = COALESCE(started_at, \(bind: now))
                    WHERE id = \(bind: id) AND status = \(bind: status) AND attempts = \(bind: attempts)
                      AND ((status = 'queued' AND run_after <= \(bind: now))
                        OR (status = 'running' AND lease_expires_at < \(bind: now)))
                    RETURNING id
                    """).first()
                return updated == nil ? UUID??.none : .some(id)
            }
            if let outcome { return outcome }
        }
        return nil
    }

    /// Ends jobs whose worker died for good: lease expired with all attempts used → failed; lease expired with a
    /// cancel pending → canceled. Each gets its final event in the same transaction (a crash in between cannot
    /// leave a failed job without its `job_failed`, which live clients wait for). A cheap read first: workers poll
    /// this on every claim, and on SQLite a write transaction takes the database-wide write lock.
    func sweepExpired() async throws {
        let due = try await sql.raw("""
            SELECT id FROM jobs
            WHERE status = 'running' AND lease_expires_at < \(unsafeRaw: clockSQL) AND (attempts >= max_attempts OR cancel_requested = \(bind: true))
            LIMIT 1
            """).first()
        guard due != nil else { return }
        let lost = JobFailure(code: ReelError.Code.internalError.rawValue,
                              message: "the worker running this job stopped answering, and the job has used all its attempts (worker lost)")
        let lostText = try Self.encode(lost)
        // PostgreSQL: rows another sweeper (or a renewing worker) has locked are skipped rather than waited for, so
        // two sweepers never deadlock on rows they lock in different orders. SQLite: `write` serialises sweepers.
        let skipLocked = database.isPostgres ? "FOR UPDATE SKIP LOCKED" : ""
        let ended = try await write { db -> Int in
            let sql = db as! any SQLDatabase
            let now = try await databaseNow(on: sql)
            let failedRows = try await sql.raw("""
                UPDATE jobs SET status = 'failed', finished_at = \(bind: now), error = \(bind: lostText),
                    lease_owner = NULL, lease_expires_at = NULL, eta_seconds = NULL
                WHERE id IN (SELECT id FROM jobs
                             WHERE status = 'running' AND lease_expires_at < \(bind: now) AND attempts >= max_attempts
                               AND cancel_requested = \(bind: false)
                             \(unsafeRaw: skipLocked))
                RETURNING id, project_id
                """).all()
            let canceledRows = try await sql.raw("""
                UPDATE jobs SET status = 'canceled', finished_at = \(bind: now), lease_owner = NULL, lease_expires_at = NULL,
                    eta_seconds = NULL
                WHERE id IN (SELECT id FROM jobs
                             WHERE status = 'running' AND lease_expires_at < \(bind: now) AND cancel_requested = \(bind: true)
                             \(unsafeRaw: skipLocked))
                RETURNING id, project_id
                """).all()
            let ended = try (failedRows + canceledRows).map { try $0.decode(column: "id", as: UUID.self) }
            try await releaseOpenHolds(jobIds: ended, on: db)
            for row in failedRows {
                _ = try await insertEvent(jobId: row.decode(column: "id", as: UUID.self), projectId: row.decode(column: "project_id", as: UUID.self),
                                          type: .jobFailed, data: ["error": .object(["code": .string(lost.code), "message": .string(lost.message)])],
                                          on: db)
            }
            for row in canceledRows {
                _ = try await insertEvent(jobId: row.decode(column: "id", as: UUID.self), projectId: row.decode(column: "project_id", as: UUID.self),
                                          type: .jobFailed, data: ["error": .object(["code": .string(ReelError.Code.cancelled.rawValue),
                                                                                     "message": .string("the job was canceled")])],
                                          on: db)
            }
            return failedRows.count + canceledRows.count
        }
        if ended > 0 { database.wakeups.fire() }
    }

    // MARK: While running

    /// Extends the worker's lease to now + `lease`. `.lost` when the worker no longer holds the job (stop, write
    /// nothing); `.cancelRequested` when the user asked to cancel (stop, then `markCanceled`).
    public func renewLease(jobId: UUID, worker: String, lease: Duration) async throws -> LeaseState {
        let row = try await sql.raw("""
            UPDATE jobs SET lease_expires_at = \(unsafeRaw: clockSQL) + \(bind: lease.seconds)
            WHERE id = \(bind: jobId) AND status = 'running' AND lease_owner = \(bind: worker)
            RETURNING cancel_requested
            """).first()
        guard let row else { return .lost }
        return try row.decode(column: "cancel_requested", as: Bool.self) ? .cancelRequested : .held
    }

    /// Stores the running job's stage, progress (0–100) and ETA; ignored when the worker no longer holds it.
    public func updateProgress(jobId: UUID, worker: String, stage: Stage?, progress: Double, etaSeconds: Double?) async throws {
        let p = progress.isFinite ? min(100, max(0, progress)) : 0
        var q = try JobModel.query(on: db).filter(\.$id == jobId).filter(\.$status == JobStatus.running.rawValue)
            .filter(\.$leaseOwner == worker)
            .set(\.$progress, to: p).set(\.$etaSeconds, to: etaSeconds.flatMap { $0.isFinite ? max(0, $0) : nil })
        if let stage { q = q.set(\.$stage, to: stage.rawValue) }
        try await q.update()
    }

    /// Locks the job's row until the transaction ends, so that a read-check-write on it (end of a run, cancel) is not
    /// overwritten by, and does not overwrite, a concurrent claim. PostgreSQL runs transactions at READ COMMITTED:
    /// without the lock, a worker whose lease just expired could read "running, mine", lose the row to another
    /// worker's claim, and then write "queued" over that claim — letting a third worker run the job at the same time.
    /// SQLite needs nothing: `write` holds the database's single write lock from `BEGIN IMMEDIATE`.
    func lockJobRow(_ jobId: UUID, on db: any Database) async throws {
        try await lockRow(of: JobModel.schema, id: jobId, on: db)
    }

    /// PostgreSQL: locks one row of `table` (a schema name constant, never user input) until the caller's transaction
    /// ends. `FOR NO KEY UPDATE`, the lock an UPDATE of non-key columns takes anyway: it serialises read-modify-writes
    /// of the row without blocking inserts of rows that reference it (an asset uploaded while a plan is edited).
    /// SQLite: nothing, `write` already holds the database's write lock.
    func lockRow(of table: String, id: UUID, on db: any Database) async throws {
        guard database.isPostgres else { return }
        try await (db as! any SQLDatabase).raw("SELECT id FROM \(ident: table) WHERE id = \(bind: id) FOR NO KEY UPDATE").run()
    }

    /// Holds the lease → fetches the job (row locked) for an end-of-run update; throws `leaseLost` otherwise.
    private func heldJob(_ jobId: UUID, worker: String, on db: any Database) async throws -> JobModel {
        try await lockJobRow(jobId, on: db)
        guard let job = try await JobModel.find(jobId, on: db), job.status == JobStatus.running.rawValue, job.leaseOwner == worker else {
            throw Self.leaseLost(jobId)
        }
        return job
    }

    private func endRun(_ job: JobModel, status: JobStatus, now: Double) {
        job.status = status.rawValue
        job.leaseOwner = nil
        job.leaseExpiresAt = nil
        job.etaSeconds = nil
        if status.isFinal { job.finishedAt = now }
    }

    // MARK: End of a run
    //
    // Each end writes the job's row and the event that tells clients about it in one transaction: a crash between two
    // separate writes would leave, say, a succeeded job without the `job_completed` its live clients wait for. The
    // local wakeups fire after the commit (PostgreSQL's NOTIFY is delivered at commit by itself).

    /// The `data` of the `job_failed` event of a canceled job.
    static func canceledEventData(attempt: Int?) -> [String: JSONValue] {
        var data: [String: JSONValue] = ["error": ["code": .string(ReelError.Code.cancelled.rawValue), "message": "the job was canceled"],
                                         "status": .string(JobStatus.canceled.rawValue)]
        if let attempt { data["attempt"] = .number(Double(attempt)) }
        return data
    }

    /// Marks the job succeeded with its outputs and per-stage seconds (kept for ETAs), with its `job_completed` event.
    /// Throws `ReelError(.cancelled)` when the worker no longer holds the job.
    public func completeJob(jobId: UUID, worker: String, outputs: JobOutputs, stageSeconds: [Stage: Double]) async throws {
        let result = try Self.encode(outputs)
        let stages = try Self.encode(Dictionary(uniqueKeysWithValues: stageSeconds.map { ($0.key.rawValue, $0.value) }))
        try await write { db in
            let job = try await heldJob(jobId, worker: worker, on: db)
            let plan = try await ProjectModel.find(job.projectId, on: db)?.plan.flatMap { try? Self.decode(Plan.self, $0) }
            endRun(job, status: .succeeded, now: try await databaseNow(on: db as! any SQLDatabase))
            job.progress = 100
            job.error = nil
            job.result = result
            job.stageSeconds = stages
            job.videoSeconds = plan?.duration
            try await job.update(on: db)
            try await releaseOpenHolds(jobIds: [jobId], on: db)
            _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .jobCompleted,
                                      data: ["video": .string(outputs.video), "manifest": .string(outputs.manifest),
                                             "thumbnail": .string(outputs.thumbnail), "attempt": .number(Double(job.attempts)),
                                             "progress": 100], on: db)
        }
        database.wakeups.fire()
    }

    /// Ends an attempt that failed. Retryable with attempts left → queued again after a backoff (2^attempts s,
    /// at most 60 s, ±20 % jitter) keeping the error for display, with a `progress` event saying so; otherwise failed
    /// (or canceled, when a cancel was asked), with its `job_failed`. Returns the job as it is now.
    public func failJob(jobId: UUID, worker: String, failure: JobFailure, retryable: Bool) async throws -> JobRecord {
        let error = try Self.encode(failure)
        let errorValue: JSONValue = ["code": .string(failure.code), "message": .string(failure.message)]
        let record = try await write { db in
            let job = try await heldJob(jobId, worker: worker, on: db)
            let now = try await databaseNow(on: db as! any SQLDatabase)
            job.error = error
            if job.cancelRequested {
                endRun(job, status: .canceled, now: now)
            } else if retryable && job.attempts < job.maxAttempts {
                endRun(job, status: .queued, now: now)
                let backoff = min(pow(2, Double(job.attempts)), 60) * Double.random(in: 0.8...1.2)
                job.runAfter = now + backoff
            } else {
                endRun(job, status: .failed, now: now)
            }
            try await job.update(on: db)
            try await releaseOpenHolds(jobIds: [jobId], on: db)
            let attempt = JSONValue.number(Double(job.attempts))
            if job.status == JobStatus.queued.rawValue {
                _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .progress,
                                          data: ["message": .string("attempt \(job.attempts) failed; retrying"), "error": errorValue,
                                                 "attempt": attempt,
                                                 "retryAt": .string(ISO8601DateFormatter().string(from: Date(seconds: job.runAfter)))], on: db)
            } else {
                _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .jobFailed,
                                          data: ["error": errorValue, "attempt": attempt, "status": .string(job.status)], on: db)
            }
            return try job.value()
        }
        database.wakeups.fire()
        return record
    }

    /// Gives the job back without counting the attempt (the worker is shutting down): queued again now, or canceled
    /// if a cancel was asked meanwhile, with the event that says which. Does nothing when the worker no longer holds it.
    public func releaseJob(jobId: UUID, worker: String) async throws {
        let wrote = try await write { db -> Bool in
            try await lockJobRow(jobId, on: db)
            guard let job = try await JobModel.find(jobId, on: db), job.status == JobStatus.running.rawValue, job.leaseOwner == worker else {
                return false
            }
            let now = try await databaseNow(on: db as! any SQLDatabase)
            let attempt = job.attempts
            if job.cancelRequested {
                endRun(job, status: .canceled, now: now)
            } else {
                endRun(job, status: .queued, now: now)
                job.attempts = max(0, job.attempts - 1)
                job.runAfter = now
            }
            try await job.update(on: db)
            try await releaseOpenHolds(jobIds: [jobId], on: db)
            if job.status == JobStatus.canceled.rawValue {
                _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .jobFailed,
                                          data: Self.canceledEventData(attempt: attempt), on: db)
            } else {
                _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .progress,
                                          data: ["message": "the worker stopped; the job goes back to the queue and resumes from its checkpoint",
                                                 "attempt": .number(Double(attempt))], on: db)
            }
            return true
        }
        if wrote { database.wakeups.fire() }
    }

    /// The user's cancel: a queued job is canceled at once (with its `job_failed`); a running one gets
    /// `cancelRequested` (its worker stops at its next lease renewal and calls `markCanceled`); a finished one stays
    /// as it is. Nil for another user's job.
    public func cancelJob(id: UUID, owner: UUID) async throws -> JobRecord? {
        let (record, ended) = try await write { db -> (JobRecord?, Bool) in
            try await lockJobRow(id, on: db)
            guard let job = try await JobModel.query(on: db).filter(\.$id == id).filter(\.$userId == owner).first() else { return (nil, false) }
            var ended = false
            switch JobStatus(rawValue: job.status) {
            case .queued:
                endRun(job, status: .canceled, now: try await databaseNow(on: db as! any SQLDatabase))
                try await job.update(on: db)
                try await releaseOpenHolds(jobIds: [id], on: db)
                _ = try await insertEvent(jobId: id, projectId: job.projectId, type: .jobFailed,
                                          data: Self.canceledEventData(attempt: job.attempts > 0 ? job.attempts : nil), on: db)
                ended = true
            case .running:
                if !job.cancelRequested {
                    job.cancelRequested = true
                    try await job.update(on: db)
                }
            default:
                break
            }
            return (try job.value(), ended)
        }
        if ended { database.wakeups.fire() }
        return record
    }

    /// The worker stopped a job whose cancel was asked: canceled now, with its `job_failed`. Throws
    /// `ReelError(.cancelled)` when it no longer holds it.
    public func markCanceled(jobId: UUID, worker: String) async throws {
        try await write { db in
            let job = try await heldJob(jobId, worker: worker, on: db)
            endRun(job, status: .canceled, now: try await databaseNow(on: db as! any SQLDatabase))
            try await job.update(on: db)
            try await releaseOpenHolds(jobIds: [jobId], on: db)
            _ = try await insertEvent(jobId: jobId, projectId: job.projectId, type: .jobFailed,
                                      data: Self.canceledEventData(attempt: job.attempts), on: db)
        }
        database.wakeups.fire()
    }

    /// The user's queued and running jobs (for the concurrent-job limit).
    public func activeJobCount(userId: UUID) async throws -> Int {
        try await JobModel.query(on: db).filter(\.$userId == userId)
            .filter(\.$status ~~ [JobStatus.queued.rawValue, JobStatus.running.rawValue]).count()
    }

    /// Seconds each stage took per second of video, averaged over the last 50 succeeded jobs (for ETAs); empty
    /// before any job finished.
    public func averageStageSeconds() async throws -> [Stage: Double] {
        let rows = try await JobModel.query(on: db).filter(\.$status == JobStatus.succeeded.rawValue)
            .filter(\.$stageSeconds != nil).filter(\.$videoSeconds > 0)
            .sort(\.$finishedAt, .descending).limit(50).all()
        var sums: [Stage: Double] = [:], counts: [Stage: Int] = [:]
        for row in rows {
            guard let text = row.stageSeconds, let video = row.videoSeconds, video > 0,
                  let stages = try? Self.decode([String: Double].self, text) else { continue }
            for (name, seconds) in stages {
                guard let stage = Stage(rawValue: name), seconds.isFinite, seconds >= 0 else { continue }
                sums[stage, default: 0] += seconds / video
                counts[stage, default: 0] += 1
            }
        }
        return sums.reduce(into: [:]) { out, kv in out[kv.key] = kv.value / Double(counts[kv.key] ?? 1) }
    }
}
