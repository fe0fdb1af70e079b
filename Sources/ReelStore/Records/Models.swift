import Foundation
import Fluent
import ReelCore

// Fluent models of the service's tables. Internal: other modules see the public values of Values.swift.
// Times are stored as seconds since 1970 (double precision) on both databases, so that values read back compare
// exactly (pagination cursors, lease checks) — PostgreSQL's timestamp keeps microseconds only.
// JSON-shaped values (plan, job parameters/result/error, event data) are stored as JSON text.

extension Date {
    var seconds: Double { timeIntervalSince1970 }
    init(seconds: Double) { self.init(timeIntervalSince1970: seconds) }
}

final class UserModel: Model, @unchecked Sendable {
    static let schema = "users"
    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "created_at") var createdAt: Double
    @OptionalField(key: "budget") var budget: Double?
    @Field(key: "max_concurrent_jobs") var maxConcurrentJobs: Int
    @Field(key: "requests_per_minute") var requestsPerMinute: Int
    init() {}

    var value: User {
        User(id: id!, name: name, createdAt: Date(seconds: createdAt), budget: budget, maxConcurrentJobs: maxConcurrentJobs,
             requestsPerMinute: requestsPerMinute)
    }
}

final class APIKeyModel: Model, @unchecked Sendable {
    static let schema = "api_keys"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userId: UUID
    /// SHA-256 hex of the whole key.
    @Field(key: "key_hash") var keyHash: String
    @Field(key: "prefix") var prefix: String
    @Field(key: "created_at") var createdAt: Double
    @OptionalField(key: "revoked_at") var revokedAt: Double?
    @OptionalField(key: "last_used_at") var lastUsedAt: Double?
    init() {}

    var value: APIKeyInfo {
        APIKeyInfo(id: id!, userId: userId, prefix: prefix, createdAt: Date(seconds: createdAt),
                   revokedAt: revokedAt.map(Date.init(seconds:)), lastUsedAt: lastUsedAt.map(Date.init(seconds:)))
    }
}

final class SessionModel: Model, @unchecked Sendable {
    static let schema = "sessions"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userId: UUID
    @Field(key: "token_hash") var tokenHash: String
    @Field(key: "created_at") var createdAt: Double
    @Field(key: "expires_at") var expiresAt: Double
    /// The API key that signed the session in (nil only on rows older than `AddSessionKeys`, which treat it as ended).
    @OptionalField(key: "key_id") var keyId: UUID?
    @OptionalField(key: "last_used_at") var lastUsedAt: Double?
    init() {}
}

final class ProjectModel: Model, @unchecked Sendable {
    static let schema = "projects"
    @ID(key: .id) var id: UUID?
    @Field(key: "owner_id") var ownerId: UUID
    @Field(key: "name") var name: String
    @Field(key: "prompt") var prompt: String
    @Field(key: "category") var category: String
    @OptionalField(key: "duration") var duration: Double?
    @Field(key: "aspect_ratio") var aspectRatio: String
    @OptionalField(key: "style") var style: String?
    @OptionalField(key: "mood") var mood: String?
    @Field(key: "preset") var preset: String
    @Field(key: "mode") var mode: String
    /// UInt64 as decimal text (does not fit a signed bigint).
    @OptionalField(key: "seed") var seed: String?
    @OptionalField(key: "audio_asset_id") var audioAssetId: UUID?
    @OptionalField(key: "plan") var plan: String?
    @Field(key: "created_at") var createdAt: Double
    @Field(key: "updated_at") var updatedAt: Double
    init() {}
}

final class SceneModel: Model, @unchecked Sendable {
    static let schema = "scenes"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectId: UUID
    @Field(key: "scene_index") var index: Int
    @Field(key: "start_time") var start: Double
    @Field(key: "end_time") var end: Double
    @Field(key: "prompt") var prompt: String
    @Field(key: "locked") var locked: Bool
    @Field(key: "variant") var variant: Int
    @OptionalField(key: "clip_key") var clipKey: String?
    init() {}

    var value: SceneRecord {
        SceneRecord(id: id!, projectId: projectId, index: index, start: start, end: end, prompt: prompt, locked: locked,
                    variant: variant, clipKey: clipKey)
    }
}

