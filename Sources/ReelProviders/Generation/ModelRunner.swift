import Foundation
import ReelCore
import Synchronization

/// What Reelsmith asks of a role, in its own words; `ModelRunner` maps it onto each model's inputs.
public struct ModelRequest: Sendable {
    public var role: Role
    /// The scene the call is for (ledger grouping), nil for whole-video calls.
    public var scene: Int?
    public var prompt: String
    public var negativePrompt: String?
    public var firstFrame: String?
    public var lastFrame: String?
    /// Seconds of media wanted (a scene's length); the model's nearest offered length is asked for.
    public var duration: Double?
    public var aspect: AspectRatio?
    public var preset: Preset
    public var seed: UInt64

    public init(role: Role, scene: Int?, prompt: String, negativePrompt: String? = nil, firstFrame: String? = nil,
                lastFrame: String? = nil, duration: Double? = nil, aspect: AspectRatio? = nil, preset: Preset, seed: UInt64) {
        self.role = role; self.scene = scene; self.prompt = prompt; self.negativePrompt = negativePrompt
        self.firstFrame = firstFrame; self.lastFrame = lastFrame; self.duration = duration; self.aspect = aspect
        self.preset = preset; self.seed = seed
    }
}

/// What a role produced: local files (inside the generation cache, or a scratch folder with the cache off).
public struct ModelOutput: Sendable {
    public var files: [String]
    public var text: String?
    public var entry: ModelEntry
    public var cost: CostEntry
}

/// A registry entry with the backend that runs it.
public struct RoutedEntry: Sendable {
    public var entry: ModelEntry
    public var backend: any PredictionBackend
    public init(entry: ModelEntry, backend: any PredictionBackend) { self.entry = entry; self.backend = backend }
}

/// Runs a role: walks its fallback chain, serves repeats from the generation cache, holds calls to the budget,
/// follows predictions a killed run left in flight, and meters every call. With a shared tier (a service's machines),
/// what another machine made or left in flight counts as this machine's own.
public struct ModelRunner: Sendable {
    let chains: [Role: [RoutedEntry]]
    let cache: GenerationCache?
    /// The generations and in-flight journal every machine of a service sees; nil for a single machine.
    let shared: (any SharedGenerations)?
    /// False with `--no-cache`: never answer from the cache, nor store in it.
    let useCache: Bool
    let meter: CostMeter
    let schemas: SchemaBook
    let scratch: String
    let warn: @Sendable (String) -> Void
    /// Attempts on one model for a prediction that failed or answered unusable output, before the next model.
    let attemptsPerModel: Int

    public init(chains: [Role: [RoutedEntry]], cache: GenerationCache?, useCache: Bool, meter: CostMeter, scratch: String,
                attemptsPerModel: Int = 2, shared: (any SharedGenerations)? = nil, warn: @escaping @Sendable (String) -> Void) {
        self.chains = chains; self.cache = cache; self.shared = shared; self.useCache = useCache; self.meter = meter
        self.schemas = SchemaBook(warn: warn); self.scratch = scratch; self.warn = warn
        self.attemptsPerModel = max(1, attemptsPerModel)
    }

    /// True when some model can fill the role.
    public func fills(_ role: Role) -> Bool { !(chains[role] ?? []).isEmpty }

    /// The first model of a role's chain (what a plan names and an estimate prices).
    public func primary(_ role: Role) -> ModelEntry? { chains[role]?.first?.entry }

