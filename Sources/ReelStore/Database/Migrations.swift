import Foundation
import Fluent
import SQLKit

// The schema, one migration per table. Add new migrations at the end of `ServiceDatabase.migrations`; never edit
// a released one (databases in the field have run it already).

private func index(_ db: any Database, _ name: String, on table: String, _ columns: [String], unique: Bool = false) async throws {
    guard let sql = db as? any SQLDatabase else { return }
    var builder = sql.create(index: name).on(table)
    if unique { builder = builder.unique() }
    for c in columns { builder = builder.column(c) }
    try await builder.run()
}

private func dropIndex(_ db: any Database, _ name: String) async throws {
    guard let sql = db as? any SQLDatabase else { return }
    try await sql.drop(index: name).ifExists().run()
}

struct CreateUsers: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(UserModel.schema).id()
            .field("name", .string, .required)
            .field("created_at", .double, .required)
            .field("budget", .double)
            .field("max_concurrent_jobs", .int, .required)
            .field("requests_per_minute", .int, .required)
            .unique(on: "name")
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(UserModel.schema).delete() }
}

struct CreateAPIKeys: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(APIKeyModel.schema).id()
            .field("user_id", .uuid, .required, .references(UserModel.schema, .id, onDelete: .cascade))
            .field("key_hash", .string, .required)
            .field("prefix", .string, .required)
            .field("created_at", .double, .required)
            .field("revoked_at", .double)
            .field("last_used_at", .double)
            .unique(on: "key_hash")
            .create()
        try await index(db, "api_keys_user", on: APIKeyModel.schema, ["user_id"])
    }
    func revert(on db: any Database) async throws { try await db.schema(APIKeyModel.schema).delete() }
}

struct CreateSessions: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(SessionModel.schema).id()
            .field("user_id", .uuid, .required, .references(UserModel.schema, .id, onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("created_at", .double, .required)
            .field("expires_at", .double, .required)
            .unique(on: "token_hash")
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(SessionModel.schema).delete() }
}

struct CreateProjects: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(ProjectModel.schema).id()
            .field("owner_id", .uuid, .required, .references(UserModel.schema, .id, onDelete: .cascade))
            .field("name", .string, .required)
            .field("prompt", .string, .required)
            .field("category", .string, .required)
            .field("duration", .double)
            .field("aspect_ratio", .string, .required)
            .field("style", .string)
            .field("mood", .string)
            .field("preset", .string, .required)
            .field("mode", .string, .required)
            .field("seed", .string)
            .field("audio_asset_id", .uuid)
            .field("plan", .string)
            .field("created_at", .double, .required)
            .field("updated_at", .double, .required)
            .create()
        try await index(db, "projects_owner_created", on: ProjectModel.schema, ["owner_id", "created_at", "id"])
    }
    func revert(on db: any Database) async throws { try await db.schema(ProjectModel.schema).delete() }
}

struct CreateScenes: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(SceneModel.schema).id()
            .field("project_id", .uuid, .required, .references(ProjectModel.schema, .id, onDelete: .cascade))
            .field("scene_index", .int, .required)
            .field("start_time", .double, .required)
            .field("end_time", .double, .required)
            .field("prompt", .string, .required)
            .field("locked", .bool, .required)
            .field("variant", .int, .required)
            .field("clip_key", .string)
            .unique(on: "project_id", "scene_index")
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(SceneModel.schema).delete() }
}

struct CreateAssets: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(AssetModel.schema).id()
            .field("project_id", .uuid, .required, .references(ProjectModel.schema, .id, onDelete: .cascade))
            .field("owner_id", .uuid, .required)
            .field("kind", .string, .required)
            .field("filename", .string, .required)
            .field("storage_key", .string, .required)
            .field("content_type", .string, .required)
            .field("size", .int64, .required)
            .field("duration", .double)
            .field("width", .int)
            .field("height", .int)
            .field("sha256", .string)
            .field("status", .string, .required)
            .field("created_at", .double, .required)
            .create()
        try await index(db, "assets_project_created", on: AssetModel.schema, ["project_id", "created_at", "id"])
    }
    func revert(on db: any Database) async throws { try await db.schema(AssetModel.schema).delete() }
}

