import Foundation
import Fluent
import SQLKit

/// Indexes for queries the first schema left to table scans (found in review):
/// - `jobs (status, finished_at)`: `averageStageSeconds` (run for every enqueue's ETA and by workers) takes the newest
///   succeeded jobs; with only `(status, created_at)` it read and sorted every succeeded job.
/// - `cost_entries (job_id, seq)`: `recordCosts` counts the job's entries on every call.
/// - `idempotency_keys (job_id)`: `deleteProject` deletes a project's keys by job, and the foreign key's cascade from
///   `jobs` looks them up the same way.
struct AddQueryIndexes: AsyncMigration {
    func prepare(on db: any Database) async throws {
        guard let sql = db as? any SQLDatabase else { return }
        try await sql.create(index: "jobs_status_finished").on(JobModel.schema).column("status").column("finished_at").run()
        try await sql.create(index: "cost_entries_job").on(CostEntryModel.schema).column("job_id").column("seq").run()
        try await sql.create(index: "idempotency_keys_job").on(IdempotencyKeyModel.schema).column("job_id").run()
    }

    func revert(on db: any Database) async throws {
        guard let sql = db as? any SQLDatabase else { return }
        for name in ["jobs_status_finished", "cost_entries_job", "idempotency_keys_job"] {
            try await sql.drop(index: name).ifExists().run()
        }
    }
}