    public func run(_ request: ModelRequest) async throws -> ModelOutput {
        let chain = chains[request.role] ?? []
        guard !chain.isEmpty else { throw ReelError(.providerUnavailable, "no model is configured for the role \(request.role.rawValue)") }
        if useCache, let hit = await cachedResult(request) { return hit }
        if useCache, let hit = await sharedResult(request) { return hit }
        var failures: [String] = []
        for (position, routed) in chain.enumerated() {
            let entry = routed.entry
            if entry.capabilities.firstFrameRequired == true, request.firstFrame == nil {
                failures.append("\(entry.model): needs a first frame"); continue
            }
            let fit: InputFit?
            do { fit = try await schemas.fit(entry, backend: routed.backend) } catch let e as ReelError where Self.fallsBack(e) {
                failures.append("\(entry.model): \(e.message)"); continue
            }
            guard let fit else { failures.append("\(entry.model): its inputs no longer match the registry"); continue }
            for attempt in 1...attemptsPerModel {
                do {
                    return try await attemptCall(request, routed: routed, fit: fit)
                } catch let e as ReelError where Self.fallsBack(e) {
                    failures.append("\(entry.model): \(e.message)")
                    let again = attempt < attemptsPerModel && (e.code == .providerFailed || e.code == .outputLost)
                    let next = chain.indices.contains(position + 1) ? chain[position + 1].entry.model : nil
                    if again {
                        warn("\(request.role.rawValue) on \(entry.model) failed (\(e.message)); trying it once more")
                        continue
                    }
                    if let next { warn("\(request.role.rawValue): \(entry.model) failed (\(e.message)); falling back to \(next)") }
                    break
                }
            }
        }
        throw ReelError(.providerFailed, "every model for \(request.role.rawValue)\(request.scene.map { " (scene \($0))" } ?? "") failed: " + failures.joined(separator: "; "))
    }

    /// A result any model of the chain already made for this request (a fallback's result from an earlier run is as
    /// good as paying the primary again).
    func findCached(_ request: ModelRequest) async -> (entry: ModelEntry, built: BuiltInput, hit: GenerationCache.Hit)? {
        guard let cache else { return nil }
        for routed in chains[request.role] ?? [] {
            guard let fit = (try? await schemas.fit(routed.entry, backend: routed.backend)) ?? nil else { continue }
            let built = fit.inputs(for: request, entry: routed.entry)
            if let key = try? fit.cacheKey(routed.entry, built, seed: request.seed), let hit = cache.lookup(key) { return (routed.entry, built, hit) }
        }
        return nil
    }

    /// `findCached`, metered as a cache hit.
    func cachedResult(_ request: ModelRequest) async -> ModelOutput? {
        guard let (entry, built, hit) = await findCached(request) else { return nil }
        return await hitOutput(request, entry: entry, built: built, hit: hit)
    }

    /// A result another machine made for this request with any model of the chain (like `findCached`), copied into the
    /// local cache and metered as a cache hit. An unreadable tier is only a miss here: `attemptCall` reads the
    /// in-flight journals and asks again before anything is paid.
    func sharedResult(_ request: ModelRequest) async -> ModelOutput? {
        guard let shared, let cache else { return nil }
        var failure: (any Error)?
        for routed in chains[request.role] ?? [] {
            guard let fit = (try? await schemas.fit(routed.entry, backend: routed.backend)) ?? nil else { continue }
            let built = fit.inputs(for: request, entry: routed.entry)
            guard let key = try? fit.cacheKey(routed.entry, built, seed: request.seed) else { continue }
            switch await Self.askShared({ try await shared.fetch(key: key, into: cache) }) {
            case .success(let hit?): return await hitOutput(request, entry: routed.entry, built: built, hit: hit)
            case .success(nil): continue
            case .failure(let error): failure = failure ?? error
            }
        }
        if let failure, !Task.isCancelled {
            warn("the shared generation cache could not be read for \(request.role.rawValue) (\(Self.describe(failure))); looking for predictions in flight before paying")
        }
        return nil
    }

