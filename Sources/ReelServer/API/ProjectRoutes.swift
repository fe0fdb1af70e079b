import Foundation
import ReelCore
import ReelProviders
import ReelStore
import Vapor

/// Limits on text fields; the OpenAPI document states the same numbers.
enum TextLimits {
    static let prompt = 2000
    static let name = 200
    static let shortText = 500
    /// JSON Schema counts code points, so we do too (not Swift's grapheme clusters).
    static func length(_ s: String) -> Int { s.unicodeScalars.count }
}

/// The Brief fields of a project as a request states them: every field optional (a PATCH), `null` refused.
struct ProjectInput: Decodable, Sendable {
    var name: String?
    var prompt: String?
    var category: String?
    var duration: Double?
    var aspectRatio: String?
    var style: String?
    var mood: String?
    var preset: String?
    var mode: String?
    var seed: UInt64?
    var audioAssetId: UUID?

    enum Keys: String, CodingKey {
        case name, prompt, category, duration, aspectRatio, style, mood, preset, mode, seed, audioAssetId
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        func field<T: Decodable & Sendable>(_ key: Keys, _ type: T.Type) throws -> T? {
            switch try c.decodePatch(T.self, forKey: key) {
            case .absent: return nil
            case .null: throw Problem.badRequest("'\(key.rawValue)' may not be null: leave it out to keep the current value")
            case .value(let v): return v
            }
        }
        name = try field(.name, String.self)
        prompt = try field(.prompt, String.self)
        category = try field(.category, String.self)
        duration = try field(.duration, Double.self)
        aspectRatio = try field(.aspectRatio, String.self)
        style = try field(.style, String.self)
        mood = try field(.mood, String.self)
        preset = try field(.preset, String.self)
        mode = try field(.mode, String.self)
        seed = try field(.seed, UInt64.self)
        audioAssetId = try field(.audioAssetId, UUID.self)
    }

    /// Checks every field and converts it to the store's patch; `creating` requires a prompt. A video is at most
    /// `maxVideoSeconds` long.
    func validated(creating: Bool, maxVideoSeconds: Double = ServiceLimits().maxVideoSeconds) throws -> ProjectFields {
        func text(_ value: String?, _ key: String, max: Int, nonBlank: Bool = false) throws -> String? {
            guard let value else { return nil }
            guard !value.unicodeScalars.contains("\u{0}") else { throw Problem.invalid("'\(key)' may not contain NUL characters") }
            guard TextLimits.length(value) <= max else { throw Problem.invalid("'\(key)' is longer than \(max) characters") }
            if nonBlank, value.allSatisfy(\.isWhitespace) { throw Problem.invalid("'\(key)' may not be empty") }
            return value
        }
        func choice<E: RawRepresentable & CaseIterable>(_ value: String?, _ key: String, _ type: E.Type) throws -> E? where E.RawValue == String {
            guard let value else { return nil }
            guard let e = E(rawValue: value) else {
                throw Problem.invalid("'\(key)' must be one of \(E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))")
            }
            return e
        }
        if creating, prompt == nil { throw Problem.invalid("'prompt' is required") }
        var fields = ProjectFields()
        fields.prompt = try text(prompt, "prompt", max: TextLimits.prompt, nonBlank: true)
        fields.name = try text(name, "name", max: TextLimits.name, nonBlank: true)
        fields.style = try text(style, "style", max: TextLimits.shortText)
        fields.mood = try text(mood, "mood", max: TextLimits.shortText)
        fields.category = try choice(category, "category", ReelCore.Category.self)
        fields.aspectRatio = try choice(aspectRatio, "aspectRatio", AspectRatio.self)
        fields.preset = try choice(preset, "preset", Preset.self)
        fields.mode = try choice(mode, "mode", Mode.self)
        if let duration {
            guard duration.isFinite, duration >= 1, duration <= maxVideoSeconds else {
                throw Problem.invalid(String(format: "'duration' must be from 1 to %g seconds", maxVideoSeconds))
            }
            fields.duration = duration
        }
        if let seed {
            // Larger seeds do not survive a JavaScript client's numbers.
            guard seed <= 9_007_199_254_740_991 else { throw Problem.invalid("'seed' must be from 0 to 9007199254740991") }
            fields.seed = seed
        }
        fields.audioAssetId = audioAssetId
        return fields
    }
}

