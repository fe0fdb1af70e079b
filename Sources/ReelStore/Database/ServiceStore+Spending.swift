import Foundation
import Fluent
import SQLKit
import ReelCore

/// A paid call's hold on its user's budget (`CreateSpendHolds`).
final class SpendHoldModel: Model, @unchecked Sendable {
    static let schema = "spend_holds"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userId: UUID
    @Field(key: "job_id") var jobId: UUID
    @Field(key: "amount") var amount: Double
    /// True once the call ended: `amount` is then its real cost, counted until its cost entry is stored.
    @Field(key: "settled") var settled: Bool
    @Field(key: "created_at") var createdAt: Double
    init() {}
}

/// One job's view of its user's budget, kept in the service's database: what `CostMeter` asks before each paid call.
public struct StoreSpendLedger: SpendLedger {
    let store: ServiceStore
    public let userId: UUID
    public let jobId: UUID

    public func reserve(_ amount: Double, for what: String) async throws -> SpendHold {
        try await store.holdSpending(amount, userId: userId, jobId: jobId, for: what)
    }

    public func settle(_ hold: SpendHold, cost: Double) async throws {
        try await store.settleHold(hold, cost: cost, userId: userId, jobId: jobId)
    }

    public func release(_ hold: SpendHold) async throws {
        try await store.releaseHold(hold)
    }
}

extension ServiceStore {
    /// The ledger a job's paid calls reserve their price in, against the budget of the user who owns it.
    public func spendLedger(userId: UUID, jobId: UUID) -> StoreSpendLedger {
        StoreSpendLedger(store: self, userId: userId, jobId: jobId)
    }

    /// Holds `amount` for one call of `jobId` when the user's recorded spending plus every open hold leaves room for it.
    /// One write transaction that first locks the user's row (`lockRow`; on SQLite `BEGIN IMMEDIATE` holds the
    /// database's write lock), so two holds of one user are decided one after the other, whichever process asks.
    func holdSpending(_ amount: Double, userId: UUID, jobId: UUID, for what: String) async throws -> SpendHold {
        let amount = max(0, amount.isFinite ? amount : 0)
        let id = UUID()
        return try await write { db in
            let sql = db as! any SQLDatabase
            try await lockRow(of: UserModel.schema, id: userId, on: db)
            guard let user = try await sql.raw("SELECT budget FROM users WHERE id = \(bind: userId)").first() else {
                throw ReelError(.budgetExceeded, "the account that asked for \(what) no longer exists; nothing was spent")
            }
            if let budget = try user.decode(column: "budget", as: Double?.self) {
                let committed = try await Self.committedSpending(userId: userId, on: sql)
                if committed + amount > budget + 1e-9 {
                    throw ReelError(.budgetExceeded, String(format: "your budget of $%.2f would be passed by %@ (about $%.4f; $%.4f spent or held by your running jobs); nothing more was spent", budget, what, amount, committed))
                }
            }
            let m = SpendHoldModel()
            m.id = id; m.userId = userId; m.jobId = jobId; m.amount = amount; m.settled = false; m.createdAt = Self.now
            try await m.create(on: db)
            return SpendHold(id: id, amount: amount)
        }
    }

    /// The call behind `hold` cost `cost`: the hold counts that much until its cost entry is recorded. A hold closed
    /// meanwhile (its job ended, or another worker took the job over) is made again, settled: the money was spent.
    func settleHold(_ hold: SpendHold, cost: Double, userId: UUID, jobId: UUID) async throws {
        let cost = max(0, cost.isFinite ? cost : 0)
        try await write { db in
            if let m = try await SpendHoldModel.find(hold.id, on: db) {
                m.amount = cost; m.settled = true
                try await m.update(on: db)
            } else if cost > 0 {
                let m = SpendHoldModel()
                m.id = hold.id; m.userId = userId; m.jobId = jobId; m.amount = cost; m.settled = true; m.createdAt = Self.now
                try await m.create(on: db)
            }
        }
    }

    /// Gives back a hold whose call was not charged.
    func releaseHold(_ hold: SpendHold) async throws {
        try await SpendHoldModel.query(on: db).filter(\.$id == hold.id).filter(\.$settled == false).delete()
    }

    /// Closes holds whose cost entries are being recorded in the caller's transaction.
    func closeHolds(_ ids: [UUID], on db: any Database) async throws {
        guard !ids.isEmpty else { return }
        try await SpendHoldModel.query(on: db).filter(\.$id ~~ ids).delete()
    }

    /// Gives back the holds of calls still in flight when a job's attempt ended (in the caller's transaction). Settled
    /// holds stay: they are money spent whose entry was not recorded yet.
    func releaseOpenHolds(jobIds: [UUID], on db: any Database) async throws {
        guard !jobIds.isEmpty else { return }
        try await SpendHoldModel.query(on: db).filter(\.$jobId ~~ jobIds).filter(\.$settled == false).delete()
    }

    /// USD the user has spent or holds for calls in flight: what their budget is checked against.
    public func committedSpending(userId: UUID) async throws -> Double {
        CostLedger.round(try await Self.committedSpending(userId: userId, on: sql))
    }

    static func committedSpending(userId: UUID, on sql: any SQLDatabase) async throws -> Double {
        let row = try await sql.raw("""
            SELECT COALESCE((SELECT SUM(cost) FROM cost_entries WHERE user_id = \(bind: userId)), 0.0)
                 + COALESCE((SELECT SUM(amount) FROM spend_holds WHERE user_id = \(bind: userId)), 0.0) AS total
            """).first()
        return try row?.decode(column: "total", as: Double.self) ?? 0
    }
}
