import Foundation
import Fluent
import SQLKit
import ReelCore

// Projects, their scenes and their assets. Every call that takes an owner checks it: another user's project reads as
// nil, exactly like a missing one, so the API answers 404 for both.

extension ProjectModel {
    func value() throws -> Project {
        Project(id: id!, ownerId: ownerId, name: name, prompt: prompt,
                category: ReelCore.Category(rawValue: category) ?? .musicVideo, duration: duration,
                aspectRatio: AspectRatio(rawValue: aspectRatio) ?? .landscape, style: style, mood: mood,
                preset: Preset(rawValue: preset) ?? .draft, mode: Mode(rawValue: mode) ?? .classic,
                seed: seed.flatMap { UInt64($0) }, audioAssetId: audioAssetId,
                plan: try plan.map { try ServiceStore.decode(Plan.self, $0) },
                createdAt: Date(seconds: createdAt), updatedAt: Date(seconds: updatedAt))
    }

    func apply(_ f: ProjectFields) throws {
        if let v = f.name {
            let t = v.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !t.isEmpty, t.count <= 200 else { throw ReelError(.badInput, "a project name must be 1 to 200 characters") }
            name = t
        }
        if let v = f.prompt {
            guard v.count <= 4000 else { throw ReelError(.badInput, "the prompt is longer than 4000 characters") }
            prompt = v
        }
        if let v = f.category { category = v.rawValue }
        if let v = f.duration {
            guard v.isFinite, v > 0, v <= 3600 else { throw ReelError(.badInput, "duration must be more than 0 and at most 3600 seconds") }
            duration = v
        }
        if let v = f.aspectRatio { aspectRatio = v.rawValue }
        // Free text the planner puts into prompts: bounded like the prompt, so one request cannot store megabytes.
        if let v = f.style {
            guard v.count <= 500 else { throw ReelError(.badInput, "style is longer than 500 characters") }
            style = v
        }
        if let v = f.mood {
            guard v.count <= 500 else { throw ReelError(.badInput, "mood is longer than 500 characters") }
            mood = v
        }
        if let v = f.preset { preset = v.rawValue }
        if let v = f.mode { mode = v.rawValue }
        if let v = f.seed { seed = String(v) }
        if let v = f.audioAssetId { audioAssetId = v }
    }
}

extension AssetModel {
    var value: AssetRecord {
        AssetRecord(id: id!, projectId: projectId, ownerId: ownerId, kind: AssetKind(rawValue: kind) ?? .video, filename: filename,
                    storageKey: storageKey, contentType: contentType, size: size, duration: duration, width: width,
                    height: height, sha256: sha256, status: status, createdAt: Date(seconds: createdAt))
    }

    func set(from a: AssetRecord) {
        projectId = a.projectId; ownerId = a.ownerId; kind = a.kind.rawValue; filename = a.filename; storageKey = a.storageKey
        contentType = a.contentType; size = a.size; duration = a.duration; width = a.width; height = a.height
        sha256 = a.sha256; status = a.status
    }
}

extension ServiceStore {
    // MARK: Projects

    /// Makes a project from `fields`; missing fields take the defaults (name from the prompt, music-video, 16:9,
    /// draft, classic). Throws `ReelError(.badInput)` for out-of-range values or a song that is not the owner's.
    public func createProject(owner: UUID, fields: ProjectFields) async throws -> Project {
        let now = Self.now
        let m = ProjectModel()
        m.id = UUID(); m.ownerId = owner; m.createdAt = now; m.updatedAt = now
        m.prompt = ""; m.category = ReelCore.Category.musicVideo.rawValue; m.aspectRatio = AspectRatio.landscape.rawValue
        m.preset = Preset.draft.rawValue; m.mode = Mode.classic.rawValue
        let prompt = (fields.prompt ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        m.name = prompt.isEmpty ? "Untitled" : String(prompt.prefix(60))
        try m.apply(fields)
        if fields.audioAssetId != nil {
            throw ReelError(.badInput, "audioAssetId must name an audio asset of this project; upload it first")
        }
        try await m.create(on: db)
        return try m.value()
    }

    /// Bounds on an asset's client-given text (the user's file name, the declared content type) and its numbers, so
    /// a request cannot store megabytes of name or a negative size.
    static func checkAssetFields(_ a: AssetRecord) throws {
        guard a.filename.utf8.count <= 1024 else { throw ReelError(.badInput, "the file name is longer than 1024 bytes") }
        guard a.contentType.utf8.count <= 255 else { throw ReelError(.badInput, "the content type is longer than 255 bytes") }
        guard a.storageKey.utf8.count <= 1024 else { throw ReelError(.badInput, "the storage key is longer than 1024 bytes") }
        guard a.size >= 0 else { throw ReelError(.badInput, "an asset's size cannot be negative") }
    }

    /// The owner's projects, newest first. A cursor this server did not give out → `ReelError(.badInput)`.
    public func projects(owner: UUID, limit: Int, cursor: String?) async throws -> Page<Project> {
        let page = try await Self.newestFirst(try ProjectModel.query(on: db).filter(\.$ownerId == owner), limit: limit, cursor: cursor,
                                            createdAt: \.$createdAt, id: \.$id)
        return Page(items: try page.rows.map { try $0.value() }, nextCursor: page.nextCursor)
    }

    /// The project if it exists and belongs to `owner`.
    public func project(id: UUID, owner: UUID) async throws -> Project? {
        try await ProjectModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner).first()?.value()
    }

