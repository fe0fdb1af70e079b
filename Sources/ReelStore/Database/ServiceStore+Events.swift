import Foundation
import Fluent
import SQLKit
import ReelCore

// Job events, costs, pipeline checkpoints and the generation-cache index.

extension JobEventModel {
    func value() throws -> JobEvent {
        JobEvent(id: id!, jobId: jobId, projectId: projectId, type: JobEventType(rawValue: type) ?? .progress,
                 at: Date(seconds: at), data: try ServiceStore.decode([String: JSONValue].self, data))
    }
}

extension ServiceStore {
    // MARK: Events

    /// Stores an event and wakes every reader (this process at once; other processes on PostgreSQL through NOTIFY,
    /// sent in the same transaction). Event ids grow in commit order: on PostgreSQL appends take a transaction-level
    /// advisory lock, so a reader that saw id N never later finds a new event below N.
    public func appendEvent(jobId: UUID, projectId: UUID, type: JobEventType, data: [String: JSONValue]) async throws -> JobEvent {
        let event: JobEvent
        if database.isPostgres {
            event = try await db.transaction { db in try await insertEvent(jobId: jobId, projectId: projectId, type: type, data: data, on: db) }
        } else {
            // One autocommit INSERT: SQLite has one writer at a time, so rowids are handed out in commit order.
            event = try await insertEvent(jobId: jobId, projectId: projectId, type: type, data: data, on: db)
        }
        database.wakeups.fire()
        return event
    }

