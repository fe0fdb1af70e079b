import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import ReelCore
import ReelMedia

/// Runs predictions on Replicate (https://replicate.com/docs/reference/http; `../shared/reference/replicate-api.md`).
///
/// Money is the first concern: Replicate has no idempotency key, so a create that may have reached the server (a
/// dropped connection, a timeout, a 5xx, an unreadable answer) is never simply repeated. The client first lists the
/// predictions created since just before it sent the request and adopts one whose model and input are the ones sent;
/// only when none shows up (twice) does it create again. A 429 is repeated after `Retry-After`: Replicate did not run it.
///
/// The API token goes only to the configured base URL's host; it never appears in an error, a log line or a
/// description of this value.
public struct ReplicateClient: PredictionBackend, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let baseURL: String
    public let http: ProviderHTTP
    public let retry: RetryPolicy
    public let pollInterval: (initial: Double, max: Double)
    /// Seconds a create waits for the result (`Prefer: wait=N`, 1...60); 0 sends no `Prefer` header.
    public let waitSeconds: Int
    /// How long a prediction may take before it is canceled and the call fails.
    public let predictionTimeout: Duration

    private let token: APIToken
    private let origin: Origin?
    private let limiter: RateLimiter
    private let limit: ConcurrencyLimit
    private let state = ReplicateState()
    private let saver: OutputSaver

    /// Largest file sent inline as a `data:` URI; bigger ones go through the Files API.
    public static let dataURILimit: Int64 = 256 << 10
    /// The Files API's documented limit.
    public static let uploadLimit: Int64 = 100 << 20

    public init(token: String, baseURL: String = "https://api.replicate.com", http: ProviderHTTP = ProviderHTTP(),
                retry: RetryPolicy = RetryPolicy(), limiter: RateLimiter = RateLimiter(), concurrency: Int = 4,
                pollInterval: (initial: Double, max: Double) = (0.5, 5), waitSeconds: Int = 60,
                predictionTimeout: Duration = .seconds(30 * 60)) {
        self.token = APIToken(token)
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.origin = Origin(base)
        self.http = http
        self.retry = retry
        self.limiter = limiter
        self.limit = ConcurrencyLimit(concurrency)
        self.pollInterval = (max(0.001, pollInterval.initial), max(pollInterval.initial, pollInterval.max))
        self.waitSeconds = min(60, max(0, waitSeconds))
        self.predictionTimeout = predictionTimeout
        self.saver = OutputSaver(http: http, provider: "Replicate", retry: retry)
    }

    public var description: String { "ReplicateClient(\(baseURL))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": baseURL], displayStyle: .struct) }

    // MARK: - PredictionBackend

    public func run(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult {
        try await limit.withPermit { try await runHoldingPermit(call, observer: observer) }
    }

    private func runHoldingPermit(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult {
        let ref = try ModelRef(call.model)
        do { try FileManager.default.createDirectory(atPath: call.outputDirectory, withIntermediateDirectories: true) }
        catch { throw ReelError(.outputNotWritable, "cannot create the folder '\(call.outputDirectory)'", cause: error) }

        if let resumeId = call.resumeId, !resumeId.isEmpty {
            if let result = try await resume(resumeId, call: call, observer: observer) { return result }
            // The earlier prediction is gone, failed, was canceled, or its outputs were deleted (Replicate keeps the
            // outputs of API predictions for an hour): the only way to get a result is to create a NEW prediction,
            // which is a new charge. The caller asked for this call to complete, so it accepts that charge.
        }

        var input = call.input
        for (name, paths) in call.files.sorted(by: { $0.key < $1.key }) {
            var values: [JSONValue] = []
            for path in paths { values.append(try await fileInput(path)) }
            input[name] = values.count == 1 ? values[0] : .array(values)
        }
        let deadline = ContinuousClock.now + predictionTimeout
        // A killed run may have created this prediction without learning its id: adopt it rather than pay again.
        if let since = call.mayExistSince, let found = try await findCreated(since: since, ref: ref, input: input),
           let id = found["id"]?.stringValue, !["failed", "canceled", "aborted"].contains(found["status"]?.stringValue ?? "") {
            let final = try await follow(id, first: found, model: call.model, observer: observer, deadline: deadline)
            if final["status"]?.stringValue == "succeeded" { return try await paidOutputs(of: final, id: id, call: call) }
        }
        try await observer.creating(at: Date())
        let prediction = try await create(ref, input: input, model: call.model)
        guard let id = prediction["id"]?.stringValue else { throw fail(.providerFailed, "Replicate answered without a prediction id") }
        let final = try await follow(id, first: prediction, model: call.model, observer: observer, deadline: deadline)
        return try await paidOutputs(of: final, id: id, call: call)
    }

    /// The outputs of a followed prediction. A prediction that succeeded was paid for: if its output cannot be had,
    /// the error says so (`.outputLost`) so the caller meters the charge before anything is tried again.
    private func paidOutputs(of final: JSONValue, id: String, call: PredictionCall) async throws -> PredictionResult {
        let succeeded = final["status"]?.stringValue == "succeeded"
        do {
            guard let result = try await outputs(of: final, call: call) else {
                throw fail(succeeded ? .outputLost : .providerFailed, "the output of prediction \(id) expired before it was downloaded")
            }
            return result
        } catch let e as ReelError where succeeded && e.code != .outputLost && e.code != .cancelled {
            throw ReelError(.outputLost, e.message, cause: e)
        } catch where succeeded && (error is CancellationError || (error as? ReelError)?.code == .cancelled) {
            throw ChargedCancellation(predictionId: id)
        }
    }

    public func inputSchema(model: String) async throws -> ModelInputSchema {
        if let cached = await state.schema(model) { return cached }
        let ref = try ModelRef(model)
        let document: JSONValue?
        var version: String?
        switch ref {
        case .official(let owner, let name):
            guard let m = try await getJSON(url("/v1/models/\(owner)/\(name)"), what: "model '\(model)'") else {
                throw fail(.providerRejected, "Replicate has no model '\(model)'")
            }
            document = m["latest_version"]?["openapi_schema"]
            version = m["latest_version"]?["id"]?.stringValue
        case .version(let id, let owner?, let name?):
            version = id
            guard let v = try await getJSON(url("/v1/models/\(owner)/\(name)/versions/\(id)"), what: "model '\(model)'") else {
                throw fail(.providerRejected, "Replicate has no model version '\(model)'")
            }
            document = v["openapi_schema"]
        case .version(_, _, _):
            // A bare version id names no model, and Replicate has no endpoint to read a version without its model.
            // An empty schema means "unknown: do not validate against it" (a real model always has inputs).
            return ModelInputSchema(properties: [:], required: [])
        case .deployment(let owner, let name):
            document = try await deploymentSchema(owner: owner, name: name)
            if document == nil { return ModelInputSchema(properties: [:], required: []) }
        }
        guard let document, var schema = ModelInputSchema.fromOpenAPI(document) else {
            throw fail(.providerFailed, "Replicate published no input schema for '\(model)'")
        }
        schema.version = version
        await state.setSchema(schema, for: model)
        return schema
    }

    /// Cancels a prediction (used when a job is canceled). A prediction that already finished is left as it is.
    public func cancel(predictionId: String) async throws {
        try await cancel(predictionId: predictionId, timeout: .seconds(30))
    }

    // MARK: - Creating

    /// Creates the prediction; see the type's comment for what happens when the answer is lost.
    private func create(_ ref: ModelRef, input: [String: JSONValue], model: String) async throws -> JSONValue {
        var body: [String: JSONValue] = ["input": .object(input)]
        if let version = ref.bodyVersion { body["version"] = .string(version) }
        let endpoint = url(ref.createPath)
        var firstSent: Date?
        var attempt = 0
        do {
            while true {
                attempt += 1
                if firstSent == nil { firstSent = Date() }
                var lost: String
                do {
                    let response = try await request(.POST, endpoint, json: .object(body), prefer: waitSeconds > 0 ? "wait=\(waitSeconds)" : nil,
                                                     kind: .create, timeout: .seconds(Double(waitSeconds) + 30))
                    switch response.status {
                    case 200..<300:
                        if let p = try? JSONValue.parse(response.body), let id = p["id"]?.stringValue, !id.isEmpty {
                            await state.claim(id)
                            return p
                        }
                        lost = "an unreadable answer (HTTP \(response.status))"
                    case 429:
                        // Throttled requests were not executed: repeating them cannot create a second prediction.
                        guard attempt < retry.maxAttempts else {
                            throw fail(.providerUnavailable, "Replicate kept throttling the prediction for '\(model)' (HTTP 429 \(attempt) times)")
                        }
                        try await retry.sleep(afterAttempt: attempt, retryAfter: response.header("retry-after"))
                        continue
                    case 401, 403: throw authError(response.status)
                    case 404: throw fail(.providerRejected, "Replicate has no model '\(model)'")
                    case 500...: lost = "HTTP \(response.status)"
                    default:
                        let detail = PredictionOutput.problemDetail(response.body).map { ": \($0)" } ?? ""
                        throw fail(.providerRejected, "Replicate refused the prediction for '\(model)' (HTTP \(response.status))\(detail)")
                    }
                } catch let error as ProviderHTTPError {
                    lost = error.description
                }
                // The request may have created a prediction: look for it before anything is sent again.
                if let found = try await findCreated(since: firstSent!, ref: ref, input: input) { return found }
                try await Task.sleep(for: .seconds(max(0.01, retry.baseDelay * 2)))
                if let found = try await findCreated(since: firstSent!, ref: ref, input: input) { return found }
                guard attempt < retry.maxAttempts else {
                    throw fail(.providerUnavailable, "Replicate did not create the prediction for '\(model)' after \(attempt) attempts (last: \(lost))")
                }
                try await retry.sleep(afterAttempt: attempt)
            }
        } catch {
            if let firstSent, error is CancellationError || Task.isCancelled {
                // Canceled while a create may be on its way (a `Prefer: wait` create is held open up to a minute):
                // find what it made and cancel that, so nobody pays for a prediction no one will read.
                await detached(timeout: .seconds(10)) {
                    if let p = try await self.findCreated(since: firstSent, ref: ref, input: input), let id = p["id"]?.stringValue {
                        try await self.cancel(predictionId: id, timeout: .seconds(5))
                    }
                }
                throw CancellationError()
            }
            throw error
        }
    }

    /// A recent prediction, not yet claimed by a call of this client, of the same model with the same input.
    private func findCreated(since sent: Date, ref: ModelRef, input: [String: JSONValue]) async throws -> JSONValue? {
        let since = sent.addingTimeInterval(await state.serverClockOffset - 5)
        var next: String? = url("/v1/predictions?created_after=\(Self.iso8601(since))")
        var pages = 0
        while let page = next, pages < 20 {
            pages += 1
            guard let list = try await getJSON(page, what: "the list of recent predictions") else { return nil }
            for candidate in list["results"]?.arrayValue ?? [] {
                guard let id = candidate["id"]?.stringValue, ref.matches(candidate), await !state.isClaimed(id) else { continue }
                var full = candidate
                if candidate["input"] == nil, let fetched = try await getJSON(predictionURL(id), what: "prediction \(id)") { full = fetched }
                if Self.inputsMatch(sent: input, seen: full["input"]), await state.claimIfFree(id) { return full }
            }
            // `next` is an absolute URL; the token is only ever sent to the configured host.
            next = list["next"]?.stringValue.flatMap { origin?.owns($0) == true ? $0 : nil }
        }
        return nil
    }

    /// Inputs as sent against inputs as listed: equal JSON values, except that where a `data:` URI was sent any string
    /// is accepted (Replicate may store an inline file and show its URL instead).
    static func inputsMatch(sent: [String: JSONValue], seen: JSONValue?) -> Bool {
        guard let seen = seen?.objectValue, Set(seen.keys) == Set(sent.keys) else { return false }
        return sent.allSatisfy { key, value in seen[key].map { valuesMatch(value, $0) } ?? false }
    }

    private static func valuesMatch(_ sent: JSONValue, _ seen: JSONValue) -> Bool {
        switch (sent, seen) {
        case (.string(let a), .string(let b)): return a == b || a.hasPrefix("data:")
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { valuesMatch($0, $1) }
        case (.object(let a), .object): return inputsMatch(sent: a, seen: seen)
        case (.number(let a), .number(let b)): return a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        default: return sent == seen
        }
    }

    // MARK: - Following

    /// Tells the observer the id, then follows the prediction to a terminal status. Cancels it on Replicate when the
    /// caller's task is cancelled or the observer refuses it.
    private func follow(_ id: String, first: JSONValue?, model: String, observer: any PredictionObserver,
                        deadline: ContinuousClock.Instant) async throws -> JSONValue {
        do {
            do { try await observer.created(predictionId: id) }
            catch let error where !(error is CancellationError) {
                try? await cancel(predictionId: id, timeout: .seconds(10))
                throw error
            }
            return try await poll(id, first: first, model: model, deadline: deadline)
        } catch {
            if error is CancellationError || Task.isCancelled {
                // The caller's task is cancelled, so anything awaited in it is cancelled at once (AHC aborts the
                // request): the cancel goes out from a fresh task, which does not inherit the cancellation, bounded
                // by ~10 s so a dead network cannot hold up the caller's cancellation.
                let charged = await detached(timeout: .seconds(10)) { try await self.cancel(predictionId: id, timeout: .seconds(8)) }
                if charged == true { throw ChargedCancellation(predictionId: id) }
                throw CancellationError()
            }
            throw error
        }
    }

    /// Polls until a terminal status (backing off from `pollInterval.initial` to `.max`).
    private func poll(_ id: String, first: JSONValue?, model: String, deadline: ContinuousClock.Instant) async throws -> JSONValue {
        var current = first
        var delay = pollInterval.initial
        while true {
            if let p = current, let status = p["status"]?.stringValue, Self.terminal.contains(status) { return p }
            if ContinuousClock.now >= deadline {
                try? await cancel(predictionId: id, timeout: .seconds(10))
                throw fail(.providerUnavailable, "prediction \(id) of '\(model)' on Replicate did not finish in \(PredictionOutput.describe(seconds: predictionTimeout.seconds)); it was canceled")
            }
            let remaining = (deadline - ContinuousClock.now).seconds
            try await Task.sleep(for: .seconds(max(0, min(delay, remaining))))
            delay = min(pollInterval.max, delay * 1.5)
            // The URL is built from the base URL, never taken from `urls.get` (which could name another host).
            guard let next = try await getJSON(predictionURL(id), what: "prediction \(id)") else {
                throw fail(.providerFailed, "prediction \(id) of '\(model)' disappeared from Replicate (404)")
            }
            current = next
        }
    }

    static let terminal: Set<String> = ["succeeded", "failed", "canceled", "aborted"]

    /// A terminal prediction's result; `nil` when it succeeded but its outputs are gone.
    private func outputs(of prediction: JSONValue, call: PredictionCall) async throws -> PredictionResult? {
        let id = prediction["id"]?.stringValue ?? "?"
        let metrics = prediction["metrics"]?.objectValue ?? [:]
        switch prediction["status"]?.stringValue ?? "" {
        case "succeeded": break
        case "failed":
            let why = prediction["error"]?.stringValue.map { PredictionOutput.trimmed($0) } ?? "no error message"
            throw fail(.providerFailed, "'\(call.model)' failed on Replicate (prediction \(id)): \(why)")
        case let status:
            throw fail(.providerFailed, "prediction \(id) of '\(call.model)' ended '\(status)' on Replicate without a result")
        }
        let removed = prediction["data_removed"]?.boolValue == true
        let output = prediction["output"]
        if call.expectedOutput == .text {
            if let text = PredictionOutput.text(output) { return PredictionResult(id: id, files: [], text: text, metrics: metrics) }
            if removed || output == nil || output == .null { return nil }
            throw fail(.providerFailed, "'\(call.model)' returned no text (prediction \(id))")
        }
        if removed { return nil }
        let sources = PredictionOutput.fileSources(output)
        if sources.isEmpty {
            if output == nil || output == .null { return nil }
            throw fail(.providerFailed, "'\(call.model)' returned no output file (prediction \(id)); expected \(PredictionOutput.kindName(call.expectedOutput))")
        }
        let origin = self.origin
        let auth = "Bearer \(token.value)"
        let saved = try await saver.save(sources, predictionId: id, kind: call.expectedOutput, into: call.outputDirectory) { url in
            // Output URLs are capability URLs: fetched without the token, unless they are on the API host itself
            // (Files API URLs), the only host that may see it.
            origin?.owns(url) == true ? HTTPHeaders([("Authorization", auth)]) : HTTPHeaders()
        }
        switch saved {
        case .files(let files): return PredictionResult(id: id, files: files, text: nil, metrics: metrics)
        case .gone: return nil
        }
    }

    /// Follows the prediction an earlier attempt created; `nil` when a new one is needed (unknown, failed, canceled,
    /// or its outputs were deleted).
    private func resume(_ id: String, call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult? {
        guard let prediction = try await getJSON(predictionURL(id), what: "prediction \(id)") else { return nil }
        if let status = prediction["status"]?.stringValue, status != "succeeded", Self.terminal.contains(status) { return nil }
        await state.claim(id)
        let final = try await follow(id, first: prediction, model: call.model, observer: observer, deadline: .now + predictionTimeout)
        guard final["status"]?.stringValue == "succeeded" else { return nil }
        return try await outputs(of: final, call: call)
    }

    // MARK: - Files

    /// A local file as an input value: a `data:` URI when small, else the URL of an upload (once per content).
    private func fileInput(_ path: String) async throws -> JSONValue {
        let size: Int64
        do { size = try (FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0 }
        catch { throw ReelError(.fileNotFound, "the input file '\(path)' does not exist") }
        if size > Self.uploadLimit {
            throw fail(.providerRejected, "'\((path as NSString).lastPathComponent)' (\(size >> 20) MB) is too large for Replicate's Files API (100 MB)")
        }
        if size <= Self.dataURILimit {
            do { return .string(try MediaType.dataURI(ofFile: path)) }
            catch { throw ReelError(.fileNotFound, "the input file '\(path)' cannot be read", cause: error) }
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) }
        catch { throw ReelError(.fileNotFound, "the input file '\(path)' cannot be read", cause: error) }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let url = try await state.uploaded(digest) { try await self.upload(data, name: (path as NSString).lastPathComponent, mime: MediaType.mime(forPath: path)) }
        return .string(url)
    }

    /// `POST /v1/files` (multipart, part `content`); returns `urls.get` and when the file expires.
    private func upload(_ data: Data, name: String, mime: String) async throws -> (url: String, expires: Date?) {
        let boundary = "reelsmith-\(UUID().uuidString)"
        let safeName = name.replacingOccurrences(of: "\"", with: "_").replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "")
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"content\"; filename=\"\(safeName)\"\r\nContent-Type: \(mime)\r\n\r\n".utf8)
        body.append(data)
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        var attempt = 0
        while true {
            attempt += 1
            var failure: String
            var retryAfter: String?
            do {
                // Repeating an upload is harmless (a second stored copy costs nothing), so it is retried like a GET.
                let response = try await request(.POST, url("/v1/files"), body: body, contentType: "multipart/form-data; boundary=\(boundary)",
                                                 kind: .other, timeout: .seconds(300))
                switch response.status {
                case 200..<300:
                    if let file = try? JSONValue.parse(response.body), let get = file["urls"]?["get"]?.stringValue {
                        return (get, file["expires_at"]?.stringValue.flatMap(Self.parseDate))
                    }
                    failure = "an unreadable answer"
                case 401, 403: throw authError(response.status)
                case 429, 500...:
                    failure = "HTTP \(response.status)"
                    retryAfter = response.header("retry-after")
                default:
                    let detail = PredictionOutput.problemDetail(response.body).map { ": \($0)" } ?? ""
                    throw fail(.providerRejected, "Replicate refused the upload of '\(safeName)' (HTTP \(response.status))\(detail)")
                }
            } catch let error as ProviderHTTPError {
                failure = error.description
            }
            guard attempt < retry.maxAttempts else {
                throw fail(.providerUnavailable, "could not upload '\(safeName)' to Replicate after \(attempt) attempts (\(failure))")
            }
            try await retry.sleep(afterAttempt: attempt, retryAfter: retryAfter)
        }
    }

    private func deploymentSchema(owner: String, name: String) async throws -> JSONValue? {
        // `GET /v1/deployments/{owner}/{name}` → `current_release.{model, version}` → that version's schema. The
        // deployment API is less certain than the model API, so anything but a refused token gives "unknown" (nil).
        do {
            guard let d = try await getJSON(url("/v1/deployments/\(owner)/\(name)"), what: "deployment '\(owner)/\(name)'"),
                  let release = d["current_release"], let model = release["model"]?.stringValue,
                  let version = release["version"]?.stringValue,
                  let v = try await getJSON(url("/v1/models/\(model)/versions/\(version)"), what: "model '\(model)'") else { return nil }
            return v["openapi_schema"]
        } catch let error as ReelError where error.code != .providerAuth {
            return nil
        }
    }

    // MARK: - Requests

    private func url(_ path: String) -> String { baseURL + path }
    private func predictionURL(_ id: String) -> String {
        url("/v1/predictions/\(id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id)")
    }

    /// One authenticated request to the API host. Never retries (callers decide).
    private func request(_ method: HTTPMethod, _ url: String, json: JSONValue? = nil, body: Data? = nil, contentType: String? = nil,
                         prefer: String? = nil, kind: RateLimiter.Kind, timeout: Duration) async throws -> ProviderResponse {
        guard let origin, origin.owns(url) else {
            throw fail(.internalError, "refusing to send the Replicate token to a host other than \(origin?.description ?? "an invalid base URL '\(baseURL)'")")
        }
        try await limiter.acquire(kind)
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "reelsmith")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json.canonicalData()))
        } else if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let prefer { request.headers.add(name: "Prefer", value: prefer) }
        let response = try await http.send(request, timeout: timeout)
        // Server clock minus ours, measured when the answer arrives (a `Prefer: wait` create is held open up to a
        // minute, so the send time would be wrong). `Date` has whole seconds and arrives late, so this errs towards
        // an earlier `created_after`, the safe side when looking for a prediction that may exist.
        if let date = response.header("date"), let server = RetryPolicy.parseHTTPDate(date) {
            await state.setServerClockOffset(server.timeIntervalSince(Date()))
        }
        return response
    }

    /// GET with retries on 429, 5xx, network errors and unreadable JSON; `nil` on 404/410.
    private func getJSON(_ url: String, what: String) async throws -> JSONValue? {
        var attempt = 0
        var last = ""
        while attempt < retry.maxAttempts {
            attempt += 1
            var retryAfter: String?
            do {
                let response = try await request(.GET, url, kind: .other, timeout: .seconds(60))
                switch response.status {
                case 200..<300:
                    if let value = try? JSONValue.parse(response.body) { return value }
                    last = "an unreadable answer"
                case 404, 410: return nil
                case 401, 403: throw authError(response.status)
                case 429, 500...:
                    last = "HTTP \(response.status)"
                    retryAfter = response.header("retry-after")
                default:
                    let detail = PredictionOutput.problemDetail(response.body).map { ": \($0)" } ?? ""
                    throw fail(.providerRejected, "Replicate refused to read \(what) (HTTP \(response.status))\(detail)")
                }
            } catch let error as ProviderHTTPError {
                last = error.description
            }
            if attempt < retry.maxAttempts { try await retry.sleep(afterAttempt: attempt, retryAfter: retryAfter) }
        }
        throw fail(.providerUnavailable, "Replicate did not answer for \(what) after \(attempt) attempts (last: \(last))")
    }

    /// True when the prediction had already succeeded (Replicate answers a cancel with the prediction): it is charged.
    @discardableResult
    private func cancel(predictionId id: String, timeout: Duration) async throws -> Bool {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await request(.POST, predictionURL(id) + "/cancel", kind: .other, timeout: timeout)
                switch response.status {
                case 200..<300: return (try? JSONValue.parse(response.body))?["status"]?.stringValue == "succeeded"
                case 404, 409, 422: return false   // unknown, or already finished
                case 401, 403: throw authError(response.status)
                default:
                    guard attempt < 2 else { throw fail(.providerUnavailable, "Replicate did not cancel prediction \(id) (HTTP \(response.status))") }
                }
            } catch let error as ProviderHTTPError {
                guard attempt < 2 else { throw fail(.providerUnavailable, "Replicate did not cancel prediction \(id) (\(error))") }
            }
            try await Task.sleep(for: .seconds(min(1, retry.baseDelay)))
        }
    }

    /// Runs `work` in a task that does not inherit the caller's cancellation, waiting at most `timeout` for it.
    @discardableResult
    private func detached<T: Sendable>(timeout: Duration, _ work: @escaping @Sendable () async throws -> T) async -> T? {
        let task = Task { try await work() }
        let watchdog = Task { try await Task.sleep(for: timeout); task.cancel() }
        let result = await task.result
        watchdog.cancel()
        return try? result.get()
    }

    private func authError(_ status: Int) -> ReelError {
        ReelError(.providerAuth, "Replicate refused the API token (\(status)); check REPLICATE_API_TOKEN")
    }

    /// An error whose text is scrubbed of the token, whatever a server echoed.
    private func fail(_ code: ReelError.Code, _ message: String) -> ReelError {
        ReelError(code, token.redact(message))
    }

    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    /// RFC 3339 with any number of fraction digits (Replicate sends micro- and nanoseconds).
    static func parseDate(_ text: String) -> Date? {
        var s = text
        var fraction = 0.0
        if let dot = s.firstIndex(of: ".") {
            let digitsEnd = s[dot...].dropFirst().firstIndex { !$0.isNumber } ?? s.endIndex
            fraction = Double("0" + s[dot..<digitsEnd]) ?? 0
            s.removeSubrange(dot..<digitsEnd)
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s).map { $0.addingTimeInterval(fraction) }
    }
}

