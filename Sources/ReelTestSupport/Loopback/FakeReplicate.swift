import Crypto
import Foundation
import NIOHTTP1
import ReelCore

/// A model served by `FakeReplicate`.
public struct FakeModel: Sendable {
    /// "owner/name"; "deployments/owner/name" registers a deployment of that name instead.
    public var name: String
    /// 64-hex version id, served in `latest_version`.
    public var version: String
    /// The Input schema's `properties` (JSON-Schema objects: `type`, `default`, `enum`, `minimum`, `format: uri`...).
    public var input: [String: JSONValue]
    public var required: [String]
    public var output: FakeOutput
    public var price: FakePrice
    /// flux-schnell style `["url", ...]` instead of one `"url"`.
    public var outputIsArray: Bool

    /// `version` defaults to the SHA-256 (hex) of the name.
    public init(name: String, version: String? = nil, input: [String: JSONValue], required: [String] = [],
                output: FakeOutput, price: FakePrice, outputIsArray: Bool = false) {
        self.name = name
        self.version = version ?? SHA256.hash(data: Data(name.utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        self.input = input
        self.required = required
        self.output = output
        self.price = price
        self.outputIsArray = outputIsArray
    }
}

/// A file uploaded to `FakeReplicate`'s Files API.
public struct FakeUploadedFile: Sendable {
    public var id: String
    public var name: String
    public var contentType: String
    public var data: Data
    public var metadata: JSONValue
    public var createdAt: Date
    public var deleted: Bool
    public var size: Int { data.count }
}

/// A loopback server speaking Replicate's HTTP API (reference/replicate-api.md §2-8, §11): three create endpoints,
/// `Prefer: wait`, a lifecycle on a clock, cancel, list with a `next` cursor, the Files API, models and versions,
/// signed webhooks, output files of real media, and injected faults. It counts everything it did.
public actor FakeReplicate: LoopbackFake {
    /// Give this as REPLICATE_BASE_URL; paths are /v1/...
    public nonisolated let baseURL: String
    private let server: LoopbackServer
    private let token: String
    private let models: [String: FakeModel]
    private let deployments: [String: String]
    private let media = FakeMediaStore()

    private var faults = FaultQueue()
    private var startingSeconds = 0.05
    private var processingSeconds = 0.2
    private var secret: String
    private var store: [String: Prediction] = [:]
    private var order: [String] = []
    private var uploads: [String: FakeUploadedFile] = [:]
    private var uploadOrder: [String] = []
    private var log: [FakeRequestRecord] = []
    private var deliveries: [FakeWebhookDelivery] = []
    private var webhookChains: [String: Task<Void, Never>] = [:]
    private var lifecycles: [String: Task<Void, Never>] = [:]
    private var canceled: [String] = []
    private var peak = 0

    struct Prediction {
        var id: String
        var model: FakeModel
        var modelName: String
        var deployment: String?
        var input: [String: JSONValue]
        var status = "starting"
        var output: JSONValue = .null
        var error: String?
        var logs = ""
        var createdAt = Date()
        var startedAt: Date?
        var completedAt: Date?
        var metrics: [String: JSONValue] = [:]
        var webhook: String?
        var filter: [String]?
        var failWith: String?
        var outputsExpired = false
        var files: [String: (path: String, contentType: String)] = [:]
        var cost = 0.0
        var isTerminal: Bool { ["succeeded", "failed", "canceled", "aborted"].contains(status) }
        var isText: Bool { if case .text = model.output { true } else { false } }
    }

    private init(server: LoopbackServer, token: String, models: [FakeModel], deployments: [String: String]) {
        self.server = server
        self.baseURL = server.baseURL
        self.token = token
        var byName: [String: FakeModel] = [:]
        var deps = deployments
        for m in models {
            if m.name.hasPrefix("deployments/") {
                let dep = String(m.name.dropFirst("deployments/".count))
                var underlying = m
                underlying.name = dep
                byName["deployments/" + dep] = underlying
                deps[dep] = deps[dep] ?? ("deployments/" + dep)
            } else {
                byName[m.name] = m
            }
        }
        self.models = byName
        self.deployments = deps
        var key = [UInt8](repeating: 0, count: 24)
        for i in key.indices { key[i] = UInt8.random(in: 0...255) }
        self.secret = "whsec_" + Data(key).base64EncodedString()
    }

    deinit {
        server.closeNow()
        media.remove()
    }

    /// Starts a fake on 127.0.0.1. `deployments` maps a deployment "owner/name" to a model name (a model named
    /// "deployments/owner/name" is another way to register one).
    public static func start(token: String = "r8_fake_token", models: [FakeModel],
                             deployments: [String: String] = [:]) async throws -> FakeReplicate {
        try await LoopbackServer.start { server in FakeReplicate(server: server, token: token, models: models, deployments: deployments) }
    }

    public func shutdown() async {
        for task in lifecycles.values { task.cancel() }
        for task in webhookChains.values { task.cancel() }
        await server.shutdown()
        media.remove()
    }

    // MARK: Control

    /// Faults are consumed FIFO: each matching request takes the first one injected for its endpoint (or `.any`).
    public func inject(_ fault: FakeFault, on endpoint: FakeEndpoint, times: Int = 1) {
        faults.add(fault, on: endpoint, times: times)
    }

    /// Seconds each state lasts for predictions created from now on (default 0.05 / 0.2).
    public func setLifecycle(starting: Double, processing: Double) {
        startingSeconds = max(0, starting)
        processingSeconds = max(0, processing)
    }

    /// The `whsec_<base64>` key served at GET /v1/webhooks/default/secret and used to sign webhooks.
    public func setWebhookSecret(_ key: String) { secret = key }
    public var webhookSecret: String { secret }

    // MARK: Inspection

    /// Every request received, in order (including refused ones).
    public var requests: [FakeRequestRecord] { log }
    /// Every prediction object ever created.
    public var predictionsCreated: Int { store.count }
    /// Predictions that succeeded (what Replicate charges for).
    public var billablePredictions: Int { store.values.filter { $0.status == "succeeded" }.count }
    /// The sum over succeeded predictions of price × units.
    public var bill: Double { store.values.filter { $0.status == "succeeded" }.reduce(0) { $0 + $1.cost } }
    public var canceledPredictionIds: [String] { canceled }
    /// Predictions in `starting` or `processing` now.
    public var inFlight: Int { store.values.filter { !$0.isTerminal }.count }
    /// The peak of `inFlight`.
    public var maxConcurrentInFlight: Int { peak }
    /// Every webhook delivery attempt, in order.
    public var webhookDeliveries: [FakeWebhookDelivery] { deliveries }
    /// Files uploaded through the Files API (deleted ones are kept, marked `deleted`).
    public var uploadedFiles: [FakeUploadedFile] { uploadOrder.compactMap { uploads[$0] } }
    /// Ids of every prediction, oldest first.
    public var predictionIds: [String] { order }

    public func prediction(_ id: String) -> (status: String, model: String, input: JSONValue)? {
        store[id].map { ($0.status, $0.modelName, .object($0.input)) }
    }

    /// The prediction object exactly as GET /v1/predictions/{id} would answer it.
    public func predictionObject(_ id: String) -> JSONValue? {
        store[id].map(object)
    }

    /// Waits until every webhook queued so far was delivered (or gave up retrying).
    public func waitForWebhooks() async {
        while true {
            let chains = Set(webhookChains.values)
            for task in chains { await task.value }
            if Set(webhookChains.values) == chains { break }
        }
    }

    /// Waits until no prediction is in flight (or `timeout` passed); true when idle.
    @discardableResult
    public func waitUntilIdle(timeout: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while inFlight > 0 && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return inFlight == 0
    }

    // MARK: Routing

    enum Route {
        case createModel(String), createVersion, createDeployment(String)
        case get(String), cancel(String), list, stream(String)
        case uploadFile, listFiles, getFile(String), deleteFile(String)
        case model(String), versions(String), version(String, String)
        case secret, account, download(String, String), notFound

        init(_ r: LoopbackRequest) {
            let p = r.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            let m = r.method
            switch (m, p.count, p.first) {
            case ("POST", 5, "v1") where p[1] == "models" && p[4] == "predictions": self = .createModel("\(p[2])/\(p[3])")
            case ("POST", 5, "v1") where p[1] == "deployments" && p[4] == "predictions": self = .createDeployment("\(p[2])/\(p[3])")
            case ("POST", 2, "v1") where p[1] == "predictions": self = .createVersion
            case ("GET", 2, "v1") where p[1] == "predictions": self = .list
            case ("GET", 3, "v1") where p[1] == "predictions": self = .get(p[2])
            case ("POST", 4, "v1") where p[1] == "predictions" && p[3] == "cancel": self = .cancel(p[2])
            case ("GET", 3, "v1") where p[1] == "stream": self = .stream(p[2])
            case ("POST", 2, "v1") where p[1] == "files": self = .uploadFile
            case ("GET", 2, "v1") where p[1] == "files": self = .listFiles
            case ("GET", 3, "v1") where p[1] == "files": self = .getFile(p[2])
            case ("DELETE", 3, "v1") where p[1] == "files": self = .deleteFile(p[2])
            case ("GET", 4, "v1") where p[1] == "models": self = .model("\(p[2])/\(p[3])")
            case ("GET", 5, "v1") where p[1] == "models" && p[4] == "versions": self = .versions("\(p[2])/\(p[3])")
            case ("GET", 6, "v1") where p[1] == "models" && p[4] == "versions": self = .version("\(p[2])/\(p[3])", p[5])
            case ("GET", 4, "v1") where p[1] == "webhooks" && p[2] == "default" && p[3] == "secret": self = .secret
            case ("GET", 2, "v1") where p[1] == "account": self = .account
            case ("GET", 3, "delivery"): self = .download(p[1], p[2])
            default: self = .notFound
            }
        }

        var endpoint: FakeEndpoint? {
            switch self {
            case .createModel, .createVersion, .createDeployment: .create
            case .get, .stream: .get
            case .cancel: .cancel
            case .list: .list
            case .uploadFile, .listFiles, .getFile, .deleteFile: .files
            case .model, .versions, .version: .models
            case .download: .download
            case .secret, .account, .notFound: nil
            }
        }

        /// Output files and SSE streams are capability URLs: no token needed.
        var needsAuth: Bool {
            switch self {
            case .download, .stream: false
            default: true
            }
        }
    }

    func handle(_ request: LoopbackRequest) async -> LoopbackResponse {
        log.append(FakeRequestRecord(request))
        let route = Route(request)
        if route.needsAuth && request.header("Authorization") != "Bearer \(token)" {
            return .json(status: 401, ["title": "Unauthenticated", "detail": "You did not pass a valid authentication token",
                                       "status": 401], headers: [("Content-Type", "application/problem+json")])
        }
        var fault = faults.take(for: route.endpoint, applicable: FaultQueue.standardApplicable)
        if case .slow(let seconds) = fault {
            try? await Task.sleep(for: .seconds(seconds))
            fault = nil
        }
        switch fault {
        case .throttle(let seconds):
            return .json(status: 429, ["detail": .string("Request was throttled. Expected available in \(seconds) second.")],
                         headers: [("Retry-After", String(seconds))])
        case .serverError(let status):
            let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
            return FakeUtil.problem(status, reason, "The server encountered an error (injected \(status)).")
        case .htmlErrorPage:
            return .text(status: 502, FakeUtil.htmlPage, contentType: "text/html; charset=utf-8")
        case .dropConnection:
            return .dropConnection
        default:
            break
        }
        let response = await answer(request, route, fault)
        switch fault {
        case .malformedJSON:
            return .jsonData(status: route.endpoint == .create ? 201 : 200, Data("{not json".utf8))
        case .dropAfterCreate:
            return .dropConnection
        default:
            return response
        }
    }

    private func answer(_ request: LoopbackRequest, _ route: Route, _ fault: FakeFault?) async -> LoopbackResponse {
        switch route {
        case .createModel(let name):
            guard let model = models[name] else { return notFound("model \(name)") }
            return await create(request, model: model, deployment: nil, fault: fault)
        case .createDeployment(let name):
            guard let target = deployments[name], let model = models[target] else { return notFound("deployment \(name)") }
            return await create(request, model: model, deployment: name, fault: fault)
        case .createVersion:
            guard let body = request.json?.objectValue else { return badJSON() }
            guard let ref = body["version"]?.stringValue else {
                return FakeUtil.problem(422, "Input validation failed", "version is required")
            }
            let model: FakeModel?
            if let colon = ref.lastIndex(of: ":") {
                let name = String(ref[..<colon]), version = String(ref[ref.index(after: colon)...])
                model = models[name].flatMap { $0.version == version ? $0 : nil }
            } else {
                model = models.values.filter { !$0.name.hasPrefix("deployments/") }.first { $0.version == ref }
            }
            guard let model else { return notFound("version \(ref)") }
            return await create(request, model: model, deployment: nil, fault: fault)
        case .get(let id):
            guard store[id] != nil else { return notFound("prediction \(id)") }
            if fault == .expireOutputs { store[id]?.outputsExpired = true }
            return .json(status: 200, object(store[id]!))
        case .cancel(let id):
            guard store[id] != nil else { return notFound("prediction \(id)") }
            cancel(id)
            return .json(status: 200, object(store[id]!))
        case .list:
            return list(request)
        case .stream(let id):
            return await stream(id)
        case .uploadFile:
            return upload(request)
        case .listFiles:
            let all = uploadOrder.reversed().compactMap { uploads[$0] }.filter { !$0.deleted }
            return .json(status: 200, ["next": nil, "previous": nil, "results": .array(all.map(fileObject))])
        case .getFile(let id):
            guard let file = uploads[id], !file.deleted else { return notFound("file \(id)") }
            return .json(status: 200, fileObject(file))
        case .deleteFile(let id):
            guard let file = uploads[id], !file.deleted else { return notFound("file \(id)") }
            uploads[id]?.deleted = true
            return .respond(status: 204)
        case .model(let name):
            guard let model = models[name], !name.hasPrefix("deployments/") else { return notFound("model \(name)") }
            return .json(status: 200, modelObject(model))
        case .versions(let name):
            guard let model = models[name], !name.hasPrefix("deployments/") else { return notFound("model \(name)") }
            return .json(status: 200, ["next": nil, "previous": nil, "results": [versionObject(model)]])
        case .version(let name, let version):
            guard let model = models[name], !name.hasPrefix("deployments/"), model.version == version else {
                return notFound("version \(name):\(version)")
            }
            return .json(status: 200, versionObject(model))
        case .secret:
            return .json(status: 200, ["key": .string(secret)])
        case .account:
            return .json(status: 200, ["type": "user", "username": "fake", "name": "Fake User", "github_url": nil])
        case .download(let id, let file):
            return await download(id, file, fault)
        case .notFound:
            return FakeUtil.problem(404, "Not found", "No route for \(request.method) \(request.path)")
        }
    }

    private func notFound(_ what: String) -> LoopbackResponse {
        FakeUtil.problem(404, "Not found", "The requested resource could not be found (\(what)).")
    }

    private func badJSON() -> LoopbackResponse {
        FakeUtil.problem(400, "Bad request", "The request body is not a JSON object.")
    }

    // MARK: Predictions

    private func create(_ request: LoopbackRequest, model: FakeModel, deployment: String?, fault: FakeFault?) async -> LoopbackResponse {
        guard let body = request.json?.objectValue else { return badJSON() }
        guard let input = body["input"]?.objectValue else {
            return FakeUtil.problem(422, "Input validation failed", "- input: input is required",
                                    extra: ["invalid_fields": [["type": "required", "field": "input", "description": "input is required"]]])
        }
        let base = baseURL
        let problems = FakeUtil.validate(input: input, properties: model.input, required: model.required) { url in
            guard url.hasPrefix(base + "/v1/files/") else { return nil }
            let id = String(url.dropFirst((base + "/v1/files/").count).prefix { $0 != "/" && $0 != "?" })
            return self.uploads[id].map { $0.deleted ? "file \(id) was deleted" : nil } ?? "file \(url) does not exist"
        }
        if !problems.isEmpty {
            let detail = problems.map { "- input.\($0.field): \($0.message)" }.joined(separator: "\n")
            return FakeUtil.problem(422, "Input validation failed", detail,
                                    extra: ["invalid_fields": .array(problems.map {
                                        ["type": "invalid", "field": .string("input.\($0.field)"), "description": .string($0.message)]
                                    })])
        }
        var p = Prediction(id: FakeUtil.newID(), model: model, modelName: model.name, deployment: deployment, input: input)
        p.webhook = body["webhook"]?.stringValue
        p.filter = body["webhook_events_filter"]?.arrayValue?.compactMap(\.stringValue)
        if case .predictionFails(let message) = fault { p.failWith = message }
        if fault == .expireOutputs { p.outputsExpired = true }
        let id = p.id
        store[id] = p
        order.append(id)
        peak = max(peak, inFlight)
        emitWebhook(id, event: "start")
        let (starting, processing) = (startingSeconds, processingSeconds)
        lifecycles[id] = Task { await self.runLifecycle(id, starting: starting, processing: processing) }
        if let wait = FakeUtil.preferWait(request.header("Prefer")) {
            await waitForTerminal(id, seconds: wait)
        }
        return .json(status: 201, object(store[id]!))
    }

    private func waitForTerminal(_ id: String, seconds: Double) async {
        let deadline = Date().addingTimeInterval(seconds)
        while let p = store[id], !p.isTerminal, Date() < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func runLifecycle(_ id: String, starting: Double, processing: Double) async {
        try? await Task.sleep(for: .seconds(starting))
        guard !Task.isCancelled, store[id]?.status == "starting" else { return }
        store[id]?.status = "processing"
        store[id]?.startedAt = Date()
        store[id]?.logs = "Running predict()...\n"
        try? await Task.sleep(for: .seconds(processing))
        guard !Task.isCancelled, let p = store[id], p.status == "processing" else { return }
        if let message = p.failWith {
            finish(id, status: "failed", error: message)
            return
        }
        do {
            let made = try await makeOutput(p)
            guard !Task.isCancelled, store[id]?.status == "processing" else { return }
            store[id]?.output = made.output
            store[id]?.files = made.files
            store[id]?.cost = made.cost
            for (k, v) in made.metrics { store[id]?.metrics[k] = v }
            store[id]?.logs += "Done.\n"
            finish(id, status: "succeeded", error: nil)
        } catch {
            guard store[id]?.status == "processing" else { return }
            finish(id, status: "failed", error: "fake output could not be made: \(error)")
        }
    }

    private func finish(_ id: String, status: String, error: String?) {
        guard var p = store[id] else { return }
        let now = Date()
        p.status = status
        p.error = error
        p.completedAt = now
        if let started = p.startedAt { p.metrics["predict_time"] = .number((now.timeIntervalSince(started) * 1e6).rounded() / 1e6) }
        store[id] = p
        lifecycles[id] = nil
        emitWebhook(id, event: "completed")
    }

    private func cancel(_ id: String) {
        guard let p = store[id], !p.isTerminal else { return }
        canceled.append(id)
        lifecycles[id]?.cancel()
        finish(id, status: "canceled", error: nil)
    }

    /// Seconds of output the prediction asked for (price's duration input, frames/fps, `duration`), if any.
    private func requestedDuration(_ p: Prediction) -> Double? {
        switch p.model.price {
        case .perSecondOfOutput(_, let key):
            if let d = FakeUtil.number(key, p.input, p.model.input) { return d }
        case .perSecondOfOutputFrames(_, let framesKey, let fpsKey):
            let frames = FakeUtil.number(framesKey, p.input, p.model.input) ?? 81
            let fps = FakeUtil.number(fpsKey, p.input, p.model.input) ?? 16
            if fps > 0 { return frames / fps }
        default:
            break
        }
        return FakeUtil.number("duration", p.input, p.model.input) ?? FakeUtil.number("seconds", p.input, p.model.input)
    }

    private func makeOutput(_ p: Prediction) async throws -> (output: JSONValue, files: [String: (path: String, contentType: String)],
                                                                metrics: [String: JSONValue], cost: Double) {
        let base = "\(baseURL)/delivery/\(p.id)/"
        var files: [String: (path: String, contentType: String)] = [:]
        var metrics: [String: JSONValue] = [:]
        var output: JSONValue
        var units = 1.0
        switch p.model.output {
        case .video, .audio:
            let duration = requestedDuration(p) ?? (p.model.output == .video ? 5 : 8)
            let file = try await media.file(p.model.output, duration: duration, colour: "")
            let name = "out.\(file.ext)"
            files[name] = (file.path, file.contentType)
            output = p.model.outputIsArray ? [.string(base + name)] : .string(base + name)
            units = duration
        case .image:
            let count = p.model.outputIsArray ? max(1, min(10, FakeUtil.number("num_outputs", p.input, p.model.input).map { Int($0) } ?? 1)) : 1
            let file = try await media.file(.image, duration: 0, colour: FakeUtil.colour(for: FakeUtil.prompt(p.input)))
            let names = count == 1 ? ["out.\(file.ext)"] : (0..<count).map { "out-\($0).\(file.ext)" }
            for n in names { files[n] = (file.path, file.contentType) }
            output = p.model.outputIsArray ? .array(names.map { .string(base + $0) }) : .string(base + names[0])
            metrics["image_count"] = .number(Double(count))
            units = Double(count)
        case .text(let text):
            output = .array(FakeUtil.chunks(text).map { .string($0) })
            let inputText = p.input.values.compactMap(\.stringValue).joined(separator: " ")
            metrics["input_token_count"] = .number(Double(FakeUtil.words(inputText)))
            metrics["output_token_count"] = .number(Double(FakeUtil.words(text)))
        }
        let cost: Double
        switch p.model.price {
        case .perSecondOfOutput(let price, _), .perSecondOfOutputFrames(let price, _, _):
            cost = price * (requestedDuration(p) ?? units)
        case .perOutput(let price):
            cost = price
        case .perImage(let price):
            cost = price * units
        case .perMillionTokens(let inPrice, let outPrice):
            let i = metrics["input_token_count"]?.doubleValue ?? 0, o = metrics["output_token_count"]?.doubleValue ?? 0
            cost = (i * inPrice + o * outPrice) / 1_000_000
        }
        return (output, files, metrics, cost)
    }

    private func object(_ p: Prediction) -> JSONValue {
        func ts(_ d: Date?) -> JSONValue { d.map { .string(FakeUtil.timestamp($0)) } ?? .null }
        var urls: [String: JSONValue] = [
            "get": .string("\(baseURL)/v1/predictions/\(p.id)"),
            "cancel": .string("\(baseURL)/v1/predictions/\(p.id)/cancel"),
            "web": .string("https://replicate.com/p/\(p.id)"),
        ]
        if p.isText { urls["stream"] = .string("\(baseURL)/v1/stream/\(p.id)") }
        var o: [String: JSONValue] = [
            "id": .string(p.id), "model": .string(p.modelName), "version": .string(p.model.version),
            "input": .object(p.input), "output": p.output, "logs": .string(p.logs),
            "error": p.error.map { .string($0) } ?? .null, "status": .string(p.status),
            "source": "api", "data_removed": false,
            "created_at": ts(p.createdAt), "started_at": ts(p.startedAt), "completed_at": ts(p.completedAt),
            "metrics": .object(p.metrics), "urls": .object(urls),
        ]
        if let webhook = p.webhook {
            o["webhook"] = .string(webhook)
            o["webhook_events_filter"] = .array((p.filter ?? Self.defaultFilter).map { .string($0) })
        }
        if let d = p.deployment { o["deployment"] = .string(d) }
        return .object(o)
    }

    private func list(_ request: LoopbackRequest) -> LoopbackResponse {
        let after = request.query["created_after"].flatMap(FakeUtil.parseTimestamp)
        let before = request.query["created_before"].flatMap(FakeUtil.parseTimestamp)
        if request.query["created_after"] != nil && after == nil || request.query["created_before"] != nil && before == nil {
            return FakeUtil.problem(400, "Bad request", "created_after / created_before must be ISO 8601 timestamps")
        }
        let all = order.reversed().compactMap { store[$0] }.filter { p in
            (after.map { p.createdAt > $0 } ?? true) && (before.map { p.createdAt < $0 } ?? true)
        }
        let offset = max(0, Int(request.query["cursor"] ?? "") ?? 0)
        let page = offset < all.count ? Array(all[offset..<min(offset + 100, all.count)]) : []
        func link(_ cursor: Int) -> JSONValue {
            var c = URLComponents(string: "\(baseURL)/v1/predictions")!
            var items = [URLQueryItem(name: "cursor", value: String(cursor))]
            for key in ["created_after", "created_before"] { if let v = request.query[key] { items.append(URLQueryItem(name: key, value: v)) } }
            c.queryItems = items
            // `+` of a time zone offset must survive the query.
            c.percentEncodedQuery = c.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
            return .string(c.string!)
        }
        return .json(status: 200, ["next": offset + 100 < all.count ? link(offset + 100) : nil,
                                   "previous": offset > 0 ? link(max(0, offset - 100)) : nil,
                                   "results": .array(page.map(object))])
    }

    /// Server-sent events of a text prediction: its chunks as `output` events, then `done` (answered once terminal).
    private func stream(_ id: String) async -> LoopbackResponse {
        guard store[id] != nil else { return notFound("prediction \(id)") }
        await waitForTerminal(id, seconds: 60)
        guard let p = store[id] else { return notFound("prediction \(id)") }
        var text = ""
        let stamp = Int(p.createdAt.timeIntervalSince1970)
        for (i, chunk) in (p.output.arrayValue ?? []).compactMap(\.stringValue).enumerated() {
            text += "event: output\nid: \(stamp):\(i)\n"
            text += chunk.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)\n" }.joined() + "\n"
        }
        switch p.status {
        case "succeeded": text += "event: done\ndata: {}\n\n"
        case "canceled": text += "event: done\ndata: {\"reason\": \"canceled\"}\n\n"
        case "failed":
            let detail = String(decoding: JSONValue.object(["detail": .string(p.error ?? "failed")]).canonicalData(), as: UTF8.self)
            text += "event: error\ndata: \(detail)\n\nevent: done\ndata: {\"reason\": \"error\"}\n\n"
        default: text += ":408: 408 Request Timeout\n\n"
        }
        return .text(status: 200, text, contentType: "text/event-stream", headers: [("Cache-Control", "no-store")])
    }

    private func download(_ id: String, _ name: String, _ fault: FakeFault?) async -> LoopbackResponse {
        guard let p = store[id], let file = p.files[name] else { return FakeUtil.problem(404, "Not found", "No such file") }
        if fault == .expireOutputs { store[id]?.outputsExpired = true }
        if store[id]?.outputsExpired == true {
            return .text(status: 404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
                         contentType: "application/xml")
        }
        if fault == .wrongOutputType {
            return .text(status: 200, "<!DOCTYPE html><html><body><h1>Welcome</h1><p>This is not a video.</p></body></html>",
                         contentType: "text/html; charset=utf-8")
        }
        if case .serveFile(let path, let type)? = fault, let data = FileManager.default.contents(atPath: path) {
            return .respond(status: 200, headers: [("Content-Type", type)], body: data)
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            return FakeUtil.problem(500, "Internal Server Error", "fake output file vanished")
        }
        let headers = [("Content-Type", file.contentType)]
        if fault == .truncateDownload {
            return .truncated(status: 200, headers: headers, body: data, sendBytes: data.count / 2)
        }
        return .respond(status: 200, headers: headers, body: data)
    }

    // MARK: Webhooks

    /// An omitted filter means "new outputs or finished"; this fake sends no separate output events, so in effect
    /// only `completed` is delivered.
    static let defaultFilter = ["output", "completed"]

    private func emitWebhook(_ id: String, event: String) {
        guard let p = store[id], let url = p.webhook else { return }
        let filter = p.filter ?? Self.defaultFilter
        guard filter.contains(event) else { return }
        let body = object(p).canonicalData()
        let messageId = "msg_" + FakeUtil.newID()
        let timestamp = Int(Date().timeIntervalSince1970)
        let key = Data(base64Encoded: String(secret.hasPrefix("whsec_") ? secret.dropFirst(6) : secret[...])) ?? Data(secret.utf8)
        let signature = Webhooks.sign(id: messageId, timestamp: timestamp, body: body, key: key)
        let headers = [("webhook-id", messageId), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature)]
        let previous = webhookChains[id]
        let retries = event == "completed" ? 3 : 0
        let status = p.status
        webhookChains[id] = Task {
            await previous?.value
            let statuses = await Webhooks.deliver(url: url, body: body, headers: headers, retries: retries)
            self.recordDeliveries(id, event, url, statuses, messageId, status)
        }
    }

    private func recordDeliveries(_ id: String, _ event: String, _ url: String, _ statuses: [Int?], _ messageId: String,
                                  _ status: String) {
        for (i, s) in statuses.enumerated() {
            deliveries.append(FakeWebhookDelivery(predictionId: id, event: event, url: url, attempt: i + 1, status: s,
                                                  webhookId: messageId, payloadStatus: status))
        }
    }

    // MARK: Files and models

    private func upload(_ request: LoopbackRequest) -> LoopbackResponse {
        guard let parts = Multipart.parse(request.body, contentType: request.header("Content-Type")) else {
            return FakeUtil.problem(400, "Bad request", "The request must be multipart/form-data.")
        }
        guard let content = parts.first(where: { $0.name == "content" }) else {
            return FakeUtil.problem(422, "Input validation failed", "- content: the file part `content` is required")
        }
        var metadata: JSONValue = .object([:])
        if let m = parts.first(where: { $0.name == "metadata" }) {
            guard let parsed = try? JSONValue.parse(m.data) else {
                return FakeUtil.problem(422, "Input validation failed", "- metadata: must be a JSON object")
            }
            metadata = parsed
        }
        let file = FakeUploadedFile(id: FakeUtil.newID(), name: content.filename ?? "file",
                                    contentType: content.contentType ?? "application/octet-stream", data: content.data,
                                    metadata: metadata, createdAt: Date(), deleted: false)
        uploads[file.id] = file
        uploadOrder.append(file.id)
        return .json(status: 201, fileObject(file))
    }

    private func fileObject(_ f: FakeUploadedFile) -> JSONValue {
        func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 { d.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        let md5 = hex(Insecure.MD5.hash(data: f.data))
        return ["id": .string(f.id), "name": .string(f.name), "content_type": .string(f.contentType),
                "size": .number(Double(f.size)), "etag": .string(md5),
                "checksums": ["sha256": .string(hex(SHA256.hash(data: f.data))), "md5": .string(md5)],
                "metadata": f.metadata, "created_at": .string(FakeUtil.timestamp(f.createdAt)),
                "expires_at": .string(FakeUtil.timestamp(f.createdAt.addingTimeInterval(86_400))),
                "urls": ["get": .string("\(baseURL)/v1/files/\(f.id)")]]
    }

    private func modelObject(_ m: FakeModel) -> JSONValue {
        let parts = m.name.split(separator: "/", maxSplits: 1).map(String.init)
        let runs = store.values.filter { $0.model.name == m.name }.count
        return ["url": .string("https://replicate.com/\(m.name)"), "owner": .string(parts.first ?? ""),
                "name": .string(parts.count > 1 ? parts[1] : m.name), "description": .string("Fake model \(m.name)"),
                "visibility": "public", "github_url": nil, "paper_url": nil, "license_url": nil,
                "run_count": .number(Double(runs)), "cover_image_url": nil, "default_example": nil,
                "latest_version": versionObject(m)]
    }

    private func versionObject(_ m: FakeModel) -> JSONValue {
        let file: JSONValue = ["type": "string", "format": "uri"]
        let outputSchema: JSONValue = switch m.output {
        case .text: ["type": "array", "items": ["type": "string"], "title": "Output",
                     "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate"]
        default: m.outputIsArray ? ["type": "array", "items": file, "title": "Output"]
                                 : ["type": "string", "format": "uri", "title": "Output"]
        }
        return ["id": .string(m.version), "created_at": "2025-01-01T00:00:00.000000Z", "cog_version": "0.14.0",
                "openapi_schema": ["openapi": "3.1.0", "info": ["title": "Cog", "version": "0.1.0"], "paths": [:],
                                   "components": ["schemas": [
                                       "Input": ["type": "object", "title": "Input", "properties": .object(m.input),
                                                 "required": .array(m.required.map { .string($0) })],
                                       "Output": outputSchema]]]]
    }
}