    /// One read of the shared tier, asked once more after a short pause: a database or network hiccup at the wrong
    /// moment would otherwise become a second payment.
    static func askShared<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch {
            if error is CancellationError || Task.isCancelled { return .failure(error) }
            try? await Task.sleep(for: .milliseconds(250))
            do { return .success(try await body()) } catch { return .failure(error) }
        }
    }

    static func describe(_ error: any Error) -> String { (error as? ReelError)?.message ?? String(describing: error) }

    /// A stored generation as this request's output, metered as a cache hit ($0).
    func hitOutput(_ request: ModelRequest, entry: ModelEntry, built: BuiltInput, hit: GenerationCache.Hit) async -> ModelOutput {
        let cost = CostEntry(role: request.role.rawValue, provider: entry.provider.rawValue, model: entry.model, scene: request.scene,
                             units: built.units, unit: entry.price.unit, unitPrice: built.unitPrice, cacheHit: true,
                             predictionId: hit.record.predictionId, at: Date(), kind: entry.output.rawValue, status: "succeeded")
        await meter.record(cost)
        return ModelOutput(files: hit.files, text: hit.record.text, entry: entry, cost: cost)
    }

    /// Errors after which the next model is worth trying; credentials, budget and cancellation end the run.
    static func fallsBack(_ e: ReelError) -> Bool {
        [.providerFailed, .providerUnavailable, .providerRejected, .outputLost].contains(e.code)
    }

    func attemptCall(_ request: ModelRequest, routed: RoutedEntry, fit: InputFit) async throws -> ModelOutput {
        let entry = routed.entry
        let built = fit.inputs(for: request, entry: entry)
        let key = try fit.cacheKey(entry, built, seed: request.seed)
        let kind = entry.output.rawValue
        let what = "\(request.role.rawValue) on \(entry.model)" + (request.scene.map { " for scene \($0)" } ?? "")
        let outputDir = (scratch as NSString).appendingPathComponent("call-\(key.prefix(16))-\(UUID().uuidString.prefix(6))")

        // What earlier attempts left for this exact call: on this machine, or (shared tier) on any other.
        var previous = cache?.inFlight(key)
        var fromElsewhere = false
        if previous == nil, let shared {
            switch await Self.askShared({ try await shared.inFlight(key: key) }) {
            case .success(let noted): previous = noted; fromElsewhere = noted != nil
            case .failure(let error):
                if Task.isCancelled { throw CancellationError() }
                warn("the shared journal of predictions in flight could not be read for \(what) (\(Self.describe(error))); a prediction another machine created for it before it stopped would be paid again")
            }
        }
        // With nothing in flight anywhere, the shared cache is asked again and its answer decides. Another machine may
        // have finished this call since `run` asked: it shares a result before it clears its in-flight note, so a
        // result finished before the journal was read is seen now. A tier that still cannot be read is treated as a
        // miss only here, where no prediction is noted in flight (one that is noted is followed, which is free):
        // the shared tier must never fail a run, and the warning says what the payment may repeat.
        if previous == nil, useCache, let cache, let shared {
            switch await Self.askShared({ try await shared.fetch(key: key, into: cache) }) {
            case .success(let hit?): return await hitOutput(request, entry: entry, built: built, hit: hit)
            case .success(nil): break
            case .failure(let error):
                if Task.isCancelled { throw CancellationError() }
                warn("the shared generation cache could not be read for \(what) (\(Self.describe(error))) and no prediction is noted in flight for it: making it here, which may repeat a generation another machine made")
            }
        }

        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let reservation: CostMeter.Reservation
        do { reservation = try await meter.reserve(built.estimate, for: what) } catch {
            try? FileManager.default.removeItem(atPath: outputDir)
            throw error
        }
        let journal = InFlightJournal(cache: cache, shared: shared, key: key, provider: entry.provider, model: entry.model,
                                      since: previous?.sentAt, warn: warn)
        // A create another machine sent without learning its id is looked for over a wider window: that machine's
        // clock is not this one's, and a wider window costs only a longer list.
        let mayExistSince = previous.flatMap { $0.predictionId == nil ? $0.sentAt.addingTimeInterval(fromElsewhere ? -Self.otherClockSlack : 0) : nil }
        let call = PredictionCall(model: entry.model, input: built.input, files: built.files, expectedOutput: entry.output,
                                  outputDirectory: outputDir, resumeId: previous?.predictionId, mayExistSince: mayExistSince)
        let result: PredictionResult
        do {
            result = try await routed.backend.run(call, observer: journal)
        } catch {
            if let charged = error as? ChargedCancellation {
                // Paid although the run stops: metered at the price asked. Its in-flight note stays, so a run that
                // resumes the job follows it instead of paying again (the store counts one charge per prediction).
                await meter.settle(reservation, with: CostEntry(role: request.role.rawValue, provider: entry.provider.rawValue, model: entry.model,
                                                                scene: request.scene, units: built.units, unit: entry.price.unit,
                                                                unitPrice: built.unitPrice, cacheHit: false, predictionId: charged.predictionId,
                                                                at: Date(), kind: kind, status: "canceled", cost: built.estimate))
                try? FileManager.default.removeItem(atPath: outputDir)
                throw CancellationError()
            }
            if let e = error as? ReelError, e.code == .outputLost {
                // Succeeded and billed, but unusable: the charge is real, so it is metered at the price asked.
                await clearInFlight(key)
                await meter.settle(reservation, with: CostEntry(role: request.role.rawValue, provider: entry.provider.rawValue, model: entry.model,
                                                                scene: request.scene, units: built.units, unit: entry.price.unit,
                                                                unitPrice: built.unitPrice, cacheHit: false, predictionId: journal.predictionId,
                                                                at: Date(), kind: kind, status: "lost", cost: built.estimate))
                try? FileManager.default.removeItem(atPath: outputDir)
                throw error
            }
            await meter.release(reservation)
            if let e = error as? ReelError, e.code == .providerFailed || e.code == .providerRejected {
                // The prediction ended; nothing is left to follow. Record the failed call (providers bill on success).
                await clearInFlight(key)
                await meter.record(CostEntry(role: request.role.rawValue, provider: entry.provider.rawValue, model: entry.model,
                                             scene: request.scene, units: 0, unit: entry.price.unit, unitPrice: built.unitPrice,
                                             cacheHit: false, predictionId: journal.predictionId, at: Date(), kind: kind, status: "failed"))
            }
            try? FileManager.default.removeItem(atPath: outputDir)
            throw error
        }
        let cost = Self.cost(of: result, request: request, entry: entry, built: built)
        await meter.settle(reservation, with: cost)
        var files = result.files, text = result.text
        var published = false
        if useCache, let cache {
            let hit = try cache.store(key: key, provider: entry.provider, model: entry.model, result: result)
            files = hit.files; text = hit.record.text
            try? FileManager.default.removeItem(atPath: outputDir)
            published = await share(hit, what: what)
        }
        // Shared before the note is cleared, so that another machine always finds the result or the prediction to
        // follow. When sharing failed, the shared note stays: it names a prediction that succeeded, which a machine
        // resuming this job follows (and downloads while the provider keeps its outputs) instead of paying again.
        cache?.clearInFlight(key)
        if published || !useCache || cache == nil { await clearSharedInFlight(key) }
        return ModelOutput(files: files, text: text, entry: entry, cost: cost)
    }

    /// How far back a create noted by another machine is looked for, beyond the sender's own clock.
    static let otherClockSlack: TimeInterval = 60

    /// Shares a paid result with the other machines; true when it is shared (or there is nothing to share with).
    func share(_ hit: GenerationCache.Hit, what: String) async -> Bool {
        guard let shared else { return true }
        do {
            try await shared.publish(hit)
            return true
        } catch {
            warn("could not share \(what) with the other machines (\(Self.describe(error))); its prediction stays noted in flight for them to follow")
            return false
        }
    }

    /// Forgets a call's in-flight notes, here and on the shared tier.
    func clearInFlight(_ key: String) async {
        cache?.clearInFlight(key)
        await clearSharedInFlight(key)
    }

    /// A shared note left behind costs no money: a machine that follows it finds the prediction ended (and creates
    /// anew, as it would have anyway) or finds the result shared first. So a failure to clear it is not reported.
    func clearSharedInFlight(_ key: String) async {
        try? await shared?.clearInFlight(key: key)
    }

    static func cost(of result: PredictionResult, request: ModelRequest, entry: ModelEntry, built: BuiltInput) -> CostEntry {
        let common = (role: request.role.rawValue, provider: entry.provider.rawValue, model: entry.model)
        if entry.price.unit == "token" {
            let input = result.metrics["input_token_count"]?.intValue ?? 0
            let output = result.metrics["output_token_count"]?.intValue ?? 0
            let total = entry.price.tokenCost(input: input, output: output)
            return CostEntry(role: common.role, provider: common.provider, model: common.model, scene: request.scene,
                             units: Double(input + output), unit: "token", unitPrice: input + output > 0 ? total / Double(input + output) : 0,
                             cacheHit: false, predictionId: result.id, at: Date(), kind: entry.output.rawValue, status: "succeeded",
                             cost: total, inputTokens: input, outputTokens: output)
        }
        var units = built.units
        if entry.price.unit == "image" { units = Double(max(1, result.files.count)) }
        if entry.price.unit == "gpu-second" { units = result.metrics["predict_time"]?.doubleValue ?? built.units }
        return CostEntry(role: common.role, provider: common.provider, model: common.model, scene: request.scene, units: units,
                         unit: entry.price.unit, unitPrice: built.unitPrice, cacheHit: false, predictionId: result.id, at: Date(),
                         kind: entry.output.rawValue, status: "succeeded")
    }

    /// Prices a request without running it (for `plan --estimate` and budgets).
    /// Uses the primary model with its inputs fitted to its live schema (reading a schema is free), so a call the cache
    /// holds is recognised as the same call.
    public func estimate(_ request: ModelRequest) async -> (entry: ModelEntry, cost: Double, cached: Bool, cachedFiles: [String])? {
        guard let routed = chains[request.role]?.first else { return nil }
        if useCache, let found = await findCached(request) { return (found.entry, 0, true, found.hit.files) }
        let checked = try? await schemas.fit(routed.entry, backend: routed.backend)
        let fit = (checked ?? nil) ?? InputFit.unchecked(routed.entry)
        let built = fit.inputs(for: request, entry: routed.entry)
        return (routed.entry, built.estimate, false, [])
    }
}

