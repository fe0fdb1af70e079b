import Foundation

// Values and ports of the service (server, workers, storage): plain `Sendable` values that cross from `ReelStore`
// (Fluent, S3) to `ReelServer` (Vapor) and the worker, so neither sees the other's types.

/// Where a job is in its life (CONTRACTS.md: `queued`, `running`, `succeeded`, `failed`, `canceled`).
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, canceled
    /// True once the job will not run again.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .canceled }
}

/// What a job does.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    /// Make the project's whole video.
    case generate
    /// Make one scene again and compose the video with the other scenes as they were.
    case regenerateScene = "regenerate-scene"
}

/// Why a job failed: a stable code (a `ReelError.Code` raw value) and a message for the user.
public struct JobFailure: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) { self.code = code; self.message = message }
}

/// A queued unit of work as the store keeps it. The API shows the fields CONTRACTS.md names; the rest is the queue's.
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: UUID
    public var projectId: UUID
    public var userId: UUID
    public var kind: JobKind
    public var status: JobStatus
    public var stage: Stage?
    /// 0 to 100.
    public var progress: Double
    public var etaSeconds: Double?
    public var error: JobFailure?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var retryOf: UUID?
    /// What to do, as the job was asked (scene index for a regeneration, seed, ...).
    public var parameters: JobParameters
    /// Runs started so far (a run ended by a dead worker or an error counts).
    public var attempts: Int
    public var maxAttempts: Int
    /// Not claimed before this time (backoff after a failed attempt).
    public var runAfter: Date
    /// The worker holding the job, and until when; another worker may claim it after that.
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    /// Set by a cancel while the job runs; the worker stops at its next check.
    public var cancelRequested: Bool
    /// Object keys of what a finished job made.
    public var result: JobOutputs?

    public init(id: UUID = UUID(), projectId: UUID, userId: UUID, kind: JobKind, status: JobStatus = .queued, stage: Stage? = nil,
                progress: Double = 0, etaSeconds: Double? = nil, error: JobFailure? = nil, createdAt: Date = Date(),
                startedAt: Date? = nil, finishedAt: Date? = nil, retryOf: UUID? = nil, parameters: JobParameters = .init(),
                attempts: Int = 0, maxAttempts: Int = 3, runAfter: Date = Date(), leaseOwner: String? = nil,
                leaseExpiresAt: Date? = nil, cancelRequested: Bool = false, result: JobOutputs? = nil) {
        self.id = id; self.projectId = projectId; self.userId = userId; self.kind = kind; self.status = status
        self.stage = stage; self.progress = progress; self.etaSeconds = etaSeconds; self.error = error
        self.createdAt = createdAt; self.startedAt = startedAt; self.finishedAt = finishedAt; self.retryOf = retryOf
        self.parameters = parameters; self.attempts = attempts; self.maxAttempts = maxAttempts; self.runAfter = runAfter
        self.leaseOwner = leaseOwner; self.leaseExpiresAt = leaseExpiresAt; self.cancelRequested = cancelRequested
        self.result = result
    }
}

/// What a job was asked to do beyond its project's settings.
public struct JobParameters: Codable, Sendable, Equatable {
    /// The scene a `regenerate-scene` job makes again.
    public var sceneIndex: Int?
    /// Spending limit for this job in USD (the user's remaining budget caps it too).
    public var budget: Double?
    public init(sceneIndex: Int? = nil, budget: Double? = nil) { self.sceneIndex = sceneIndex; self.budget = budget }
}

/// Object-store keys of a finished job's files.
public struct JobOutputs: Codable, Sendable, Equatable {
    public var video: String
    public var manifest: String
    public var thumbnail: String
    public init(video: String, manifest: String, thumbnail: String) { self.video = video; self.manifest = manifest; self.thumbnail = thumbnail }

    /// Where a job stores its outputs: `jobs/<job id>/video.mp4`, `manifest.json` and `thumbnail.jpg`.
    public static func keys(forJob id: UUID) -> JobOutputs {
        let prefix = "jobs/\(id.uuidString.lowercased())"
        return JobOutputs(video: "\(prefix)/video.mp4", manifest: "\(prefix)/manifest.json", thumbnail: "\(prefix)/thumbnail.jpg")
    }
}