/// `PATCH /api/projects/{id}/scenes/{sceneId}`.
struct SceneInput: Decodable, Sendable {
    var prompt: String?
    var duration: Double?
    var locked: Bool?
    enum Keys: String, CodingKey { case prompt, duration, locked }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        func field<T: Decodable & Sendable>(_ key: Keys, _ type: T.Type) throws -> T? {
            switch try c.decodePatch(T.self, forKey: key) {
            case .absent: return nil
            case .null: throw Problem.badRequest("'\(key.rawValue)' may not be null")
            case .value(let v): return v
            }
        }
        prompt = try field(.prompt, String.self)
        duration = try field(.duration, Double.self)
        locked = try field(.locked, Bool.self)
    }
}

/// `POST /api/projects/{id}/generate` (optional body).
struct GenerateInput: Decodable, Sendable {
    var budget: Double?
    enum Keys: String, CodingKey { case budget }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decodePatch(Double.self, forKey: .budget) {
        case .absent: budget = nil
        case .null: throw Problem.badRequest("'budget' may not be null")
        case .value(let v):
            guard v.isFinite, v >= 0, v <= 1_000_000 else { throw Problem.invalid("'budget' must be from 0 to 1000000 USD") }
            budget = v
        }
    }
}

extension APIRoutes {
    func registerProjects(_ api: any RoutesBuilder) {
        api.post("projects") { req in try await createProject(req) }
        api.get("projects") { req in try await listProjects(req) }
        api.get("projects", ":projectId") { req in try APIJSON.response(ProjectJSON(try await ownedProject(req))) }
        api.patch("projects", ":projectId") { req in try await updateProject(req) }
        api.delete("projects", ":projectId") { req in try await deleteProject(req) }
        api.get("projects", ":projectId", "scenes") { req in try await listScenes(req) }
        api.patch("projects", ":projectId", "scenes", ":sceneId") { req in try await updateScene(req) }
        api.post("projects", ":projectId", "generate") { req in try await generate(req) }
        api.post("projects", ":projectId", "scenes", ":sceneId", "regenerate") { req in try await regenerate(req) }
        api.get("projects", ":projectId", "costs") { req in try await costs(req) }
        api.get("projects", ":projectId", "storyboard.png") { req in try await storyboard(req) }
    }

    /// The length a project asks for by its prompt's words ("a 60 minutes video") is held to the same cap as its
    /// `duration` field, unless the field (which wins over the words) is set.
    func checkRequestedLength(prompt: String, duration: Double?) throws {
        let cap = services.limits.maxVideoSeconds
        guard duration == nil, let asked = PromptParser.requestedDuration(in: prompt), asked > cap else { return }
        throw Problem.invalid(String(format: "the prompt asks for a %g-second video; videos are at most %g seconds: ask for less, or set 'duration'", asked, cap))
    }

    func createProject(_ req: Request) async throws -> Response {
        let user = try req.user
        var fields = try APIJSON.decode(ProjectInput.self, from: req).validated(creating: true, maxVideoSeconds: services.limits.maxVideoSeconds)
        try checkRequestedLength(prompt: fields.prompt ?? "", duration: fields.duration)
        if let songId = fields.audioAssetId {
            // A new project has no assets yet, so no asset can be its song.
            _ = songId
            throw Problem.invalid("'audioAssetId' must name an audio asset of this project; upload it first, then PATCH the project")
        }
        if fields.name == nil, let prompt = fields.prompt {
            let trimmed = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
            fields.name = String(trimmed.unicodeScalars.prefix(60).map(Character.init))
        }
        let project = try await store.createProject(owner: user.id, fields: fields)
        return try APIJSON.response(ProjectJSON(project), status: .created,
                                    headers: ["Location": "/api/projects/\(project.id.uuidString)"])
    }