/// Writes a prediction's id to the in-flight journal as soon as the server names it: the local journal first, then
/// the shared one (so another machine resuming the job follows it).
final class InFlightJournal: PredictionObserver, Sendable {
    let cache: GenerationCache?
    let shared: (any SharedGenerations)?
    let key: String
    let provider: ProviderKind
    let model: String
    let warn: @Sendable (String) -> Void
    private let id = Mutex<String?>(nil)
    /// When this call's create was first sent, by this attempt or the earlier one it follows.
    private let sent: Mutex<Date?>

    init(cache: GenerationCache?, shared: (any SharedGenerations)? = nil, key: String, provider: ProviderKind, model: String,
         since: Date? = nil, warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.cache = cache; self.shared = shared; self.key = key; self.provider = provider; self.model = model
        self.sent = Mutex(since); self.warn = warn
    }

    var predictionId: String? { id.withLock { $0 } }

    func created(predictionId: String) async throws {
        id.withLock { $0 = predictionId }
        try cache?.noteInFlight(key, predictionId: predictionId, provider: provider, model: model)
        await share(predictionId: predictionId, sentAt: sent.withLock { $0 } ?? Date())
    }

    func creating(at time: Date) async throws {
        try cache?.noteInFlight(key, predictionId: nil, provider: provider, model: model, sentAt: time)
        let earliest = sent.withLock { s in
            s = min(s ?? time, time)
            return s!
        }
        await share(predictionId: nil, sentAt: earliest)
    }

