import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReelCore
import ReelMedia

/// Runs predictions on a self-hosted Cog model server (`COG_URL`; `../shared/reference/cog-api.md`).
///
/// Cog has no `GET /predictions/{id}`, so a prediction is created with a synchronous `PUT /predictions/{id}` whose
/// id the client chooses, and the request is held open until the result. `PUT` with the same id is idempotent: while
/// that id runs, it re-attaches instead of starting a second prediction. So every failure of the connection (drop,
/// timeout, 5xx) is handled by sending the very same `PUT` again, and a resumed call (`resumeId`) does the same.
public struct CogClient: PredictionBackend, CustomStringConvertible {
    public let baseURL: String
    public let http: ProviderHTTP
    public let retry: RetryPolicy
    /// How long to wait for `/health-check` to say READY before the first prediction.
    public let readyTimeout: Duration
    public let predictionTimeout: Duration
    /// How often `/health-check` is polled while the server boots or its slots are full.
    public let healthInterval: Duration
    /// The largest prediction answer accepted (file outputs come back inline as base64 `data:` URIs).
    public let maxResponseBytes: Int

    private let limit: ConcurrencyLimit
    private let state = CogState()
    private let saver: OutputSaver

    /// Largest local file sent inline as a `data:` URI input (Cog has no upload API).
    public static let inputFileLimit: Int64 = 100 << 20

