import Foundation
import ReelCore
import ReelMedia
import ReelPipeline
import ReelStore

/// A job made ready to run: its pipeline, its request (inputs downloaded to the scratch folder) and what it was made from.
struct Prepared: Sendable {
    var pipeline: ClassicPipeline
    var request: GenerateRequest
    var project: Project
    var song: AssetRecord?
    /// The expected length of the video (for the ETA).
    var videoSeconds: Double
    /// The project's images and clips as downloaded for this run: asset id by file path.
    var mediaAssets: [String: UUID]
    var outcome: GenerateOutcome?
}

extension JobWorker {
    /// Loads the project, downloads its song and media into `scratch`, picks the seed (kept for later attempts), and
    /// builds the run's pipeline with the user's remaining budget as its spending limit. The video is at most
    /// `settings.maxVideoSeconds` long, whatever asks for more (the project's duration, its prompt, its song, its plan).
    func prepare(_ job: JobRecord, scratch: String, progress: any ProgressSink, checkpoints: StoreCheckpoints) async throws -> Prepared {
        guard let project = try await store.project(id: job.projectId, owner: job.userId) else {
            throw ReelError(.badInput, "the project \(job.projectId) no longer exists")
        }
        let fm = FileManager.default
        let inputs = (scratch as NSString).appendingPathComponent("input")
        let mediaDirectory = (inputs as NSString).appendingPathComponent("media")
        let providerScratch = (scratch as NSString).appendingPathComponent("provider")
        for dir in [mediaDirectory, providerScratch, (scratch as NSString).appendingPathComponent("out")] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }

        let song = try await store.projectSong(projectId: project.id)
        var songPath: String?
        if let song {
            let path = (inputs as NSString).appendingPathComponent("song" + Self.fileExtension(song.storageKey))
            try await objects.get(song.storageKey, toFile: path)
            songPath = path
        }
        let media = try await store.projectMedia(projectId: project.id)
        var mediaAssets: [String: UUID] = [:]
        for (i, asset) in media.enumerated() {
            let name = String(format: "%03d-", i) + asset.id.uuidString.lowercased() + Self.fileExtension(asset.storageKey)
            let path = (mediaDirectory as NSString).appendingPathComponent(name)
            try await objects.get(asset.storageKey, toFile: path)
            mediaAssets[path] = asset.id
        }