    /// A shared note that cannot be written does not stop the call: the prediction runs and is noted locally, and only
    /// this machine dying before it finishes would make another machine pay again, which the warning says. (Throwing
    /// here would cancel the prediction and fail the run.)
    private func share(predictionId: String?, sentAt: Date) async {
        guard let shared else { return }
        let entry = GenerationCache.InFlight(predictionId: predictionId, provider: provider, model: model, sentAt: sentAt)
        do { try await shared.noteInFlight(key: key, entry: entry) } catch {
            warn("could not note prediction \(predictionId ?? "(being created)") of \(model) in the shared journal (\(ModelRunner.describe(error))); if this machine stops before it finishes, another one would pay for it again")
        }
    }
}

/// A request mapped onto one model's inputs, with its price.
struct BuiltInput: Sendable {
    var input: [String: JSONValue]
    var files: [String: [String]]
    var duration: Double?
    var units: Double
    var unitPrice: Double
    var estimate: Double
}

/// Which of a registry entry's input names the model really has (read from its live schema), and their allowed values.
struct InputFit: Sendable {
    var names: [String: String]
    var schema: ModelInputSchema?

    static func unchecked(_ entry: ModelEntry) -> InputFit { InputFit(names: entry.inputs, schema: nil) }

    /// The generation cache's key: the model's version as its server publishes it is part of the key, so an updated
    /// model (same name, new version) or another model behind the same Cog URL never serves an old result.
    func cacheKey(_ entry: ModelEntry, _ built: BuiltInput, seed: UInt64) throws -> String {
        let version = schema?.version.map { "@" + $0 } ?? ""
        return try GenerationCache.key(provider: entry.provider, model: entry.model + version, input: built.input, files: built.files, seed: seed)
    }

