import Foundation
import Fluent
import SQLKit

/// Money held for paid calls in flight (issue 14, "money limits hold across jobs"): a user's budget is checked against
/// what they spent plus every open hold, in one transaction per hold, so their concurrent jobs cannot together pass it.
/// - `spend_holds`: one row per call in flight (`settled` false, the estimate) or ended but not yet recorded as a cost
///   entry (`settled` true, the real cost). No foreign keys: a hold outlives a deleted job while its money counts.
/// - indexes for summing a user's holds and closing a job's (a user's cost entries have theirs already).
struct CreateSpendHolds: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(SpendHoldModel.schema).id()
            .field("user_id", .uuid, .required)
            .field("job_id", .uuid, .required)
            .field("amount", .double, .required)
            .field("settled", .bool, .required)
            .field("created_at", .double, .required)
            .create()
        guard let sql = db as? any SQLDatabase else { return }
        try await sql.create(index: "spend_holds_user").on(SpendHoldModel.schema).column("user_id").run()
        try await sql.create(index: "spend_holds_job").on(SpendHoldModel.schema).column("job_id").run()
    }

    func revert(on db: any Database) async throws {
        try await db.schema(SpendHoldModel.schema).delete()
    }
}