    public init(baseURL: String, http: ProviderHTTP = ProviderHTTP(), retry: RetryPolicy = RetryPolicy(), concurrency: Int = 1,
                readyTimeout: Duration = .seconds(300), predictionTimeout: Duration = .seconds(30 * 60),
                healthInterval: Duration = .seconds(1), maxResponseBytes: Int = 512 << 20) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = http
        self.retry = retry
        self.readyTimeout = readyTimeout
        self.predictionTimeout = predictionTimeout
        self.healthInterval = healthInterval
        self.maxResponseBytes = maxResponseBytes
        self.limit = ConcurrencyLimit(concurrency)
        self.displayName = LLMTransport.host(of: base)
        self.saver = OutputSaver(http: http, provider: "the Cog server at \(displayName)", retry: retry)
    }

    /// host:port only: a COG_URL may carry credentials (`https://user:pass@host`), which never reach a message.
    let displayName: String

    public var description: String { "CogClient(\(displayName))" }

    // MARK: - PredictionBackend

    public func run(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult {
        try await limit.withPermit { try await runHoldingPermit(call, observer: observer) }
    }

    private func runHoldingPermit(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult {
        guard URL(string: baseURL)?.host != nil else { throw ReelError(.badInput, "COG_URL is not a Cog server URL (http://host:port)") }
        do { try FileManager.default.createDirectory(atPath: call.outputDirectory, withIntermediateDirectories: true) }
        catch { throw ReelError(.outputNotWritable, "cannot create the folder '\(call.outputDirectory)'", cause: error) }
        var input = call.input
        for (name, paths) in call.files.sorted(by: { $0.key < $1.key }) {
            let values = try paths.map { try Self.fileInput($0) }
            input[name] = values.count == 1 ? values[0] : .array(values)
        }
        try await waitUntilReady()

        let id = call.resumeId.flatMap { $0.isEmpty ? nil : $0 } ?? Self.newPredictionId()
        // The id is ours: the caller records it before anything is sent, so a crash at any later point can resume
        // (re-attach to) this same prediction instead of starting another.
        try await observer.created(predictionId: id)
        let final: JSONValue
        do {
            final = try await predict(id, input: input, model: call.model, deadline: .now + predictionTimeout)
        } catch {
            if error is CancellationError || Task.isCancelled {
                // The caller's task is cancelled, so anything awaited in it would be cancelled at once: the cancel
                // request goes out from a fresh task (which does not inherit the cancellation), bounded by ~10 s.
                let task = Task { try? await self.cancelPrediction(id, timeout: .seconds(8)) }
                let watchdog = Task { try await Task.sleep(for: .seconds(10)); task.cancel() }
                _ = await task.value
                watchdog.cancel()
                throw CancellationError()
            }
            throw error
        }
        return try await outputs(of: final, id: id, call: call)
    }

    public func inputSchema(model: String) async throws -> ModelInputSchema {
        if let cached = await state.schema { return cached }
        try await waitUntilReady()
        var attempt = 0
        var last = ""
        while attempt < retry.maxAttempts {
            attempt += 1
            do {
                let response = try await send(.GET, "/openapi.json", timeout: .seconds(30))
                if response.status == 200, let document = try? JSONValue.parse(response.body) {
                    guard var schema = ModelInputSchema.fromOpenAPI(document) else {
                        throw ReelError(.providerFailed, "the Cog server at \(displayName) publishes no input schema (components.schemas.Input)")
                    }
                    // Cog names no version: its OpenAPI document stands for the model behind the URL.
                    schema.version = "openapi-" + String(ContentHash.sha256(document.canonicalData()).prefix(16))
                    await state.setSchema(schema)
                    return schema
                }
                last = "HTTP \(response.status)"
                if (400..<500).contains(response.status) { break }
            } catch let error as ProviderHTTPError {
                last = error.description
            }
            if attempt < retry.maxAttempts { try await retry.sleep(afterAttempt: attempt) }
        }
        throw ReelError(.providerUnavailable, "could not read the input schema of the Cog server at \(displayName) (\(last))")
    }

    /// Cancels a running prediction (used when a job is canceled). An unknown or finished id is not an error.
    public func cancel(predictionId: String) async throws {
        try await cancelPrediction(predictionId, timeout: .seconds(30))
    }

    // MARK: - Predicting

    /// `PUT /predictions/{id}` until it answers with a terminal prediction: the same id is sent again after network
    /// errors, 5xx and timeouts (which re-attaches), and after 409 once the server has a free slot.
    private func predict(_ id: String, input: [String: JSONValue], model: String, deadline: ContinuousClock.Instant) async throws -> JSONValue {
        let body: JSONValue = ["id": .string(id), "input": .object(input)]
        let path = "/predictions/\(id)"
        var failures = 0
        while true {
            let remaining = (deadline - ContinuousClock.now).seconds
            if remaining <= 0 {
                try? await cancelPrediction(id, timeout: .seconds(10))
                throw ReelError(.providerUnavailable, "prediction \(id) on the Cog server at \(displayName) did not finish in \(PredictionOutput.describe(seconds: predictionTimeout.seconds)); it was canceled")
            }
            var failure: String
            do {
                let response = try await send(.PUT, path, json: body, timeout: .seconds(remaining), maxBytes: maxResponseBytes)
                switch response.status {
                case 200..<300:
                    if let p = try? JSONValue.parse(response.body) {
                        if let status = p["status"]?.stringValue, Self.terminal.contains(status) { return p }
                        // Answered before the end (an async-style 202): re-attach shortly with the same PUT.
                        try await Task.sleep(for: healthInterval)
                        continue
                    }
                    failure = "an unreadable answer"
                case 409:
                    // Every slot is busy with other work: wait for the server to say READY, then try again.
                    try await waitForFreeSlot(deadline: deadline)
                    continue
                case 422:
                    let detail = PredictionOutput.problemDetail(response.body).map { ": \($0)" } ?? ""
                    throw ReelError(.providerRejected, "the Cog server at \(displayName) rejected the input\(detail)")
                case 500...:
                    failure = "HTTP \(response.status)"
                default:
                    let detail = PredictionOutput.problemDetail(response.body).map { ": \($0)" } ?? ""
                    throw ReelError(.providerRejected, "the Cog server at \(displayName) refused the prediction (HTTP \(response.status))\(detail)")
                }
            } catch let error as ProviderHTTPError {
                switch error {
                case .bodyTooLarge:
                    throw ReelError(.providerFailed, "the answer of the Cog server at \(displayName) for prediction \(id) was too large (\(error))")
                case .timedOut:
                    // A long prediction outlives the HTTP client's read timeout (90 s for `HTTPClient.shared`): the
                    // held PUT is not a failure, so re-attach with the same PUT (bounded by the prediction deadline).
                    continue
                default:
                    failure = error.description
                }
            }
            failures += 1
            guard failures < retry.maxAttempts else {
                throw ReelError(.providerUnavailable, "the Cog server at \(displayName) did not complete prediction \(id) after \(failures) attempts (last: \(failure))")
            }
            try await retry.sleep(afterAttempt: failures)
        }
    }

    static let terminal: Set<String> = ["succeeded", "failed", "canceled"]

    private func outputs(of prediction: JSONValue, id: String, call: PredictionCall) async throws -> PredictionResult {
        let metrics = prediction["metrics"]?.objectValue ?? [:]
        switch prediction["status"]?.stringValue ?? "" {
        case "succeeded": break
        case "failed":
            let why = prediction["error"]?.stringValue.map { PredictionOutput.trimmed($0) } ?? "no error message"
            throw ReelError(.providerFailed, "the model on the Cog server at \(displayName) failed (prediction \(id)): \(why)")
        default:
            throw ReelError(.providerFailed, "prediction \(id) on the Cog server at \(displayName) was canceled")
        }
        let output = prediction["output"]
        if call.expectedOutput == .text {
            guard let text = PredictionOutput.text(output) else {
                throw ReelError(.providerFailed, "the Cog server at \(displayName) returned no text (prediction \(id))")
            }
            return PredictionResult(id: id, files: [], text: text, metrics: metrics)
        }
        let sources = PredictionOutput.fileSources(output)
        guard !sources.isEmpty else {
            throw ReelError(.providerFailed, "the Cog server at \(displayName) returned no output file (prediction \(id)); expected \(PredictionOutput.kindName(call.expectedOutput))")
        }
        switch try await saver.save(sources, predictionId: id, kind: call.expectedOutput, into: call.outputDirectory, headers: { _ in HTTPHeaders() }) {
        case .files(let files): return PredictionResult(id: id, files: files, text: nil, metrics: metrics)
        case .gone: throw ReelError(.providerFailed, "the output of prediction \(id) expired before it was downloaded")
        }
    }

    // MARK: - Health

    private func waitUntilReady() async throws {
        if await state.isReady { return }
        let deadline = ContinuousClock.now + readyTimeout
        var last = "no answer"
        while true {
            if let status = try await health() {
                switch status {
                case "READY", "BUSY":
                    await state.markReady()
                    return
                case "SETUP_FAILED", "DEFUNCT":
                    // Setup logs are not quoted: they may hold anything the model printed, secrets included.
                    throw ReelError(.providerUnavailable, "the Cog server at \(displayName) failed its setup (\(status))")
                default: last = status
                }
            } else {
                last = "not reachable yet"
            }
            guard ContinuousClock.now < deadline else {
                throw ReelError(.providerUnavailable, "the Cog server at \(displayName) was not ready after \(PredictionOutput.describe(seconds: readyTimeout.seconds)) (last: \(last))")
            }
            try await Task.sleep(for: healthInterval)
        }
    }

    /// After a 409: waits until health says READY (a slot is free), or the deadline.
    private func waitForFreeSlot(deadline: ContinuousClock.Instant) async throws {
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: healthInterval)
            let status = try await health()
            if status == "READY" { return }
            if status == "SETUP_FAILED" || status == "DEFUNCT" {
                throw ReelError(.providerUnavailable, "the Cog server at \(displayName) failed (\(status!))")
            }
        }
    }

    /// The `status` of `/health-check`; `nil` when the server cannot be reached (connection refused while it boots).
    private func health() async throws -> String? {
        do {
            let response = try await send(.GET, "/health-check", timeout: .seconds(10))
            guard response.status == 200, let json = try? JSONValue.parse(response.body) else { return "HTTP \(response.status)" }
            return json["status"]?.stringValue ?? "no status"
        } catch is ProviderHTTPError {
            return nil
        }
    }

    // MARK: - Requests

    private func send(_ method: HTTPMethod, _ path: String, json: JSONValue? = nil, timeout: Duration, maxBytes: Int? = nil) async throws -> ProviderResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "reelsmith")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json.canonicalData()))
        }
        return try await http.send(request, timeout: timeout, maxBytes: maxBytes)
    }

    private func cancelPrediction(_ id: String, timeout: Duration) async throws {
        let response = try await send(.POST, "/predictions/\(id)/cancel", timeout: timeout)
        guard (200..<300).contains(response.status) || response.status == 404 else {
            throw ReelError(.providerUnavailable, "the Cog server at \(displayName) did not cancel prediction \(id) (HTTP \(response.status))")
        }
    }

    /// A local file as a `data:` URI input.
    static func fileInput(_ path: String) throws -> JSONValue {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value else {
            throw ReelError(.fileNotFound, "the input file '\(path)' does not exist")
        }
        guard size <= inputFileLimit else {
            throw ReelError(.providerRejected, "'\((path as NSString).lastPathComponent)' (\(size >> 20) MB) is too large to send to a Cog server (100 MB)")
        }
        do { return .string(try MediaType.dataURI(ofFile: path)) }
        catch { throw ReelError(.fileNotFound, "the input file '\(path)' cannot be read", cause: error) }
    }

    /// 26 lowercase base32 characters from a random UUID (the form Cog suggests).
    static func newPredictionId() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        let u = UUID().uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        var out = ""
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }
}

/// What a Cog client instance remembers: whether the server was ready once, and its schema.
actor CogState {
    private(set) var isReady = false
    private(set) var schema: ModelInputSchema?
    func markReady() { isReady = true }
    func setSchema(_ schema: ModelInputSchema) { self.schema = schema }
}