    func listProjects(_ req: Request) async throws -> Response {
        let user = try req.user
        let (limit, cursor) = try req.pageQuery()
        let page = try await store.projects(owner: user.id, limit: limit, cursor: cursor)
        return try APIJSON.response(PageJSON(items: page.items.map(ProjectJSON.init), nextCursor: page.nextCursor))
    }

    func updateProject(_ req: Request) async throws -> Response {
        let user = try req.user
        let project = try await ownedProject(req)
        let fields = try APIJSON.decode(ProjectInput.self, from: req).validated(creating: false, maxVideoSeconds: services.limits.maxVideoSeconds)
        try checkRequestedLength(prompt: fields.prompt ?? project.prompt, duration: fields.duration ?? project.duration)
        if let songId = fields.audioAssetId {
            guard let asset = try await store.asset(id: songId, owner: user.id), asset.projectId == project.id,
                  asset.kind == .audio, asset.status == "ready" else {
                throw Problem.invalid("'audioAssetId' must name a ready audio asset of this project")
            }
        }
        guard let updated = try await store.updateProject(id: project.id, owner: user.id, fields: fields) else {
            throw Problem.notFound("the project")
        }
        return try APIJSON.response(ProjectJSON(updated))
    }

    /// Deletes the project. A running job is canceled first and its worker given `projectDeleteWait` to stop it (and
    /// record what it spent); the rows and then the stored files go once it has.
    func deleteProject(_ req: Request) async throws -> Response {
        let user = try req.user
        let id = try req.id("projectId", "the project")
        let deadline = ContinuousClock.now + services.limits.projectDeleteWait
        var deleted: [String]?
        while deleted == nil {
            do {
                guard let keys = try await store.deleteProject(id: id, owner: user.id) else { throw Problem.notFound("the project") }
                deleted = keys
            } catch let running as ProjectJobsRunning {
                // Its worker notices the cancel at its next lease renewal (a dead worker's lease runs out): ask again.
                guard ContinuousClock.now < deadline else {
                    throw Problem(.conflict, "jobs-running",
                                  "\(running.count == 1 ? "a job of the project is" : "\(running.count) jobs of the project are") still stopping after being canceled; try again in a few seconds",
                                  headers: ["Retry-After": "5"])
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let keys = deleted ?? []
        // The rows are gone; an object that fails to delete is logged and left for an operator, not an error to the user.
        for key in keys {
            do { try await services.objects.delete(key) } catch {
                req.logger.warning("could not delete object \(key) of deleted project \(id): \(error)")
            }
        }
        return Response(status: .noContent)
    }

    func listScenes(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let scenes = try await store.scenes(projectId: project.id)
        return try APIJSON.response(PageJSON(items: scenes.map(SceneJSON.init), nextCursor: nil))
    }

    func updateScene(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let sceneId = try req.id("sceneId", "the scene")
        let input = try APIJSON.decode(SceneInput.self, from: req)
        if let prompt = input.prompt {
            guard !prompt.unicodeScalars.contains("\u{0}"), !prompt.allSatisfy(\.isWhitespace),
                  TextLimits.length(prompt) <= TextLimits.prompt else {
                throw Problem.invalid("'prompt' must be 1 to \(TextLimits.prompt) characters, not blank, without NUL")
            }
        }
        if let duration = input.duration {
            guard duration.isFinite, duration >= 0.5, duration <= 600 else { throw Problem.invalid("'duration' must be from 0.5 to 600 seconds") }
        }
        guard let scene = try await store.updateScene(projectId: project.id, sceneId: sceneId, prompt: input.prompt,
                                                      duration: input.duration, locked: input.locked) else {
            throw Problem.notFound("the scene")
        }
        return try APIJSON.response(SceneJSON(scene))
    }

    func generate(_ req: Request) async throws -> Response {
        let user = try req.user
        let project = try await ownedProject(req)
        let input = try APIJSON.decode(GenerateInput.self, from: req, emptyIsEmptyObject: true)
        let job = JobRecord(projectId: project.id, userId: user.id, kind: .generate,
                            etaSeconds: try await estimate(project), parameters: JobParameters(budget: input.budget))
        return try await start(job, user: user, req: req)
    }

    func regenerate(_ req: Request) async throws -> Response {
        let user = try req.user
        let project = try await ownedProject(req)
        let sceneId = try req.id("sceneId", "the scene")
        guard let scene = try await store.scenes(projectId: project.id).first(where: { $0.id == sceneId }) else {
            throw Problem.notFound("the scene")
        }
        let input = try APIJSON.decode(GenerateInput.self, from: req, emptyIsEmptyObject: true)
        let job = JobRecord(projectId: project.id, userId: user.id, kind: .regenerateScene,
                            parameters: JobParameters(sceneIndex: scene.index, budget: input.budget))
        // The new variant is written with the job, only when the job is created (not when the limit refuses it, nor
        // for a replayed Idempotency-Key), and is in place before a worker can claim the job.
        return try await start(job, user: user, req: req, bumpingVariantOf: sceneId)
    }

    /// Enqueues paid work after the budget and concurrency checks; answers 202 with the job. `bumpingVariantOf`: the
    /// scene a regeneration makes again, whose variant the enqueue bumps.
    func start(_ job: JobRecord, user: User, req: Request, bumpingVariantOf sceneId: UUID? = nil) async throws -> Response {
        let idempotencyKey = try req.idempotencyKey()
        // A replay gets the job its key started, whatever the limits say now.
        if let key = idempotencyKey, let existing = try await store.job(idempotencyKey: key, userId: user.id) {
            return try APIJSON.response(JobJSON(existing), status: .accepted,
                                        headers: ["Location": "/api/jobs/\(existing.id.uuidString)", "Idempotent-Replayed": "true"])
        }
        if let budget = user.budget {
            let spent = try await store.spent(userId: user.id)
            if spent >= budget {
                throw Problem(.paymentRequired, "budget-exceeded",
                              String(format: "the spending budget of %.2f USD is used up (%.2f USD spent)", budget, spent))
            }
        }
        // A quick look first, sparing the write; the enqueue counts again in its own transaction, which is what holds
        // when requests come at once.
        let active = try await store.activeJobCount(userId: user.id)
        if active >= user.maxConcurrentJobs { throw tooManyJobs(TooManyJobs(active: active, limit: user.maxConcurrentJobs)) }
        let stored: JobRecord, created: Bool
        do {
            (stored, created) = try await store.enqueue(job, idempotencyKey: idempotencyKey, maxActiveJobs: user.maxConcurrentJobs,
                                                        bumpingVariantOf: sceneId)
        } catch let refused as TooManyJobs {
            throw tooManyJobs(refused)
        }
        if created {
            runtime.metrics.count("jobs_enqueued", help: "Jobs enqueued through the API, by kind", labels: [("kind", stored.kind.rawValue)])
        }
        var headers: HTTPHeaders = ["Location": "/api/jobs/\(stored.id.uuidString)"]
        if !created { headers.add(name: "Idempotent-Replayed", value: "true") }
        return try APIJSON.response(JobJSON(stored), status: .accepted, headers: headers)
    }

    func tooManyJobs(_ refused: TooManyJobs) -> Problem {
        Problem(.tooManyRequests, "too-many-jobs", "\(refused.active) jobs are queued or running; at most \(refused.limit) at once",
                headers: ["Retry-After": String(services.limits.concurrentJobRetryAfter)])
    }

    /// ETA of a new job from past timings (seconds of work per second of video, by stage).
    func estimate(_ project: Project) async throws -> Double? {
        let perSecond = try await store.averageStageSeconds()
        guard !perSecond.isEmpty else { return nil }
        return perSecond.values.reduce(0, +) * (project.duration ?? 30)
    }

    /// The project's plan as a storyboard PNG: the plan of its last generate (with edited scene prompts), or, before
    /// one, the plan its settings make without the song's beats. Nothing is generated or paid for.
    func storyboard(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        var plan: Plan
        if let stored = project.plan {
            plan = stored
            for record in try await store.scenes(projectId: project.id) where plan.scenes.indices.contains(record.index) {
                plan.scenes[record.index].prompt = record.prompt
            }
        } else {
            let overrides = PromptParser.Overrides(category: project.category, aspect: project.aspectRatio, preset: project.preset,
                                                   mode: project.mode, style: project.style, mood: project.mood, duration: project.duration)
            let brief = try PromptParser().parse(project.prompt, overrides: overrides)
            let duration = try RulePlanner.videoDuration(requested: brief.duration, songDuration: nil, start: 0)
            plan = RulePlanner().plan(brief: brief, analysis: nil, songStart: 0, duration: duration,
                                      seed: project.seed ?? ContentHash.stableHash64(project.id.uuidString), media: [])
        }
        let png = try Animatic.storyboard(for: plan).png()
        return Response(status: .ok, headers: ["Content-Type": "image/png", "Cache-Control": "no-store"], body: .init(data: png))
    }

    func costs(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let entries = try await store.costs(projectId: project.id)
        return try APIJSON.response(CostsJSON(entries: entries))
    }
}

extension Request {
    /// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
    func idempotencyKey() throws -> String? {
        guard let key = headers.first(name: "Idempotency-Key") else { return nil }
        guard !key.isEmpty, key.count <= 200, key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E }) else {
            throw Problem.badRequest("Idempotency-Key must be 1 to 200 visible ASCII characters")
        }
        return key
    }
}

/// `GET /api/projects/{id}/costs`: the entries and their totals by scene, model and kind.
struct CostsJSON: Encodable, Sendable {
    var entries: [CostEntry]