final class AssetModel: Model, @unchecked Sendable {
    static let schema = "assets"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectId: UUID
    @Field(key: "owner_id") var ownerId: UUID
    @Field(key: "kind") var kind: String
    @Field(key: "filename") var filename: String
    @Field(key: "storage_key") var storageKey: String
    @Field(key: "content_type") var contentType: String
    @Field(key: "size") var size: Int64
    @OptionalField(key: "duration") var duration: Double?
    @OptionalField(key: "width") var width: Int?
    @OptionalField(key: "height") var height: Int?
    @OptionalField(key: "sha256") var sha256: String?
    @Field(key: "status") var status: String
    @Field(key: "created_at") var createdAt: Double
    init() {}
}

final class JobModel: Model, @unchecked Sendable {
    static let schema = "jobs"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectId: UUID
    @Field(key: "user_id") var userId: UUID
    @Field(key: "kind") var kind: String
    @Field(key: "status") var status: String
    @OptionalField(key: "stage") var stage: String?
    @Field(key: "progress") var progress: Double
    @OptionalField(key: "eta_seconds") var etaSeconds: Double?
    @OptionalField(key: "error") var error: String?
    @Field(key: "created_at") var createdAt: Double
    @OptionalField(key: "started_at") var startedAt: Double?
    @OptionalField(key: "finished_at") var finishedAt: Double?
    @OptionalField(key: "retry_of") var retryOf: UUID?
    @Field(key: "parameters") var parameters: String
    @Field(key: "attempts") var attempts: Int
    @Field(key: "max_attempts") var maxAttempts: Int
    @Field(key: "run_after") var runAfter: Double
    @OptionalField(key: "lease_owner") var leaseOwner: String?
    @OptionalField(key: "lease_expires_at") var leaseExpiresAt: Double?
    @Field(key: "cancel_requested") var cancelRequested: Bool
    @OptionalField(key: "result") var result: String?
    /// Seconds per stage of a finished run (JSON object keyed by stage), with the video's length, for ETAs.
    @OptionalField(key: "stage_seconds") var stageSeconds: String?
    @OptionalField(key: "video_seconds") var videoSeconds: Double?
    init() {}
}

final class JobEventModel: Model, @unchecked Sendable {
    static let schema = "job_events"
    @ID(custom: "id", generatedBy: .database) var id: Int64?
    @Field(key: "job_id") var jobId: UUID
    @Field(key: "project_id") var projectId: UUID
    @Field(key: "type") var type: String
    @Field(key: "at") var at: Double
    @Field(key: "data") var data: String
    init() {}
}

final class CostEntryModel: Model, @unchecked Sendable {
    static let schema = "cost_entries"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectId: UUID
    @Field(key: "job_id") var jobId: UUID
    @Field(key: "user_id") var userId: UUID
    @Field(key: "seq") var seq: Int
    @Field(key: "role") var role: String
    @Field(key: "provider") var provider: String
    @Field(key: "model") var model: String
    @OptionalField(key: "scene") var scene: Int?
    @Field(key: "units") var units: Double
    @Field(key: "unit") var unit: String
    @Field(key: "unit_price") var unitPrice: Double
    @Field(key: "cost") var cost: Double
    @Field(key: "cache_hit") var cacheHit: Bool
    @OptionalField(key: "prediction_id") var predictionId: String?
    @Field(key: "at") var at: Double
    @OptionalField(key: "kind") var kind: String?
    @OptionalField(key: "status") var status: String?
    @OptionalField(key: "input_tokens") var inputTokens: Int?
    @OptionalField(key: "output_tokens") var outputTokens: Int?
    init() {}
}

final class IdempotencyKeyModel: Model, @unchecked Sendable {
    static let schema = "idempotency_keys"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userId: UUID
    @Field(key: "key") var key: String
    @Field(key: "job_id") var jobId: UUID
    @Field(key: "created_at") var createdAt: Double
    init() {}
}

final class CheckpointModel: Model, @unchecked Sendable {
    static let schema = "checkpoints"
    @ID(key: .id) var id: UUID?
    @Field(key: "run") var run: String
    @Field(key: "name") var name: String
    @Field(key: "data") var data: Data
    @Field(key: "updated_at") var updatedAt: Double
    init() {}
}

final class CacheIndexModel: Model, @unchecked Sendable {
    static let schema = "generation_cache_index"
    @ID(custom: "key", generatedBy: .user) var id: String?
    @Field(key: "provider") var provider: String
    @Field(key: "model") var model: String
    @Field(key: "object_key") var objectKey: String
    @Field(key: "size") var size: Int64
    @Field(key: "created_at") var createdAt: Double
    init() {}
}