struct CreateJobs: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(JobModel.schema).id()
            .field("project_id", .uuid, .required, .references(ProjectModel.schema, .id, onDelete: .cascade))
            .field("user_id", .uuid, .required)
            .field("kind", .string, .required)
            .field("status", .string, .required)
            .field("stage", .string)
            .field("progress", .double, .required)
            .field("eta_seconds", .double)
            .field("error", .string)
            .field("created_at", .double, .required)
            .field("started_at", .double)
            .field("finished_at", .double)
            .field("retry_of", .uuid)
            .field("parameters", .string, .required)
            .field("attempts", .int, .required)
            .field("max_attempts", .int, .required)
            .field("run_after", .double, .required)
            .field("lease_owner", .string)
            .field("lease_expires_at", .double)
            .field("cancel_requested", .bool, .required)
            .field("result", .string)
            .field("stage_seconds", .string)
            .field("video_seconds", .double)
            .create()
        try await index(db, "jobs_status_created", on: JobModel.schema, ["status", "created_at"])
        try await index(db, "jobs_project_created", on: JobModel.schema, ["project_id", "created_at", "id"])
        try await index(db, "jobs_user_status", on: JobModel.schema, ["user_id", "status"])
    }
    func revert(on db: any Database) async throws { try await db.schema(JobModel.schema).delete() }
}

struct CreateJobEvents: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(JobEventModel.schema)
            .field("id", .int64, .identifier(auto: true))
            .field("job_id", .uuid, .required)
            .field("project_id", .uuid, .required)
            .field("type", .string, .required)
            .field("at", .double, .required)
            .field("data", .string, .required)
            .create()
        try await index(db, "job_events_project", on: JobEventModel.schema, ["project_id", "id"])
    }
    func revert(on db: any Database) async throws { try await db.schema(JobEventModel.schema).delete() }
}

struct CreateCostEntries: AsyncMigration {
    func prepare(on db: any Database) async throws {
        // No foreign keys: money spent stays counted after its project is deleted.
        try await db.schema(CostEntryModel.schema).id()
            .field("project_id", .uuid, .required)
            .field("job_id", .uuid, .required)
            .field("user_id", .uuid, .required)
            .field("seq", .int, .required)
            .field("role", .string, .required)
            .field("provider", .string, .required)
            .field("model", .string, .required)
            .field("scene", .int)
            .field("units", .double, .required)
            .field("unit", .string, .required)
            .field("unit_price", .double, .required)
            .field("cost", .double, .required)
            .field("cache_hit", .bool, .required)
            .field("prediction_id", .string)
            .field("at", .double, .required)
            .field("kind", .string)
            .field("status", .string)
            .field("input_tokens", .int)
            .field("output_tokens", .int)
            .create()
        try await index(db, "cost_entries_project", on: CostEntryModel.schema, ["project_id"])
        try await index(db, "cost_entries_user", on: CostEntryModel.schema, ["user_id"])
    }
    func revert(on db: any Database) async throws { try await db.schema(CostEntryModel.schema).delete() }
}

struct CreateIdempotencyKeys: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(IdempotencyKeyModel.schema).id()
            .field("user_id", .uuid, .required)
            .field("key", .string, .required)
            .field("job_id", .uuid, .required, .references(JobModel.schema, .id, onDelete: .cascade))
            .field("created_at", .double, .required)
            .unique(on: "user_id", "key")
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(IdempotencyKeyModel.schema).delete() }
}

struct CreateCheckpoints: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(CheckpointModel.schema).id()
            .field("run", .string, .required)
            .field("name", .string, .required)
            .field("data", .data, .required)
            .field("updated_at", .double, .required)
            .unique(on: "run", "name")
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(CheckpointModel.schema).delete() }
}

struct CreateCacheIndex: AsyncMigration {
    func prepare(on db: any Database) async throws {
        try await db.schema(CacheIndexModel.schema)
            .field("key", .string, .identifier(auto: false))
            .field("provider", .string, .required)
            .field("model", .string, .required)
            .field("object_key", .string, .required)
            .field("size", .int64, .required)
            .field("created_at", .double, .required)
            .create()
    }
    func revert(on db: any Database) async throws { try await db.schema(CacheIndexModel.schema).delete() }
}