    struct SceneTotal: Encodable { var scene: Int; var cost: Double }
    struct ModelTotal: Encodable { var provider: String; var model: String; var cost: Double }
    struct KindTotal: Encodable { var kind: String; var cost: Double }
    struct Entry: Encodable {
        var e: CostEntry
        enum Keys: String, CodingKey {
            case role, provider, model, scene, kind, units, unit, unitPrice, cost, cacheHit, status, predictionId, at
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(e.role, forKey: .role)
            try c.encode(e.provider, forKey: .provider)
            try c.encode(e.model, forKey: .model)
            try c.encode(e.scene, forKey: .scene)
            try c.encode(e.kind, forKey: .kind)
            try c.encode(e.units, forKey: .units)
            try c.encode(e.unit, forKey: .unit)
            try c.encode(e.unitPrice, forKey: .unitPrice)
            try c.encode(e.cost, forKey: .cost)
            try c.encode(e.cacheHit, forKey: .cacheHit)
            try c.encode(e.status, forKey: .status)
            try c.encode(e.predictionId, forKey: .predictionId)
            try c.encode(e.at, forKey: .at)
        }
    }
    enum Keys: String, CodingKey { case currency, total, byScene, byModel, byKind, entries }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        let ledger = CostLedger(entries: entries)
        try c.encode("USD", forKey: .currency)
        try c.encode(ledger.total, forKey: .total)
        try c.encode(ledger.byScene.sorted { $0.key < $1.key }.map { SceneTotal(scene: $0.key, cost: $0.value) }, forKey: .byScene)
        var models: [String: ModelTotal] = [:]
        var kinds: [String: Double] = [:]
        for e in entries {
            models["\(e.provider)\u{1}\(e.model)", default: ModelTotal(provider: e.provider, model: e.model, cost: 0)].cost += e.cost
            kinds[e.kind ?? "other", default: 0] += e.cost
        }
        try c.encode(models.values.sorted { ($0.provider, $0.model) < ($1.provider, $1.model) }
                        .map { ModelTotal(provider: $0.provider, model: $0.model, cost: CostLedger.round($0.cost)) }, forKey: .byModel)
        try c.encode(kinds.sorted { $0.key < $1.key }.map { KindTotal(kind: $0.key, cost: CostLedger.round($0.value)) }, forKey: .byKind)
        try c.encode(entries.map(Entry.init), forKey: .entries)
    }
}
