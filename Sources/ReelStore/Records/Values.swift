import Foundation
import ReelCore

/// One page of a list, newest or oldest first as the list says; `nextCursor` is nil on the last page.
/// Cursors are opaque strings: pass one back unchanged to get the next page.
public struct Page<Item: Sendable & Codable>: Sendable, Codable {
    public var items: [Item]
    public var nextCursor: String?
    public init(items: [Item], nextCursor: String?) { self.items = items; self.nextCursor = nextCursor }
}

extension Page: Equatable where Item: Equatable {}

/// An account of the service: owns projects, assets and jobs, authenticates with API keys.
public struct User: Codable, Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var createdAt: Date
    /// Spending limit in USD; nil is unlimited.
    public var budget: Double?
    /// Jobs the user may have queued or running at once.
    public var maxConcurrentJobs: Int
    /// Requests per minute the user's keys may make.
    public var requestsPerMinute: Int
    public init(id: UUID, name: String, createdAt: Date, budget: Double? = nil, maxConcurrentJobs: Int = 2, requestsPerMinute: Int = 120) {
        self.id = id; self.name = name; self.createdAt = createdAt; self.budget = budget
        self.maxConcurrentJobs = maxConcurrentJobs; self.requestsPerMinute = requestsPerMinute
    }
}

/// What may be shown of an API key: never the key itself (only its first 8 characters, to tell keys apart).
public struct APIKeyInfo: Codable, Sendable, Equatable {
    public var id: UUID
    public var userId: UUID
    /// The key's first 8 characters (`rs_` and 5 more), for listings.
    public var prefix: String
    public var createdAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    public init(id: UUID, userId: UUID, prefix: String, createdAt: Date, revokedAt: Date? = nil, lastUsedAt: Date? = nil) {
        self.id = id; self.userId = userId; self.prefix = prefix; self.createdAt = createdAt
        self.revokedAt = revokedAt; self.lastUsedAt = lastUsedAt
    }
}

/// What may be shown of a web session: never its token or the token's hash.
public struct SessionInfo: Codable, Sendable, Equatable {
    public var id: UUID
    public var userId: UUID
    /// The API key the session was signed in with: revoking or rotating that key ends the session.
    public var keyId: UUID
    public var createdAt: Date
    public var expiresAt: Date
    /// Noted at most once a minute.
    public var lastUsedAt: Date?
    public init(id: UUID, userId: UUID, keyId: UUID, createdAt: Date, expiresAt: Date, lastUsedAt: Date? = nil) {
        self.id = id; self.userId = userId; self.keyId = keyId; self.createdAt = createdAt; self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
    }
}

/// A user's video project: the brief's settings, its song choice and, once planned, its plan.
public struct Project: Codable, Sendable, Equatable {
    public var id: UUID
    public var ownerId: UUID
    public var name: String
    public var prompt: String
    public var category: ReelCore.Category
    public var duration: Double?
    public var aspectRatio: AspectRatio
    public var style: String?
    public var mood: String?
    public var preset: Preset
    public var mode: Mode
    public var seed: UInt64?
    /// The song the project uses; nil means its newest ready audio asset.
    public var audioAssetId: UUID?
    public var plan: Plan?
    public var createdAt: Date
    public var updatedAt: Date
    public init(id: UUID, ownerId: UUID, name: String, prompt: String, category: ReelCore.Category, duration: Double?,
                aspectRatio: AspectRatio, style: String?, mood: String?, preset: Preset, mode: Mode, seed: UInt64?,
                audioAssetId: UUID?, plan: Plan?, createdAt: Date, updatedAt: Date) {
        self.id = id; self.ownerId = ownerId; self.name = name; self.prompt = prompt; self.category = category
        self.duration = duration; self.aspectRatio = aspectRatio; self.style = style; self.mood = mood
        self.preset = preset; self.mode = mode; self.seed = seed; self.audioAssetId = audioAssetId; self.plan = plan
        self.createdAt = createdAt; self.updatedAt = updatedAt
    }
}

