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
    var outcome: GenerateOutcome?
}

extension JobWorker {
    /// Loads the project, downloads its song and media into `scratch`, picks the seed (kept for later attempts), and
    /// builds the run's pipeline with the user's remaining budget as its spending limit.
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
        for (i, asset) in media.enumerated() {
            let name = String(format: "%03d-", i) + asset.id.uuidString.lowercased() + Self.fileExtension(asset.storageKey)
            try await objects.get(asset.storageKey, toFile: (mediaDirectory as NSString).appendingPathComponent(name))
        }

        let seed: UInt64
        if let projectSeed = project.seed { seed = projectSeed } else {
            seed = try await checkpoints.seed { UInt64.random(in: 0...UInt64(Int64.max)) }
        }
        let overrides = PromptParser.Overrides(category: project.category, aspect: project.aspectRatio, preset: project.preset,
                                               mode: project.mode, style: project.style, mood: project.mood, duration: project.duration)
        var request = GenerateRequest(prompt: project.prompt, overrides: overrides, audioPath: songPath,
                                      mediaDirectory: media.isEmpty ? nil : mediaDirectory, start: 0, seed: seed,
                                      output: (scratch as NSString).appendingPathComponent("out/video.mp4"),
                                      workDirectory: (scratch as NSString).appendingPathComponent("clips"))
        var videoSeconds = project.duration ?? song?.duration ?? RulePlanner.defaultDurationWithoutSong
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
            request.plan = plan
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
        return Prepared(pipeline: pipeline, request: request, project: project, song: song, videoSeconds: videoSeconds)
    }

    /// Uploads the video, its manifest (paths made storage keys) and a thumbnail under `jobs/<jobId>/`, then stores the
    /// plan and the scene clips on the project.
    func storeOutputs(_ job: JobRecord, _ prepared: Prepared, checkpoints: StoreCheckpoints, scratch: String,
                      progress: JobProgress) async throws -> JobOutputs {
        guard let outcome = prepared.outcome else { throw ReelError(.internalError, "the run ended without a video") }
        let prefix = "jobs/\(job.id.uuidString.lowercased())"
        let outputs = JobOutputs(video: "\(prefix)/video.mp4", manifest: "\(prefix)/manifest.json", thumbnail: "\(prefix)/thumbnail.jpg")

        let thumbnail = (scratch as NSString).appendingPathComponent("out/thumbnail.jpg")
        let at = min(1.0, max(0, outcome.manifest.video.duration / 2))
        _ = try await runner.runChecked("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-ss", String(format: "%.3f", at),
                                                   "-i", outcome.video, "-frames:v", "1", "-q:v", "4", thumbnail],
                                        failure: .renderFailed, what: "making the thumbnail")

        var manifest = outcome.manifest
        manifest.video.path = outputs.video
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