/// The kinds of job event (CONTRACTS.md).
public enum JobEventType: String, Codable, Sendable, CaseIterable {
    case jobStarted = "job_started", stageStarted = "stage_started", sceneStarted = "scene_started"
    case sceneCompleted = "scene_completed", progress, jobCompleted = "job_completed", jobFailed = "job_failed"
}

/// One stored progress event. `id` grows with every event of the database, so a client resumes after the last it saw.
public struct JobEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var jobId: UUID
    public var projectId: UUID
    public var type: JobEventType
    public var at: Date
    /// Event details: `stage`, `scene`, `progress` (0–100), `message`, `error`, `attempt`, `reusedScenes`.
    public var data: [String: JSONValue]
    public init(id: Int64, jobId: UUID, projectId: UUID, type: JobEventType, at: Date, data: [String: JSONValue] = [:]) {
        self.id = id; self.jobId = jobId; self.projectId = projectId; self.type = type; self.at = at; self.data = data
    }
}

/// Stored media bytes by key: a folder on disk, or an S3-compatible bucket.
public protocol ObjectStore: Sendable {
    /// Copies the file at `path` to `key` (replacing it); the object appears whole or not at all.
    func put(_ key: String, fromFile path: String, contentType: String) async throws
    /// Writes the object to the file at `path` (created or replaced). Throws `ReelError(.fileNotFound)` for a missing key.
    func get(_ key: String, toFile path: String) async throws
    /// Size and type of an object, or nil when there is none.
    func head(_ key: String) async throws -> ObjectInfo?
    /// Removes the object; removing a missing key is not an error.
    func delete(_ key: String) async throws
    /// A URL a client may GET the object from directly for `expires`, or nil when the store cannot make one (disk).
    func presignedGet(_ key: String, expires: Duration) async throws -> URL?
    /// A URL a client may PUT the object to directly for `expires`, or nil when the store cannot make one (disk).
    /// The type and the length are signed: a PUT with another `Content-Type` or `Content-Length` is refused.
    func presignedPut(_ key: String, contentType: String, contentLength: Int64, expires: Duration) async throws -> URL?
    /// Keys under `prefix` whose objects were last written before `date` (for sweeping what was never finished).
    func keys(under prefix: String, writtenBefore date: Date) async throws -> [String]
    /// Removes what writes started before `date` and never finished left behind (a crash mid-`put`): partial copies
    /// on disk, unfinished multipart uploads in a bucket. Answers how many were removed.
    func removeUnfinishedWrites(startedBefore date: Date) async throws -> Int
}

/// What the store knows of an object.
public struct ObjectInfo: Sendable, Equatable {
    public var size: Int64
    public var contentType: String?
    public init(size: Int64, contentType: String?) { self.size = size; self.contentType = contentType }
}

/// What a run keeps so that another run (another worker, after a crash) resumes instead of starting again:
/// the plan once it is made, and each scene's clip once it is finished.
public protocol PipelineCheckpoints: Sendable {
    /// The plan a previous attempt of this run made, if any.
    func savedPlan() async throws -> PlanCheckpoint?
    func savePlan(_ checkpoint: PlanCheckpoint) async throws
    /// Restores the finished clip of scene `index`, whose request hashes to `key`, into `path`; false when there is
    /// none. (A store may also restore a scene the user locked from the clip it showed last, whatever its key.)
    func restoreScene(key: String, index: Int, to path: String) async throws -> Bool
    /// Keeps the finished clip at `path` of the scene whose request hashes to `key`.
    func saveScene(key: String, index: Int, clipAt path: String) async throws
}

/// A finished plan stage: what `ClassicPipeline.plan` produced, minus local paths that do not survive a move.
public struct PlanCheckpoint: Codable, Sendable, Equatable {
    public var plan: Plan
    public var analysis: AudioAnalysis?
    public var audioSHA256: String?
    public var warnings: [String]
    public var timings: StageTimings
    public init(plan: Plan, analysis: AudioAnalysis?, audioSHA256: String?, warnings: [String], timings: StageTimings) {
        self.plan = plan; self.analysis = analysis; self.audioSHA256 = audioSHA256; self.warnings = warnings; self.timings = timings
    }
}
