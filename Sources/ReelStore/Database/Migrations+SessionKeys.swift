import Foundation
import Fluent
import SQLKit

/// Sessions belong to the API key that signed them in (issue 14): revoking or rotating that key ends them.
/// - `sessions.key_id`: the key's id. Nullable in the schema because rows made before this migration have none; those
///   are deleted here (a session that cannot say which key made it cannot be ended with that key), and the lookup
///   treats any row without a live key as ended.
/// - `sessions.last_used_at`: when the session was last used (noted at most once a minute), for the session list.
/// - indexes for ending a key's sessions and listing a user's, newest first.
struct AddSessionKeys: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(SessionModel.schema)
            .field("key_id", .uuid)
            .update()
        try await db.schema(SessionModel.schema)
            .field("last_used_at", .double)
            .update()
        try await SessionModel.query(on: db).filter(\.$keyId == nil).delete()
        guard let sql = db as? any SQLDatabase else { return }
        try await sql.create(index: "sessions_key").on(SessionModel.schema).column("key_id").run()
        try await sql.create(index: "sessions_user_created").on(SessionModel.schema)
            .column("user_id").column("created_at").column("id").run()
    }

    func revert(on db: any Database) async throws {
        if let sql = db as? any SQLDatabase {
            for name in ["sessions_key", "sessions_user_created"] { try await sql.drop(index: name).ifExists().run() }
        }
        try await db.schema(SessionModel.schema).deleteField("last_used_at").update()
        try await db.schema(SessionModel.schema).deleteField("key_id").update()
    }
}