    func inputs(for request: ModelRequest, entry: ModelEntry) -> BuiltInput {
        var input: [String: JSONValue] = entry.fixed ?? [:]
        var files: [String: [String]] = [:]
        let caps = entry.capabilities
        func set(_ field: String, _ value: JSONValue?) {
            guard let name = names[field], let value else { return }
            input[name] = allowedValue(value, for: name)
        }
        set("prompt", .string(request.prompt))
        set("negativePrompt", request.negativePrompt.map(JSONValue.string))
        if caps.seed != false { set("seed", .number(Double(request.seed % 2_147_483_647))) }
        if let aspect = request.aspect, caps.aspectRatios.map({ $0.contains(aspect.rawValue) }) ?? true {
            set("aspectRatio", .string(aspect.rawValue))
        }
        let resolution = caps.resolutions?[request.preset.rawValue]
        set("resolution", resolution.map(JSONValue.string))
        var duration: Double?
        if let wanted = request.duration {
            duration = caps.duration(toCover: wanted)
            if let d = duration, let name = names["duration"] {
                set("duration", .number(d.rounded() == d ? d : d.rounded(.up)))
                // Meter what is asked for, after the live schema moved it into range.
                duration = input[name]?.doubleValue ?? d
            }
        } else if let first = caps.durations?.first, caps.durations?.count == 1 {
            duration = first
        }
        if request.role.isLLM || entry.output == .text {
            set("maxTokens", .number(2048)); set("temperature", .number(0.2))
        }
        if let first = request.firstFrame, let name = names["firstFrame"], caps.firstFrame != false { files[name] = [first] }
        if let last = request.lastFrame, let name = names["lastFrame"], caps.lastFrame == true { files[name] = [last] }
        for name in files.keys { input[name] = nil }

        let unitPrice = entry.price.unitPrice(resolution: resolution)
        let units: Double
        switch entry.price.unit {
        case "second": units = duration ?? request.duration ?? 5
        case "character": units = Double(request.prompt.count)
        case "token": units = 0
        // Billed by compute time, known only afterwards: reserve a generous minute.
        case "gpu-second": units = 60
        default: units = 1
        }
        let estimate = entry.price.unit == "token"
            ? entry.price.tokenCost(input: request.prompt.count / 4 + 500, output: 2048)
            : units * unitPrice
        return BuiltInput(input: input, files: files, duration: duration, units: units, unitPrice: unitPrice, estimate: estimate)
    }