/// A patch of a project's settings: nil leaves a field as it is (on create, nil takes the default:
/// name from the prompt, music-video, 16:9, draft, classic, no duration/style/mood/seed/song).
public struct ProjectFields: Codable, Sendable, Equatable {
    public var name: String?
    public var prompt: String?
    public var category: ReelCore.Category?
    public var duration: Double?
    public var aspectRatio: AspectRatio?
    public var style: String?
    public var mood: String?
    public var preset: Preset?
    public var mode: Mode?
    public var seed: UInt64?
    public var audioAssetId: UUID?
    public init(name: String? = nil, prompt: String? = nil, category: ReelCore.Category? = nil, duration: Double? = nil,
                aspectRatio: AspectRatio? = nil, style: String? = nil, mood: String? = nil, preset: Preset? = nil,
                mode: Mode? = nil, seed: UInt64? = nil, audioAssetId: UUID? = nil) {
        self.name = name; self.prompt = prompt; self.category = category; self.duration = duration
        self.aspectRatio = aspectRatio; self.style = style; self.mood = mood; self.preset = preset; self.mode = mode
        self.seed = seed; self.audioAssetId = audioAssetId
    }
}

/// One scene of a project's plan as stored: editable prompt, lock, and the variant a regeneration bumps.
public struct SceneRecord: Codable, Sendable, Equatable {
    public var id: UUID
    public var projectId: UUID
    public var index: Int
    public var start: Double
    public var end: Double
    public var prompt: String
    /// A locked scene keeps its clip when the project is generated again.
    public var locked: Bool
    /// Bumped by each regeneration (changes the scene's generation request, so the cache makes a new clip).
    public var variant: Int
    /// Object key of the scene's last clip.
    public var clipKey: String?
    public init(id: UUID, projectId: UUID, index: Int, start: Double, end: Double, prompt: String, locked: Bool = false,
                variant: Int = 0, clipKey: String? = nil) {
        self.id = id; self.projectId = projectId; self.index = index; self.start = start; self.end = end
        self.prompt = prompt; self.locked = locked; self.variant = variant; self.clipKey = clipKey
    }
}

/// What an uploaded asset is, by its content.
public enum AssetKind: String, Codable, Sendable, CaseIterable {
    case audio, image, video
}

/// An uploaded file of a project: the user's name for display, the object key it is stored under, and what ffprobe found.
public struct AssetRecord: Codable, Sendable, Equatable {
    public var id: UUID
    public var projectId: UUID
    public var ownerId: UUID
    public var kind: AssetKind
    /// The user's file name, for display only.
    public var filename: String
    /// The object key (safe, generated).
    public var storageKey: String
    public var contentType: String
    public var size: Int64
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    public var sha256: String?
    /// `pending` (presigned upload not completed yet) or `ready`.
    public var status: String
    public var createdAt: Date
    public init(id: UUID = UUID(), projectId: UUID, ownerId: UUID, kind: AssetKind, filename: String, storageKey: String,
                contentType: String, size: Int64, duration: Double? = nil, width: Int? = nil, height: Int? = nil,
                sha256: String? = nil, status: String = "ready", createdAt: Date = Date()) {
        self.id = id; self.projectId = projectId; self.ownerId = ownerId; self.kind = kind; self.filename = filename
        self.storageKey = storageKey; self.contentType = contentType; self.size = size; self.duration = duration
        self.width = width; self.height = height; self.sha256 = sha256; self.status = status; self.createdAt = createdAt
    }
}

/// What renewing a lease found.
public enum LeaseState: Sendable, Equatable {
    /// The worker still holds the job; the lease is extended.
    case held
    /// Another worker took the job, or it ended: stop without writing anything.
    case lost
    /// The job is held, and the user asked to cancel it: stop and call `markCanceled`.
    case cancelRequested
}

/// Where a cached generation is stored, so that workers on other machines find it.
public struct CacheIndexEntry: Codable, Sendable, Equatable {
    public var key: String
    public var provider: String
    public var model: String
    public var objectKey: String
    public var size: Int64
    public var createdAt: Date
    public init(key: String, provider: String, model: String, objectKey: String, size: Int64, createdAt: Date = Date()) {
        self.key = key; self.provider = provider; self.model = model; self.objectKey = objectKey; self.size = size
        self.createdAt = createdAt
    }
}