/// How Replicate names a model in `PredictionCall.model`.
enum ModelRef: Sendable, Hashable {
    case official(owner: String, name: String)
    case version(id: String, owner: String?, name: String?)
    case deployment(owner: String, name: String)

    init(_ model: String) throws {
        let parts = model.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let valid = { (s: String) in !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }
        if Self.isVersionId(model) {
            self = .version(id: model.lowercased(), owner: nil, name: nil)
        } else if parts.count == 3, parts[0] == "deployments", valid(parts[1]), valid(parts[2]) {
            self = .deployment(owner: parts[1], name: parts[2])
        } else if parts.count == 2, let colon = parts[1].firstIndex(of: ":") {
            let name = String(parts[1][..<colon]), version = String(parts[1][parts[1].index(after: colon)...])
            guard valid(parts[0]), valid(name), !version.isEmpty, version.allSatisfy({ $0.isHexDigit }) else {
                throw ReelError(.unknownModel, "'\(model)' is not a Replicate model name (owner/name, owner/name:version or deployments/owner/name)")
            }
            self = .version(id: version.lowercased(), owner: parts[0], name: name)
        } else if parts.count == 2, valid(parts[0]), valid(parts[1]) {
            self = .official(owner: parts[0], name: parts[1])
        } else {
            throw ReelError(.unknownModel, "'\(model)' is not a Replicate model name (owner/name, owner/name:version or deployments/owner/name)")
        }
    }