    /// The value itself when the schema allows it; otherwise the nearest allowed value (numbers, case-insensitive
    /// strings), or nil (the input is left out rather than sent with a value the model refuses).
    func allowedValue(_ value: JSONValue, for name: String) -> JSONValue? {
        guard let property = schema?.properties[name] else { return value }
        var v = value
        if let n = v.doubleValue {
            var x = n
            if property.type == "integer" { x = x.rounded() }
            if let lo = property.minimum { x = max(x, lo) }
            if let hi = property.maximum { x = min(x, hi) }
            v = .number(x)
        }
        guard let allowed = property.allowed, !allowed.isEmpty, !allowed.contains(v) else { return v }
        if let n = v.doubleValue {
            let numbers = allowed.compactMap(\.doubleValue)
            if let best = numbers.filter({ $0 >= n }).min() ?? numbers.max() { return .number(best) }
        }
        if let s = v.stringValue, let match = allowed.first(where: { $0.stringValue?.lowercased() == s.lowercased() }) { return match }
        return nil
    }
}

/// Reads each model's live input schema once per run and checks the registry's input names against it, so a renamed
/// input is caught before anything is paid for.
actor SchemaBook {
    private var fits: [String: InputFit?] = [:]
    /// Reads under way, so scenes starting together wait for one read instead of each making their own.
    private var reading: [String: Task<InputFit?, any Error>] = [:]
    private let warn: @Sendable (String) -> Void
    init(warn: @escaping @Sendable (String) -> Void) { self.warn = warn }

    /// The usable inputs of `entry`, or nil when the model lacks an input it cannot do without.
    func fit(_ entry: ModelEntry, backend: any PredictionBackend) async throws -> InputFit? {
        if let known = fits[entry.label] { return known }
        if let pending = reading[entry.label] { return try await pending.value }
        // An unstructured task so that concurrent callers can share the one read; it only reads a schema.
        let read = Task { try await self.read(entry, backend: backend) }
        reading[entry.label] = read
        defer { reading[entry.label] = nil }
        return try await read.value
    }

    private func read(_ entry: ModelEntry, backend: any PredictionBackend) async throws -> InputFit? {
        let schema: ModelInputSchema
        do {
            schema = try await backend.inputSchema(model: entry.model)
        } catch let e as ReelError where e.code == .providerUnavailable {
            warn("could not read the input schema of \(entry.model) (\(e.message)); using the registry's input names unchecked")
            return InputFit.unchecked(entry)
        }
        var names = entry.inputs
        if !schema.properties.isEmpty {
            for (field, name) in entry.inputs where schema.properties[name] == nil {
                names[field] = nil
                let essential = field == "prompt" || field == "image"
                    || field == "firstFrame" && entry.capabilities.firstFrameRequired == true
                if essential {
                    warn("\(entry.model) has no input '\(name)' (for \(field)) any more; skipping it")
                    fits[entry.label] = .some(nil)
                    return nil
                }
                warn("\(entry.model) has no input '\(name)' (for \(field)); sending the request without it")
            }
            for name in schema.required where !Set(names.values).contains(name) && entry.fixed?[name] == nil {
                warn("\(entry.model) requires the input '\(name)', which the registry does not map; skipping it")
                fits[entry.label] = .some(nil)
                return nil
            }
        }
        var fit = InputFit(names: names, schema: schema.properties.isEmpty ? nil : schema)
        if fit.schema == nil, schema.version != nil { fit.schema = schema }
        fits[entry.label] = .some(fit)
        return fit
    }
}