    /// Worker side: the project whatever its owner.
    public func project(id: UUID) async throws -> Project? {
        try await ProjectModel.find(id, on: db)?.value()
    }

    /// Applies the patch; nil when there is no such project of `owner`.
    public func updateProject(id: UUID, owner: UUID, fields: ProjectFields) async throws -> Project? {
        guard let m = try await ProjectModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner).first() else { return nil }
        try m.apply(fields)
        if let audio = fields.audioAssetId {
            let asset = try await AssetModel.query(on: db).filter(\.$id == audio).filter(\.$projectId == id).first()
            guard let asset, asset.kind == AssetKind.audio.rawValue else {
                throw ReelError(.badInput, "audioAssetId must name an audio asset of this project")
            }
        }
        m.updatedAt = Self.now
        try await m.update(on: db)
        return try m.value()
    }

    /// Stores the project's plan and makes its scene rows match: a scene keeps its id, lock and variant by index
    /// (and its clip when its prompt and times did not change); rows past the new last scene go.
    public func setPlan(projectId: UUID, plan: Plan) async throws {
        let text = try Self.encode(plan)
        let now = Self.now
        try await write { db in
            // The project row is the lock for its plan and scene rows: `updateScene` rewrites the same stored plan,
            // and on PostgreSQL (READ COMMITTED) two unlocked read-modify-writes of it lose one of the edits.
            try await lockRow(of: ProjectModel.schema, id: projectId, on: db)
            guard let project = try await ProjectModel.find(projectId, on: db) else {
                throw ReelError(.badInput, "no such project")
            }
            project.plan = text
            project.updatedAt = now
            try await project.update(on: db)
            let existing = try await SceneModel.query(on: db).filter(\.$projectId == projectId).all()
            var byIndex: [Int: SceneModel] = [:]
            for s in existing { byIndex[s.index] = s }
            for scene in plan.scenes {
                if let row = byIndex.removeValue(forKey: scene.index) {
                    if row.prompt != scene.prompt || row.start != scene.start || row.end != scene.end { row.clipKey = nil }
                    row.start = scene.start; row.end = scene.end; row.prompt = scene.prompt
                    if row.hasChanges { try await row.update(on: db) }
                } else {
                    let row = SceneModel()
                    row.id = UUID(); row.projectId = projectId; row.index = scene.index; row.start = scene.start
                    row.end = scene.end; row.prompt = scene.prompt; row.locked = false; row.variant = 0; row.clipKey = nil
                    try await row.create(on: db)
                }
            }
            for row in byIndex.values { try await row.delete(on: db) }
        }
    }

    /// Deletes the project with its scenes, assets, jobs, events and checkpoints, and returns the object keys the
    /// caller should delete from the object store (assets, scene clips and checkpoints, job outputs); nil when not
    /// found. Cost entries stay: money spent still counts against the user's budget.
    ///
    /// A job still running is stopped first: the call asks it to cancel and throws `ProjectJobsRunning` without
    /// deleting anything; the caller asks again once the job's worker has stopped it (and recorded what it spent),
    /// so no worker writes objects or costs for a project that is gone. Queued jobs are simply deleted with it.
    public func deleteProject(id: UUID, owner: UUID) async throws -> [String]? {
        let outcome = try await write { db -> ProjectDeletion in
            guard let project = try await ProjectModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner).first() else {
                return .notFound
            }
            // The project's job rows are locked before their statuses are read: a claim committing between that read
            // and the DELETE below would otherwise leave a running job without its row. PostgreSQL: a claim waiting on
            // them skips them (SKIP LOCKED), one under way is waited for and its job then read as running. SQLite:
            // `write`'s BEGIN IMMEDIATE already keeps claims (also writes) out until this transaction ends.
            if database.isPostgres {
                try await (db as! any SQLDatabase).raw("SELECT id FROM jobs WHERE project_id = \(bind: id) ORDER BY id FOR UPDATE").run()
            }
            let jobs = try await JobModel.query(on: db).filter(\.$projectId == id).all()
            let running = jobs.filter { $0.status == JobStatus.running.rawValue }
            if !running.isEmpty {
                for job in running where !job.cancelRequested {
                    try await lockJobRow(job.id!, on: db)
                    job.cancelRequested = true
                    try await job.update(on: db)
                }
                return .jobsRunning(running.count)
            }
            var keys: [String] = []
            keys += try await AssetModel.query(on: db).filter(\.$projectId == id).all().map(\.storageKey)
            keys += try await SceneModel.query(on: db).filter(\.$projectId == id).all().compactMap(\.clipKey)
            for job in jobs {
                // A job that did not succeed may still have stored some outputs before it was stopped.
                let out = job.result.flatMap { try? Self.decode(JobOutputs.self, $0) } ?? JobOutputs.keys(forJob: job.id!)
                keys += [out.video, out.manifest, out.thumbnail]
            }
            let runPrefixes = [id.uuidString.lowercased(), id.uuidString]
            for prefix in runPrefixes {
                keys += try await CheckpointModel.query(on: db).filter(\.$run =~ prefix).all()
                    .compactMap { $0.name.hasPrefix(Self.objectCheckpointPrefix) ? String($0.name.dropFirst(Self.objectCheckpointPrefix.count)) : nil }
            }
            try await JobEventModel.query(on: db).filter(\.$projectId == id).delete()
            let jobIds = jobs.compactMap(\.id)
            if !jobIds.isEmpty {
                try await IdempotencyKeyModel.query(on: db).filter(\.$jobId ~~ jobIds).delete()
                try await releaseOpenHolds(jobIds: jobIds, on: db)
            }
            try await JobModel.query(on: db).filter(\.$projectId == id).delete()
            try await SceneModel.query(on: db).filter(\.$projectId == id).delete()
            try await AssetModel.query(on: db).filter(\.$projectId == id).delete()
            for prefix in runPrefixes { try await CheckpointModel.query(on: db).filter(\.$run =~ prefix).delete() }
            try await project.delete(on: db)
            var seen = Set<String>()
            return .deleted(keys.filter { seen.insert($0).inserted })
        }
        switch outcome {
        case .notFound: return nil
        case .deleted(let keys): return keys
        case .jobsRunning(let count): throw ProjectJobsRunning(count: count)
        }
    }

    // MARK: Scenes

    /// The project's scenes in order (empty before it has a plan).
    public func scenes(projectId: UUID) async throws -> [SceneRecord] {
        try await SceneModel.query(on: db).filter(\.$projectId == projectId).sort(\.$index).all().map(\.value)
    }

    /// Edits a scene: its prompt, its lock, and its length (moving the cut to the next scene, which must keep at least
    /// 2 frames; the last scene's length follows the video's). Updates the stored plan to match. Nil when not found.
    public func updateScene(projectId: UUID, sceneId: UUID, prompt: String?, duration: Double?, locked: Bool?) async throws -> SceneRecord? {
        let now = Self.now
        return try await write { db -> SceneRecord? in
            // Serialises edits of one project's plan (see `setPlan`).
            try await lockRow(of: ProjectModel.schema, id: projectId, on: db)
            guard let scene = try await SceneModel.query(on: db).filter(\.$id == sceneId).filter(\.$projectId == projectId).first(),
                  let project = try await ProjectModel.find(projectId, on: db) else { return nil }
            var plan = try project.plan.map { try Self.decode(Plan.self, $0) }
            if let locked { scene.locked = locked }
            if prompt != nil || duration != nil {
                guard let current = plan, current.scenes.indices.contains(scene.index) else {
                    throw ReelError(.badInput, "the project has no plan to edit yet: generate it first")
                }
                // The plan's own edit rules (a new length moves the next cut; transitions must still fit).
                let edited = try current.editingScene(scene.index, prompt: prompt, duration: duration)
                let mine = edited.scenes[scene.index]
                if mine.prompt != scene.prompt || mine.start != scene.start || mine.end != scene.end {
                    scene.prompt = mine.prompt; scene.start = mine.start; scene.end = mine.end; scene.clipKey = nil
                }
                if edited.scenes.indices.contains(scene.index + 1), edited.scenes[scene.index + 1].start != current.scenes[scene.index + 1].start,
                   let next = try await SceneModel.query(on: db).filter(\.$projectId == projectId).filter(\.$index == scene.index + 1).first() {
                    next.start = edited.scenes[scene.index + 1].start; next.clipKey = nil
                    try await next.update(on: db)
                }
                plan = edited
            }
            if scene.hasChanges { try await scene.update(on: db) }
            if let plan {
                project.plan = try Self.encode(plan)
                project.updatedAt = now
                try await project.update(on: db)
            }
            return scene.value
        }
    }

    /// Bumps the scene's variant (a regeneration asks for a new clip); nil when not found.
    public func bumpSceneVariant(projectId: UUID, sceneId: UUID) async throws -> SceneRecord? {
        try await write { db in try await self.bumpSceneVariant(projectId: projectId, sceneId: sceneId, on: db) }
    }

    /// `bumpSceneVariant` in the caller's transaction (`enqueue` bumps only when it creates the job).
    func bumpSceneVariant(projectId: UUID, sceneId: UUID, on db: any Database) async throws -> SceneRecord? {
        // An atomic increment: two regenerations of one scene at once must give two different variants.
        try await lockRow(of: SceneModel.schema, id: sceneId, on: db)
        guard let scene = try await SceneModel.query(on: db).filter(\.$id == sceneId).filter(\.$projectId == projectId).first() else {
            return nil
        }
        scene.variant += 1
        try await scene.update(on: db)
        return scene.value
    }

    /// Records the object key of the scene's newest clip.
    public func setSceneClip(projectId: UUID, index: Int, clipKey: String) async throws {
        try await SceneModel.query(on: db).filter(\.$projectId == projectId).filter(\.$index == index)
            .set(\.$clipKey, to: clipKey).update()
    }

    // MARK: Assets

    /// Stores the asset record as given (the caller sets its id, key and probe results). The project must be the
    /// owner's: otherwise `ReelError(.badInput)`.
    public func createAsset(_ asset: AssetRecord) async throws -> AssetRecord {
        try Self.checkAssetFields(asset)
        guard try await ProjectModel.query(on: db).filter(\.$id == asset.projectId).filter(\.$ownerId == asset.ownerId).first() != nil else {
            throw ReelError(.badInput, "no such project")
        }
        let m = AssetModel()
        m.id = asset.id
        m.set(from: asset)
        m.createdAt = asset.createdAt.seconds
        try await m.create(on: db)
        return m.value
    }

    /// The project's assets, newest first; empty for another user's project.
    public func assets(projectId: UUID, owner: UUID, limit: Int, cursor: String?) async throws -> Page<AssetRecord> {
        let page = try await Self.newestFirst(try AssetModel.query(on: db).filter(\.$projectId == projectId).filter(\.$ownerId == owner), limit: limit, cursor: cursor,
                                            createdAt: \.$createdAt, id: \.$id)
        return Page(items: page.rows.map(\.value), nextCursor: page.nextCursor)
    }

    public func asset(id: UUID, owner: UUID) async throws -> AssetRecord? {
        try await AssetModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner).first()?.value
    }

    /// Replaces the stored record's fields (not its id, project, owner or creation time).
    public func updateAsset(_ asset: AssetRecord) async throws {
        guard let m = try await AssetModel.query(on: db).filter(\.$id == asset.id).filter(\.$ownerId == asset.ownerId).first() else {
            throw ReelError(.badInput, "no such asset")
        }
        try Self.checkAssetFields(asset)
        let project = m.projectId, owner = m.ownerId
        m.set(from: asset)
        m.projectId = project; m.ownerId = owner
        if m.hasChanges { try await m.update(on: db) }
    }

    /// Deletes the asset and returns what it was (so the caller deletes its object); nil when not found. A project
    /// that named it as its song forgets it.
    public func deleteAsset(id: UUID, owner: UUID) async throws -> AssetRecord? {
        try await write { db -> AssetRecord? in
            guard let m = try await AssetModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner).first() else { return nil }
            let value = m.value
            try await ProjectModel.query(on: db).filter(\.$id == m.projectId).filter(\.$audioAssetId == id)
                .set(\.$audioAssetId, to: nil).update()
            try await m.delete(on: db)
            return value
        }
    }

    /// Marks a pending direct upload ready with what validation found (`ready`'s key, type, size, probe results,
    /// hash); false when it is no longer pending (completed by another request, or swept): the caller then removes
    /// what it stored.
    public func completePendingAsset(_ ready: AssetRecord) async throws -> Bool {
        try Self.checkAssetFields(ready)
        let postgres = database.isPostgres
        return try await write { db -> Bool in
            guard let m = try await Self.lockedPendingAsset(ready.id, owner: ready.ownerId, on: db, postgres: postgres) else { return false }
            let project = m.projectId, owner = m.ownerId
            m.set(from: ready)
            m.projectId = project; m.ownerId = owner
            try await m.update(on: db)
            return true
        }
    }

    /// Direct uploads still pending that were started before `date` (their URLs have expired unused or the client
    /// never completed them), oldest first, at most `limit`.
    public func pendingAssets(createdBefore date: Date, limit: Int) async throws -> [AssetRecord] {
        try await AssetModel.query(on: db).filter(\.$status == "pending").filter(\.$createdAt < date.seconds)
            .sort(\.$createdAt).sort(\.$id).limit(limit).all().map(\.value)
    }

    /// Deletes a direct upload's record if it is still pending; false when it was completed (or is gone) meanwhile.
    public func deletePendingAsset(id: UUID, owner: UUID) async throws -> Bool {
        let postgres = database.isPostgres
        return try await write { db -> Bool in
            guard let m = try await Self.lockedPendingAsset(id, owner: owner, on: db, postgres: postgres) else { return false }
            try await ProjectModel.query(on: db).filter(\.$id == m.projectId).filter(\.$audioAssetId == id)
                .set(\.$audioAssetId, to: nil).update()
            try await m.delete(on: db)
            return true
        }
    }

    /// Inside `write`: the asset's row if it is still pending, locked on PostgreSQL (SQLite's writer lock is already
    /// held), so a completion and a sweep of the same upload cannot both go ahead.
    static func lockedPendingAsset(_ id: UUID, owner: UUID, on db: any Database, postgres: Bool) async throws -> AssetModel? {
        if postgres {
            try await (db as! any SQLDatabase).raw("SELECT id FROM assets WHERE id = \(bind: id) FOR UPDATE").run()
        }
        return try await AssetModel.query(on: db).filter(\.$id == id).filter(\.$ownerId == owner)
            .filter(\.$status == "pending").first()
    }

    /// The project's song: the asset it names if that is a ready audio asset, else its newest ready audio asset.
    public func projectSong(projectId: UUID) async throws -> AssetRecord? {
        if let project = try await ProjectModel.find(projectId, on: db), let chosen = project.audioAssetId,
           let a = try await AssetModel.query(on: db).filter(\.$id == chosen).filter(\.$projectId == projectId)
            .filter(\.$kind == AssetKind.audio.rawValue).filter(\.$status == "ready").first() {
            return a.value
        }
        return try await AssetModel.query(on: db).filter(\.$projectId == projectId).filter(\.$kind == AssetKind.audio.rawValue)
            .filter(\.$status == "ready").sort(\.$createdAt, .descending).sort(\.$id, .descending).first()?.value
    }

    /// The project's ready images and videos, oldest first.
    public func projectMedia(projectId: UUID) async throws -> [AssetRecord] {
        try await AssetModel.query(on: db).filter(\.$projectId == projectId)
            .filter(\.$kind ~~ [AssetKind.image.rawValue, AssetKind.video.rawValue]).filter(\.$status == "ready")
            .sort(\.$createdAt).sort(\.$id).all().map(\.value)
    }
}