    static func isVersionId(_ s: String) -> Bool { s.count == 64 && s.allSatisfy { $0.isHexDigit } }

    var createPath: String {
        switch self {
        case .official(let owner, let name): return "/v1/models/\(owner)/\(name)/predictions"
        case .version: return "/v1/predictions"
        case .deployment(let owner, let name): return "/v1/deployments/\(owner)/\(name)/predictions"
        }
    }

    /// The body's `version`: the version id (accepted by every form of the API).
    var bodyVersion: String? {
        if case .version(let id, _, _) = self { return id }
        return nil
    }

    /// Whether a listed prediction could be one this model made. A deployment's predictions show the underlying
    /// model, which the client does not know, so for deployments only the input tells.
    func matches(_ prediction: JSONValue) -> Bool {
        switch self {
        case .official(let owner, let name): return prediction["model"]?.stringValue.map { $0 == "\(owner)/\(name)" } ?? true
        case .version(let id, _, _): return prediction["version"]?.stringValue?.lowercased() == id
        case .deployment: return true
        }
    }
}

/// What a client instance remembers: uploads by content hash, schemas, prediction ids its calls own, clock skew.
actor ReplicateState {
    private var uploads: [String: Task<(url: String, expires: Date?), any Error>] = [:]
    private var schemas: [String: ModelInputSchema] = [:]
    private var claimed: Set<String> = []
    private(set) var serverClockOffset: TimeInterval = 0

    /// The URL of an upload of the content with this digest, uploading it (once, even for concurrent callers) if
    /// needed. Uploads expire (about a day); one close to expiring is uploaded again.
    func uploaded(_ digest: String, upload: @escaping @Sendable () async throws -> (url: String, expires: Date?)) async throws -> String {
        if let task = uploads[digest] {
            if let done = try? await task.value, (done.expires ?? .distantFuture).timeIntervalSinceNow > 3600 { return done.url }
            if uploads[digest] == task { uploads[digest] = nil }
            return try await uploaded(digest, upload: upload)
        }
        let task = Task { () async throws -> (url: String, expires: Date?) in
            var result = try await upload()
            if result.expires == nil { result.expires = Date().addingTimeInterval(23 * 3600) }
            return result
        }
        uploads[digest] = task
        do { return try await task.value.url }
        catch { if uploads[digest] == task { uploads[digest] = nil }; throw error }
    }

    func schema(_ model: String) -> ModelInputSchema? { schemas[model] }
    func setSchema(_ schema: ModelInputSchema, for model: String) { schemas[model] = schema }

    func claim(_ id: String) { claimed.insert(id) }
    func isClaimed(_ id: String) -> Bool { claimed.contains(id) }
    func claimIfFree(_ id: String) -> Bool { claimed.insert(id).inserted }

    func setServerClockOffset(_ offset: TimeInterval) { serverClockOffset = offset }
}

/// A credential that never prints itself.
struct APIToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let value: String
    init(_ value: String) { self.value = value.trimmingCharacters(in: .whitespacesAndNewlines) }
    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }
    var customMirror: Mirror { Mirror(self, children: [:]) }

    /// `text` with every occurrence of the token replaced.
    func redact(_ text: String) -> String {
        value.count >= 4 ? text.replacingOccurrences(of: value, with: "<redacted>") : text
    }
}

/// Scheme, host and port of a URL: the only place a credential may be sent.
struct Origin: Sendable, Hashable, CustomStringConvertible {
    let scheme: String
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host?.lowercased(), !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    func owns(_ url: String) -> Bool { Origin(url) == self }
    var description: String { "\(scheme)://\(host)" + ((scheme == "https" && port == 443) || (scheme == "http" && port == 80) ? "" : ":\(port)") }
}