        let seed: UInt64
        if let projectSeed = project.seed { seed = projectSeed } else {
            seed = try await checkpoints.seed { UInt64.random(in: 0...UInt64(Int64.max)) }
        }
        let duration = cappedDuration(project, song: song, progress: progress)
        let overrides = PromptParser.Overrides(category: project.category, aspect: project.aspectRatio, preset: project.preset,
                                               mode: project.mode, style: project.style, mood: project.mood, duration: duration)
        var request = GenerateRequest(prompt: project.prompt, overrides: overrides, audioPath: songPath,
                                      mediaDirectory: media.isEmpty ? nil : mediaDirectory, start: 0, seed: seed,
                                      output: (scratch as NSString).appendingPathComponent("out/video.mp4"),
                                      workDirectory: (scratch as NSString).appendingPathComponent("clips"))
        var videoSeconds = duration ?? song?.duration ?? RulePlanner.defaultDurationWithoutSong
        let scenes = try await store.scenes(projectId: project.id)
        // A scene made again keeps its variant (its seed) in later runs of the same plan.
        request.sceneVariants = Dictionary(scenes.filter { $0.variant != 0 }.map { ($0.index, $0.variant) }, uniquingKeysWith: max)
        if job.kind == .regenerateScene {
            guard var plan = project.plan else {
                throw ReelError(.badInput, "the project has no plan yet: generate the video before regenerating a scene")
            }
            // Edited prompts of the scene rows win over the stored plan's.
            for record in scenes where plan.scenes.indices.contains(record.index) {
                plan.scenes[record.index].prompt = record.prompt
            }
            if let index = job.parameters.sceneIndex, !plan.scenes.indices.contains(index) {
                throw ReelError(.badInput, "the project's plan has no scene \(index)")
            }
            guard plan.duration <= settings.maxVideoSeconds + 0.05 else {
                throw ReelError(.badPlan, String(format: "the project's plan lasts %.0f s; this service makes videos of at most %.0f s: generate the video again", plan.duration, settings.maxVideoSeconds))
            }
            request.plan = try Self.resolvingMedia(plan, files: Dictionary(mediaAssets.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a }))
            request.seed = plan.seed
            // Locked scenes show the clip they showed last, whatever their checkpoint key.
            let locked = scenes.filter { $0.locked && $0.index != job.parameters.sceneIndex }
            checkpoints.keepLockedClips(Dictionary(locked.compactMap { r in r.clipKey.map { (r.index, $0) } }, uniquingKeysWith: { a, _ in a }))
            videoSeconds = plan.duration
        }

        let user = try await store.user(id: job.userId)
        var budget = job.parameters.budget
        if let limit = user?.budget {
            let remaining = max(0, limit - (try await store.spent(userId: job.userId)))
            budget = min(budget ?? remaining, remaining)
        }
        let pipeline = try makePipeline(progress, budget, providerScratch)
        return Prepared(pipeline: pipeline, request: request, project: project, song: song, videoSeconds: videoSeconds,
                        mediaAssets: mediaAssets)
    }

    /// The length this run asks the planner for: the project's duration, else the length its prompt asks for ("a 60
    /// minutes video"), else (nil) the song's; cut to `settings.maxVideoSeconds`, with a warning, when that is more.
    func cappedDuration(_ project: Project, song: AssetRecord?, progress: any ProgressSink) -> Double? {
        let cap = settings.maxVideoSeconds
        let asked = project.duration ?? PromptParser.requestedDuration(in: project.prompt)
        if let asked {
            guard asked > cap else { return asked }
            progress.report(.warning(String(format: "the project asks for a %.0f s video; this service makes videos of at most %.0f s, so it is %.0f s long", asked, cap, cap)))
            return cap
        }
        if let songSeconds = song?.duration, songSeconds > cap {
            progress.report(.warning(String(format: "the song lasts %.0f s; this service makes videos of at most %.0f s, so the video is its first %.0f s", songSeconds, cap, cap)))
            return cap
        }
        return nil
    }

    /// Stored plans name a user's image or clip `asset:<id>`: a run's scratch paths do not outlive it.
    static let assetScheme = "asset:"

    /// `plan` with each user media path of this run (`mediaAssets`) replaced by its asset reference.
    static func referencingAssets(_ plan: Plan, mediaAssets: [String: UUID]) -> Plan {
        var plan = plan
        for i in plan.scenes.indices {
            guard let media = plan.scenes[i].source.media, !media.hasPrefix(assetScheme) else { continue }
            let id = mediaAssets[media] ?? mediaAssets[(media as NSString).standardizingPath] ?? assetId(inFileName: media)
            // A file of no asset (it cannot happen: the worker downloaded every one) keeps its name only, never its path.
            plan.scenes[i].source.media = id.map { assetScheme + $0.uuidString.lowercased() } ?? (media as NSString).lastPathComponent
        }
        return plan
    }

    /// `plan` with each asset reference replaced by the file this run downloaded for it. Plans stored before references
    /// named the file by a scratch path whose name holds the asset's id: those are found the same way. Throws
    /// `.badPlan` for an asset that no longer exists.
    static func resolvingMedia(_ plan: Plan, files: [UUID: String]) throws -> Plan {
        var plan = plan
        for i in plan.scenes.indices {
            guard let media = plan.scenes[i].source.media else { continue }
            let id = media.hasPrefix(assetScheme) ? UUID(uuidString: String(media.dropFirst(assetScheme.count))) : assetId(inFileName: media)
            guard let id, let path = files[id] else {
                throw ReelError(.badPlan, "scene \(i + 1) shows an image or clip that was deleted from the project: generate the video again")
            }
            plan.scenes[i].source.media = path
        }
        return plan
    }

    /// The asset id in a downloaded file's name (`003-<uuid>.jpg`).
    static func assetId(inFileName path: String) -> UUID? {
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        guard name.count >= 36 else { return nil }
        return UUID(uuidString: String(name.suffix(36)))
    }

    /// Uploads the video, its manifest (paths made storage keys, user media named by asset, warnings cleaned for users)
    /// and a thumbnail under `jobs/<jobId>/`, then stores the plan (media by asset) and the scene clips on the project.
    func storeOutputs(_ job: JobRecord, _ prepared: Prepared, checkpoints: StoreCheckpoints, scratch: String,
                      progress: JobProgress) async throws -> JobOutputs {
        guard let outcome = prepared.outcome else { throw ReelError(.internalError, "the run ended without a video") }
        let outputs = JobOutputs.keys(forJob: job.id)

        let thumbnail = (scratch as NSString).appendingPathComponent("out/thumbnail.jpg")
        let at = min(1.0, max(0, outcome.manifest.video.duration / 2))
        try await runner.ffmpeg(["-ss", String(format: "%.3f", at)] + MediaInput.own(outcome.video).arguments
                                + ["-frames:v", "1", "-q:v", "4", thumbnail],
                                failure: .renderFailed, what: "making the thumbnail", timeout: ProcessDeadline.quick)

        var manifest = outcome.manifest
        manifest.video.path = outputs.video
        // The plan (stored for regenerations, shown to the user) names media by asset, not by this run's scratch path.
        manifest.plan = Self.referencingAssets(manifest.plan, mediaAssets: prepared.mediaAssets)
        // Users download the manifest: its warnings are cleaned like the job's events (no server paths or addresses).
        let messages = userFacing
        manifest.warnings = manifest.warnings.map { messages.message($0) }
        if let song = prepared.song { manifest.audio?.file = song.filename }
        let manifestPath = (scratch as NSString).appendingPathComponent("out/manifest.json")
        try ReelJSON.encoder().encode(manifest).write(to: URL(fileURLWithPath: manifestPath))

        // The video last: a reader that finds it finds the rest.
        try await objects.put(outputs.thumbnail, fromFile: thumbnail, contentType: "image/jpeg")
        try await objects.put(outputs.manifest, fromFile: manifestPath, contentType: "application/json")
        try await objects.put(outputs.video, fromFile: outcome.video, contentType: "video/mp4")

        try await store.setPlan(projectId: job.projectId, plan: manifest.plan)
        for (index, key) in checkpoints.sceneClips.sorted(by: { $0.key < $1.key }) {
            try await store.setSceneClip(projectId: job.projectId, index: index, clipKey: key)
        }
        return outputs
    }

    /// `.mp3` of `assets/x/y.mp3`; empty without one.
    static func fileExtension(_ key: String) -> String {
        let ext = (key as NSString).pathExtension
        return ext.isEmpty ? "" : "." + ext
    }
}
