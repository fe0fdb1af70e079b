import Foundation
import NIOHTTP1
import ReelCore

/// A loopback server speaking a Cog model server's HTTP API (reference/cog-api.md §1-7, §10): discovery, health
/// check walking STARTING → READY (BUSY while every slot is used, SETUP_FAILED on demand), OpenAPI schema,
/// sync and `Prefer: respond-async` predictions, idempotent `PUT /predictions/{id}`, 409 when full, cancel,
/// data-URI outputs of real media, unsigned webhooks, and injected faults.
///
/// Fault endpoints: `.create` = POST /predictions and PUT /predictions/{id}; `.cancel`; `.get` = GET /health-check;
/// `.models` = GET / and GET /openapi.json.
public actor FakeCog: LoopbackFake {
    public nonisolated let baseURL: String
    private let server: LoopbackServer
    private let output: FakeOutput
    private let properties: [String: JSONValue]
    private let required: [String]
    private let setupSeconds: Double
    private let predictSeconds: Double
    private let slots: Int
    private let bootedAt = Date()
    private let media = FakeMediaStore()

    private var faults = FaultQueue()
    private var setupFailed = false
    private var runs: [String: Run] = [:]
    private var order: [String] = []
    private var log: [FakeRequestRecord] = []
    private var deliveries: [FakeWebhookDelivery] = []
    private var webhookChains: [String: Task<Void, Never>] = [:]
    private var tasks: [String: Task<Void, Never>] = [:]
    private var canceled: [String] = []
    private var peak = 0

    struct Run {
        var id: String
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
        var isTerminal: Bool { ["succeeded", "failed", "canceled"].contains(status) }
    }

    private init(server: LoopbackServer, output: FakeOutput, input: [String: JSONValue], required: [String],
                 setupSeconds: Double, predictSeconds: Double, slots: Int) {
        self.server = server
        self.baseURL = server.baseURL
        self.output = output
        self.properties = input
        self.required = required
        self.setupSeconds = setupSeconds
        self.predictSeconds = predictSeconds
        self.slots = max(1, slots)
    }

    deinit {
        server.closeNow()
        media.remove()
    }

    /// Starts a fake Cog server. `input` is the Input schema's `properties`.
    public static func start(output: FakeOutput, input: [String: JSONValue], required: [String] = [],
                             setupSeconds: Double = 0, predictSeconds: Double = 0.2, slots: Int = 1) async throws -> FakeCog {
        try await LoopbackServer.start { server in FakeCog(server: server, output: output, input: input, required: required, setupSeconds: setupSeconds,
                               predictSeconds: predictSeconds, slots: slots) }
    }

    public func shutdown() async {
        for task in tasks.values { task.cancel() }
        for task in webhookChains.values { task.cancel() }
        await server.shutdown()
        media.remove()
    }

    // MARK: Control and inspection

    public func inject(_ fault: FakeFault, on endpoint: FakeEndpoint, times: Int = 1) {
        faults.add(fault, on: endpoint, times: times)
    }

    /// From now on the health check reports SETUP_FAILED and predictions are refused (503).
    public func failSetup() { setupFailed = true }

    public var requests: [FakeRequestRecord] { log }
    /// How many predictions actually ran (a re-attaching PUT is not counted).
    public var predictionsStarted: Int { order.count }
    public var canceledPredictionIds: [String] { canceled }
    /// Predictions running now, and the peak of that number.
    public var inFlight: Int { runs.values.filter { !$0.isTerminal }.count }
    public var maxConcurrentInFlight: Int { peak }
    public var webhookDeliveries: [FakeWebhookDelivery] { deliveries }
    /// The prediction object as the server would answer it.
    public func prediction(_ id: String) -> JSONValue? { runs[id].map(object) }

    public func waitForWebhooks() async {
        while true {
            let chains = Set(webhookChains.values)
            for task in chains { await task.value }
            if Set(webhookChains.values) == chains { break }
        }
    }

    // MARK: Serving

    private var healthStatus: String {
        if setupFailed { return "SETUP_FAILED" }
        if Date().timeIntervalSince(bootedAt) < setupSeconds { return "STARTING" }
        return inFlight >= slots ? "BUSY" : "READY"
    }

    func handle(_ request: LoopbackRequest) async -> LoopbackResponse {
        log.append(FakeRequestRecord(request))
        let p = request.path.split(separator: "/").map(String.init)
        let endpoint: FakeEndpoint?
        switch (request.method, p.count) {
        case ("POST", 1) where p[0] == "predictions", ("PUT", 2) where p[0] == "predictions": endpoint = .create
        case ("POST", 3) where p[0] == "predictions" && p[2] == "cancel": endpoint = .cancel
        case ("GET", 1) where p[0] == "health-check": endpoint = .get
        case ("GET", 0): endpoint = .models
        case ("GET", 1) where p[0] == "openapi.json": endpoint = .models
        default: endpoint = nil
        }
        var fault = faults.take(for: endpoint, applicable: FaultQueue.standardApplicable)
        if case .slow(let seconds) = fault {
            try? await Task.sleep(for: .seconds(seconds))
            fault = nil
        }
        switch fault {
        case .throttle(let seconds):
            return .json(status: 429, ["detail": .string("Request was throttled. Expected available in \(seconds) second.")],
                         headers: [("Retry-After", String(seconds))])
        case .serverError(let status):
            return .json(status: status, ["detail": .string(HTTPResponseStatus(statusCode: status).reasonPhrase)])
        case .htmlErrorPage:
            return .text(status: 502, FakeUtil.htmlPage, contentType: "text/html; charset=utf-8")
        case .dropConnection:
            return .dropConnection
        default:
            break
        }
        let response: LoopbackResponse
        switch (request.method, p.count) {
        case ("GET", 0): response = .json(status: 200, discovery)
        case ("GET", 1) where p[0] == "health-check": response = .json(status: 200, health)
        case ("GET", 1) where p[0] == "openapi.json": response = .json(status: 200, openAPI)
        case ("POST", 1) where p[0] == "predictions": response = await create(request, pathId: nil, fault: fault)
        case ("PUT", 2) where p[0] == "predictions": response = await create(request, pathId: p[1], fault: fault)
        case ("POST", 3) where p[0] == "predictions" && p[2] == "cancel": response = cancel(p[1])
        case ("POST", 1) where p[0] == "shutdown": response = .json(status: 200, [:])
        default: response = .json(status: 404, ["detail": "Not Found"])
        }
        switch fault {
        case .malformedJSON: return .jsonData(status: response.status ?? 200, Data("{not json".utf8))
        case .dropAfterCreate: return .dropConnection
        default: return response
        }
    }

    private var discovery: JSONValue {
        ["cog_version": "0.14.0", "docs_url": "/docs", "openapi_url": "/openapi.json", "shutdown_url": "/shutdown",
         "healthcheck_url": "/health-check", "predictions_url": "/predictions",
         "predictions_idempotent_url": "/predictions/{prediction_id}",
         "predictions_cancel_url": "/predictions/{prediction_id}/cancel"]
    }

    private var health: JSONValue {
        let status = healthStatus
        let setupDone = bootedAt.addingTimeInterval(setupSeconds)
        let setup: JSONValue = [
            "started_at": .string(FakeUtil.timestamp(bootedAt)),
            "completed_at": status == "STARTING" ? nil : .string(FakeUtil.timestamp(setupDone)),
            "status": status == "STARTING" ? "starting" : (setupFailed ? "failed" : "succeeded"),
            "logs": setupFailed ? "Traceback (most recent call last):\nRuntimeError: weights not found\n" : "",
        ]
        return ["status": .string(status), "setup": setup,
                "version": ["coglet": "0.17.0", "cog": "0.14.0", "python": "3.13.0"], "user_healthcheck_error": nil]
    }

    private var openAPI: JSONValue {
        let outputSchema: JSONValue = switch output {
        case .text: ["title": "Output", "type": "string"]
        default: ["title": "Output", "type": "string", "format": "uri"]
        }
        return ["openapi": "3.0.2", "info": ["title": "Cog", "version": "0.1.0"],
                "paths": ["/predictions": ["post": ["summary": "Predict"]],
                          "/predictions/{prediction_id}": ["put": ["summary": "Predict Idempotent"]],
                          "/predictions/{prediction_id}/cancel": ["post": ["summary": "Cancel"]]],
                "components": ["schemas": [
                    "Input": ["title": "Input", "type": "object", "properties": .object(properties),
                              "required": .array(required.map { .string($0) })],
                    "Output": outputSchema]]]
    }

    private func detail(_ loc: [String], _ message: String, _ type: String) -> JSONValue {
        ["loc": .array(loc.map { .string($0) }), "msg": .string(message), "type": .string(type)]
    }

    private func create(_ request: LoopbackRequest, pathId: String?, fault: FakeFault?) async -> LoopbackResponse {
        let async = FakeUtil.hasPreference(request.header("Prefer"), "respond-async")
        guard let body = request.json?.objectValue else {
            return .json(status: 422, ["detail": [detail(["body"], "Invalid JSON body", "value_error.jsondecode")]])
        }
        let id = pathId ?? body["id"]?.stringValue ?? FakeUtil.newID()
        // A known id re-attaches instead of starting anything: while it runs, a sync request waits for the same
        // prediction and an async one gets its current state (202); once it finished, PUT (or POST with that id)
        // answers the stored final object with 200 (a choice of this fake — it makes retries of a lost answer safe).
        if let existing = runs[id] {
            if existing.isTerminal { return .json(status: 200, object(existing)) }
            if async { return .json(status: 202, object(existing)) }
            await waitForTerminal(id)
            return .json(status: 200, object(runs[id]!))
        }
        switch healthStatus {
        case "STARTING": return .json(status: 503, ["detail": "Setup has not finished yet (status STARTING)"])
        case "SETUP_FAILED": return .json(status: 503, ["detail": "Setup failed (status SETUP_FAILED)"])
        default: break
        }
        guard let input = body["input"]?.objectValue else {
            return .json(status: 422, ["detail": [detail(["body", "input"], "field required", "value_error.missing")]])
        }
        let problems = FakeUtil.validate(input: input, properties: properties, required: required)
        if !problems.isEmpty {
            return .json(status: 422, ["detail": .array(problems.map { p in
                let type = p.message.hasSuffix("is required") ? "value_error.missing"
                    : p.message.hasPrefix("Additional property") ? "value_error.extra" : "value_error"
                return detail(["body", "input", p.field], p.message, type)
            })])
        }
        if inFlight >= slots {
            return .json(status: 409, ["detail": .string("Already running a prediction: \(slots) of \(slots) slots in use")])
        }
        var run = Run(id: id, input: input)
        run.webhook = body["webhook"]?.stringValue
        run.filter = body["webhook_events_filter"]?.arrayValue?.compactMap(\.stringValue)
        if case .predictionFails(let message) = fault { run.failWith = message }
        runs[id] = run
        order.append(id)
        peak = max(peak, inFlight)
        emitWebhook(id, event: "start")
        tasks[id] = Task { await self.runPrediction(id) }
        if fault == .dropAfterCreate { return .dropConnection }
        if async { return .json(status: 202, object(runs[id]!)) }
        await waitForTerminal(id)
        return .json(status: 200, object(runs[id]!))
    }

    private func waitForTerminal(_ id: String) async {
        while let r = runs[id], !r.isTerminal, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func runPrediction(_ id: String) async {
        try? await Task.sleep(for: .milliseconds(5))
        guard !Task.isCancelled, runs[id]?.status == "starting" else { return }
        runs[id]?.status = "processing"
        runs[id]?.startedAt = Date()
        runs[id]?.logs = "Running predict()...\n"
        let end = Date().addingTimeInterval(predictSeconds)
        while Date() < end {
            try? await Task.sleep(for: .milliseconds(10))
            guard !Task.isCancelled, runs[id]?.status == "processing" else { return }
        }
        guard let run = runs[id] else { return }
        if let message = run.failWith {
            finish(id, status: "failed", error: message)
            return
        }
        do {
            let value = try await makeOutput(run.input)
            guard !Task.isCancelled, runs[id]?.status == "processing" else { return }
            runs[id]?.output = value
            runs[id]?.logs += "Done.\n"
            finish(id, status: "succeeded", error: nil)
        } catch {
            guard runs[id]?.status == "processing" else { return }
            finish(id, status: "failed", error: "fake output could not be made: \(error)")
        }
    }

    private func makeOutput(_ input: [String: JSONValue]) async throws -> JSONValue {
        if case .text(let text) = output { return .string(text) }
        var duration = FakeUtil.number("duration", input, properties) ?? FakeUtil.number("seconds", input, properties)
        if duration == nil, let frames = FakeUtil.number("num_frames", input, properties) {
            duration = frames / (FakeUtil.number("fps", input, properties) ?? FakeUtil.number("frames_per_second", input, properties) ?? 16)
        }
        let file = try await media.file(output, duration: duration ?? (output == .audio ? 8 : 5),
                                        colour: FakeUtil.colour(for: FakeUtil.prompt(input)))
        guard let data = FileManager.default.contents(atPath: file.path) else { throw LoopbackError("fake media vanished") }
        return .string("data:\(file.contentType);base64," + data.base64EncodedString())
    }

    private func finish(_ id: String, status: String, error: String?) {
        guard var run = runs[id] else { return }
        let now = Date()
        run.status = status
        run.error = error
        run.completedAt = now
        run.metrics["predict_time"] = .number(((now.timeIntervalSince(run.startedAt ?? run.createdAt)) * 1e6).rounded() / 1e6)
        runs[id] = run
        tasks[id] = nil
        emitWebhook(id, event: "completed")
    }

    private func cancel(_ id: String) -> LoopbackResponse {
        guard let run = runs[id], !run.isTerminal else { return .json(status: 404, ["detail": "Not Found"]) }
        canceled.append(id)
        tasks[id]?.cancel()
        finish(id, status: "canceled", error: nil)
        return .json(status: 200, object(runs[id]!))
    }

    private func object(_ r: Run) -> JSONValue {
        func ts(_ d: Date?) -> JSONValue { d.map { .string(FakeUtil.timestamp($0)) } ?? .null }
        var o: [String: JSONValue] = [
            "id": .string(r.id), "input": .object(r.input), "output": r.output, "status": .string(r.status),
            "error": r.error.map { .string($0) } ?? .null, "logs": .string(r.logs), "metrics": .object(r.metrics),
            "created_at": ts(r.createdAt), "started_at": ts(r.startedAt), "completed_at": ts(r.completedAt),
            "version": nil, "webhook": r.webhook.map { .string($0) } ?? .null,
        ]
        if let filter = r.filter { o["webhook_events_filter"] = .array(filter.map { .string($0) }) }
        return .object(o)
    }

    /// Cog posts the whole prediction object, unsigned; the default filter is every event. Only the terminal
    /// webhook is retried.
    private func emitWebhook(_ id: String, event: String) {
        guard let run = runs[id], let url = run.webhook else { return }
        guard (run.filter ?? ["start", "output", "logs", "completed"]).contains(event) else { return }
        let body = object(run).canonicalData()
        let previous = webhookChains[id]
        let retries = event == "completed" ? 3 : 0
        let status = run.status
        webhookChains[id] = Task {
            await previous?.value
            let statuses = await Webhooks.deliver(url: url, body: body, headers: [], retries: retries)
            for (i, s) in statuses.enumerated() {
                self.deliveries.append(FakeWebhookDelivery(predictionId: id, event: event, url: url, attempt: i + 1, status: s,
                                                           webhookId: nil, payloadStatus: status))
            }
        }
    }
}