    /// Inserts an event inside the caller's transaction (PostgreSQL: it must be one; the caller fires the local
    /// wakeups after commit). On PostgreSQL the transaction-level advisory lock is held from before the id is drawn
    /// from the sequence until after commit, so ids become visible in increasing order: without it, a transaction
    /// that drew id N+1 could commit before the one holding N, a reader would move its cursor past N, and never see
    /// N. The NOTIFY in the same transaction is delivered at commit, after the row is visible.
    func insertEvent(jobId: UUID, projectId: UUID, type: JobEventType, data: [String: JSONValue], on db: any Database) async throws -> JobEvent {
        let m = JobEventModel()
        m.jobId = jobId; m.projectId = projectId; m.type = type.rawValue; m.at = Self.now; m.data = try Self.encode(data)
        if database.isPostgres {
            let sql = db as! any SQLDatabase
            try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.eventAppendLock))").run()
            try await m.create(on: db)
            try await sql.raw("SELECT pg_notify(\(bind: ServiceDatabase.eventChannel), \(bind: projectId.uuidString))").run()
        } else {
            try await m.create(on: db)
        }
        return try m.value()
    }

    /// The advisory lock key that orders event appends on PostgreSQL (any constant no other code uses).
    static let eventAppendLock: Int64 = 7426002

    /// The project's events with ids above `after`, oldest first, at most `limit`.
    public func events(projectId: UUID, after: Int64, limit: Int) async throws -> [JobEvent] {
        try await JobEventModel.query(on: db).filter(\.$projectId == projectId).filter(\.$id > after)
            .sort(\.$id).limit(max(1, min(limit, 1000))).all().map { try $0.value() }
    }

    /// A stream that yields after new events may exist: at once for appends in this process, and on PostgreSQL for
    /// appends of any process (LISTEN/NOTIFY). Readers re-query `events(after:)` on each wake, and also every second
    /// or so (SQLite shared by several processes has no notification). Ends at `shutdown`.
    public func eventWakeups() -> AsyncStream<Void> { database.wakeups.subscribe() }

    // MARK: Costs

    /// Stores the metered calls of a job, in order, closing the budget holds they settle (in the same transaction).
    public func recordCosts(projectId: UUID, jobId: UUID, userId: UUID, entries: [CostEntry], closingHolds holds: [SpendHold] = []) async throws {
        guard !entries.isEmpty else { return }
        try await write { db in
            try await closeHolds(holds.map(\.id), on: db)
            // One charge per prediction: a run that follows a prediction another run already metered (it was charged
            // as that run was stopped) does not count it twice.
            let paidIds = entries.filter { $0.cost > 0 }.compactMap(\.predictionId)
            let counted = paidIds.isEmpty ? [] : Set(try await CostEntryModel.query(on: db).filter(\.$userId == userId)
                .filter(\.$predictionId ~~ paidIds).filter(\.$cost > 0).all().compactMap(\.predictionId))
            let entries = entries.filter { !($0.cost > 0 && $0.predictionId.map(counted.contains) == true) }
            let base = try await CostEntryModel.query(on: db).filter(\.$jobId == jobId).count()
            for (i, e) in entries.enumerated() {
                let m = CostEntryModel()
                m.id = UUID(); m.projectId = projectId; m.jobId = jobId; m.userId = userId; m.seq = base + i
                m.role = e.role; m.provider = e.provider; m.model = e.model; m.scene = e.scene; m.units = e.units
                m.unit = e.unit; m.unitPrice = e.unitPrice; m.cost = e.cost; m.cacheHit = e.cacheHit
                m.predictionId = e.predictionId; m.at = e.at.seconds; m.kind = e.kind; m.status = e.status
                m.inputTokens = e.inputTokens; m.outputTokens = e.outputTokens
                try await m.create(on: db)
            }
        }
    }

    /// The project's cost entries, oldest first.
    public func costs(projectId: UUID) async throws -> [CostEntry] {
        try await CostEntryModel.query(on: db).filter(\.$projectId == projectId).sort(\.$at).sort(\.$seq).all().map { m in
            var e = CostEntry(role: m.role, provider: m.provider, model: m.model, scene: m.scene, units: m.units, unit: m.unit,
                              unitPrice: m.unitPrice, cacheHit: m.cacheHit, predictionId: m.predictionId, at: Date(seconds: m.at),
                              kind: m.kind, status: m.status, cost: m.cost, inputTokens: m.inputTokens, outputTokens: m.outputTokens)
            e.cost = m.cost
            return e
        }
    }

    /// USD the user has spent so far (all projects, deleted ones too).
    public func spent(userId: UUID) async throws -> Double {
        CostLedger.round(try await CostEntryModel.query(on: db).filter(\.$userId == userId).sum(\.$cost) ?? 0)
    }

    // MARK: Checkpoints

    /// The data saved under (`run`, `name`), if any.
    public func checkpoint(run: String, name: String) async throws -> Data? {
        try await CheckpointModel.query(on: db).filter(\.$run == run).filter(\.$name == name).first()?.data
    }

    /// Saves (or replaces) the data under (`run`, `name`) in one statement.
    public func saveCheckpoint(run: String, name: String, data: Data) async throws {
        try await sql.insert(into: CheckpointModel.schema)
            .columns("id", "run", "name", "data", "updated_at")
            .values(SQLBind(UUID()), SQLBind(run), SQLBind(name), SQLBind(data), SQLBind(Self.now))
            .onConflict(with: ["run", "name"]) { $0.set(excludedValueOf: "data").set(excludedValueOf: "updated_at") }
            .run()
    }

    // MARK: Generation-cache index

    public func cacheEntry(key: String) async throws -> CacheIndexEntry? {
        guard let m = try await CacheIndexModel.find(key, on: db) else { return nil }
        return CacheIndexEntry(key: m.id!, provider: m.provider, model: m.model, objectKey: m.objectKey, size: m.size,
                               createdAt: Date(seconds: m.createdAt))
    }

    /// Records (or replaces) where a cached generation is stored.
    public func indexCacheEntry(_ entry: CacheIndexEntry) async throws {
        try await sql.insert(into: CacheIndexModel.schema)
            .columns("key", "provider", "model", "object_key", "size", "created_at")
            .values(SQLBind(entry.key), SQLBind(entry.provider), SQLBind(entry.model), SQLBind(entry.objectKey),
                    SQLBind(entry.size), SQLBind(entry.createdAt.seconds))
            .onConflict(with: ["key"]) {
                $0.set(excludedValueOf: "provider").set(excludedValueOf: "model").set(excludedValueOf: "object_key")
                    .set(excludedValueOf: "size").set(excludedValueOf: "created_at")
            }
            .run()
    }
}
