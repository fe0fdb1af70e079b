import Foundation
import ReelCore
import ReelMedia
@testable import ReelProviders
import ReelTestSupport
import Testing

/// Records the ids a backend announces.
actor RecordingObserver: PredictionObserver {
    private(set) var ids: [String] = []
    func created(predictionId: String) async throws { ids.append(predictionId) }

    /// Waits until an id was announced (or ~10 s).
    func firstId() async -> String? {
        for _ in 0..<1000 {
            if let id = ids.first { return id }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return ids.first
    }
}

/// The ReplicateClient against FakeReplicate: every create endpoint, waiting and polling, every injected fault, and
/// above all that no paid prediction is created twice by a retry.
@Suite struct ReplicateClientTests {
    static let token = "r8_fake_token"

    static let video = FakeModel(
        name: "acme/video",
        input: ["prompt": ["type": "string"], "duration": ["type": "integer", "default": 1, "minimum": 1, "maximum": 10],
                "image": ["type": "string", "format": "uri"],
                "aspect_ratio": ["allOf": [["$ref": "#/components/schemas/aspect_ratio"]], "default": "16:9"]],
        required: ["prompt"], output: .video, price: .perSecondOfOutput(0.1, durationInput: "duration"))
    static let image = FakeModel(
        name: "acme/image", input: ["prompt": ["type": "string"], "num_outputs": ["type": "integer", "default": 1]],
        required: ["prompt"], output: .image, price: .perImage(0.003), outputIsArray: true)
    static let llm = FakeModel(
        name: "acme/llm", input: ["prompt": ["type": "string"]], required: ["prompt"],
        output: .text("Four short chunks of text from the model"), price: .perMillionTokens(input: 1, output: 5))
    static let audio = FakeModel(
        name: "acme/music", input: ["prompt": ["type": "string"], "duration": ["type": "integer", "default": 1]],
        required: ["prompt"], output: .audio, price: .perSecondOfOutput(0.01, durationInput: "duration"))

    struct Setup {
        let fake: FakeReplicate
        let folder: String
    }

    static func start(processing: Double = 0.15) async throws -> Setup {
        let fake = try await FakeReplicate.start(token: token, models: [video, image, llm, audio],
                                                 deployments: ["acme/video-dep": "acme/video"])
        await fake.setLifecycle(starting: 0.03, processing: processing)
        return Setup(fake: fake, folder: try Fixtures.temporaryDirectory("replicate"))
    }

    static func client(_ fake: FakeReplicate, baseURL: String? = nil, token: String = token, wait: Int = 0, concurrency: Int = 4,
                       timeout: Duration = .seconds(60)) -> ReplicateClient {
        ReplicateClient(token: token, baseURL: baseURL ?? fake.baseURL,
                        retry: RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 0.05),
                        limiter: .unlimited(), concurrency: concurrency, pollInterval: (0.02, 0.05), waitSeconds: wait,
                        predictionTimeout: timeout)
    }

    static func videoCall(_ folder: String, prompt: String = "neon rain", model: String = "acme/video", resumeId: String? = nil) -> PredictionCall {
        PredictionCall(model: model, input: ["prompt": .string(prompt), "duration": 1], expectedOutput: .video,
                       outputDirectory: folder, resumeId: resumeId)
    }

    static func requests(_ fake: FakeReplicate, _ method: String, _ prefix: String) async -> [FakeRequestRecord] {
        await fake.requests.filter { $0.method == method && $0.path.hasPrefix(prefix) }
    }

    static func creates(_ fake: FakeReplicate) async -> Int {
        await fake.requests.filter { $0.method == "POST" && ($0.path.hasSuffix("/predictions") || $0.path == "/v1/predictions") }.count
    }

    // MARK: - Happy paths

    @Test func officialModelCreatesPollsAndDownloadsAProbedVideo() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let observer = RecordingObserver()
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: observer)

        #expect(await s.fake.predictionsCreated == 1)
        #expect(await Self.requests(s.fake, "POST", "/v1/models/acme/video/predictions").count == 1)
        #expect(await observer.ids == [result.id])
        #expect(await s.fake.prediction(result.id)?.status == "succeeded")
        #expect(result.files.count == 1)
        let info = try await MediaProbe().probe(result.files[0])
        #expect(info.video != nil && result.files[0].hasPrefix(s.folder) && result.files[0].hasSuffix(".mp4"))
        #expect(result.metrics["predict_time"] != nil)
        #expect(await Self.requests(s.fake, "GET", "/v1/predictions/\(result.id)").count >= 1)   // polled
        // Nothing but the result is left in the folder (no temporary download files).
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.folder) == [(result.files[0] as NSString).lastPathComponent])
        #expect(abs(await s.fake.bill - 0.1) < 1e-9)
        await s.fake.shutdown()
    }

    @Test func versionIdsCreateThroughPredictionsWithVersion() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake)
        for model in ["acme/image:\(Self.image.version)", Self.image.version] {
            let call = PredictionCall(model: model, input: ["prompt": "a red fox", "num_outputs": 2], expectedOutput: .image,
                                      outputDirectory: s.folder)
            let result = try await client.run(call, observer: RecordingObserver())
            #expect(result.files.count == 2)
            for file in result.files { #expect(try await MediaProbe().probe(file).isImage) }
        }
        let posts = await Self.requests(s.fake, "POST", "/v1/predictions")
        #expect(posts.count == 2)
        #expect(posts.allSatisfy { $0.json?["version"]?.stringValue == Self.image.version })
        #expect(await s.fake.predictionsCreated == 2)
        await s.fake.shutdown()
    }

    @Test func deploymentsCreateThroughTheDeploymentEndpoint() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder, model: "deployments/acme/video-dep"), observer: RecordingObserver())
        #expect(result.files.count == 1)
        #expect(await Self.requests(s.fake, "POST", "/v1/deployments/acme/video-dep/predictions").count == 1)
        #expect(await s.fake.predictionsCreated == 1)
        await s.fake.shutdown()
    }

    @Test func textOutputsJoinTheirChunks() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let call = PredictionCall(model: "acme/llm", input: ["prompt": "say something"], expectedOutput: .text, outputDirectory: s.folder)
        let result = try await Self.client(s.fake, wait: 5).run(call, observer: RecordingObserver())
        #expect(result.text == "Four short chunks of text from the model")
        #expect(result.files.isEmpty)
        #expect(result.metrics["output_token_count"] != nil)
        await s.fake.shutdown()
    }

    @Test func audioOutputsAreProbedAsAudio() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let call = PredictionCall(model: "acme/music", input: ["prompt": "calm piano", "duration": 1], expectedOutput: .audio, outputDirectory: s.folder)
        let result = try await Self.client(s.fake).run(call, observer: RecordingObserver())
        #expect(try await MediaProbe().probe(result.files[0]).audio != nil)
        await s.fake.shutdown()
    }

    @Test func preferWaitReturnsTheFinishedPredictionWithoutPolling() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let result = try await Self.client(s.fake, wait: 10).run(Self.videoCall(s.folder), observer: RecordingObserver())
        let create = await Self.requests(s.fake, "POST", "/v1/models/acme/video/predictions")
        #expect(create.first?.header("Prefer") == "wait=10")
        #expect(await Self.requests(s.fake, "GET", "/v1/predictions/").isEmpty)
        #expect(result.files.count == 1)
        await s.fake.shutdown()
    }

    @Test func pollsWhenTheWaitExpires() async throws {
        let s = try await Self.start(processing: 1.5)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let result = try await Self.client(s.fake, wait: 1).run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(await Self.requests(s.fake, "GET", "/v1/predictions/\(result.id)").count >= 1)
        #expect(await s.fake.predictionsCreated == 1)
        #expect(result.files.count == 1)
        await s.fake.shutdown()
    }

    // MARK: - Faults: never two paid predictions

    @Test func throttledCreatesAreRepeatedAfterRetryAfter() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.throttle(retryAfter: 1), on: .create)
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(await Self.creates(s.fake) == 2)
        #expect(await s.fake.predictionsCreated == 1)
        #expect(await Self.requests(s.fake, "GET", "/v1/predictions").filter { $0.path == "/v1/predictions" }.isEmpty)   // no lookup needed
        #expect(result.files.count == 1)
        await s.fake.shutdown()
    }

    @Test func failedReadsAreRetried() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        // Four failures in a row (of five attempts per read), then a fifth a little later.
        await s.fake.inject(.serverError(503), on: .get)
        await s.fake.inject(.htmlErrorPage, on: .get)
        await s.fake.inject(.dropConnection, on: .get)
        await s.fake.inject(.malformedJSON, on: .get)
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(result.files.count == 1)
        #expect(await s.fake.predictionsCreated == 1)
        await s.fake.shutdown()
    }

    @Test func aCreateWhoseAnswerWasLostIsAdoptedNotRepeated() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.dropAfterCreate, on: .create)
        let observer = RecordingObserver()
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: observer)
        #expect(await s.fake.predictionsCreated == 1)
        #expect(await Self.creates(s.fake) == 1)
        #expect(await s.fake.predictionIds == [result.id])
        #expect(await observer.ids == [result.id])
        let lists = await s.fake.requests.filter { $0.method == "GET" && $0.path == "/v1/predictions" }
        #expect(lists.count >= 1 && lists.allSatisfy { $0.query["created_after"] != nil })
        #expect(result.files.count == 1)
        #expect(await s.fake.billablePredictions == 1)
        await s.fake.shutdown()
    }

    @Test func aServerErrorThenALostAnswerStillMakeOnePrediction() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        // 1st create: 500 (not executed) → nothing listed → created again; 2nd create: executed, answer lost → adopted.
        await s.fake.inject(.serverError(500), on: .create)
        await s.fake.inject(.dropAfterCreate, on: .create)
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(await s.fake.predictionsCreated == 1)
        #expect(await Self.creates(s.fake) == 2)
        #expect(await s.fake.billablePredictions == 1)
        #expect(result.files.count == 1)
        await s.fake.shutdown()
    }

    @Test func unreadableCreateAnswersAndDroppedRequestsNeverMakeTwoPredictions() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.malformedJSON, on: .create)     // executed, answer unreadable → adopted
        let first = try await Self.client(s.fake).run(Self.videoCall(s.folder, prompt: "one"), observer: RecordingObserver())
        #expect(await s.fake.predictionsCreated == 1)
        await s.fake.inject(.dropConnection, on: .create)    // not executed → not found → created once
        await s.fake.inject(.htmlErrorPage, on: .create)     // not executed → not found → created once
        let second = try await Self.client(s.fake).run(Self.videoCall(s.folder, prompt: "two"), observer: RecordingObserver())
        #expect(await s.fake.predictionsCreated == 2)
        #expect(first.id != second.id)
        await s.fake.shutdown()
    }

    @Test func identicalConcurrentCallsDoNotAdoptEachOthersPrediction() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake)
        let a = try await client.run(Self.videoCall(s.folder, prompt: "same"), observer: RecordingObserver())
        // Same model and input, and its answer is lost: the earlier prediction (already claimed) must not be taken.
        await s.fake.inject(.dropAfterCreate, on: .create)
        let b = try await client.run(Self.videoCall(s.folder, prompt: "same"), observer: RecordingObserver())
        #expect(a.id != b.id)
        #expect(await s.fake.predictionsCreated == 2)
        await s.fake.shutdown()
    }

    @Test func persistentServerErrorsOnCreateGiveUpWithoutDuplicates() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.serverError(502), on: .create, times: 10)
        await expectReelError(.providerUnavailable, "after 5 attempts") {
            _ = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        }
        #expect(await Self.creates(s.fake) == 5)
        #expect(await s.fake.predictionsCreated == 0)
        await s.fake.shutdown()
    }

    // MARK: - Failures

    @Test func aFailedPredictionIsProviderFailedWithTheModelsError() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.predictionFails("CUDA out of memory"), on: .create)
        let error = await expectReelError(.providerFailed, "CUDA out of memory") {
            _ = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        }
        #expect(error?.message.contains("acme/video") == true)
        #expect(await s.fake.predictionsCreated == 1)
        await s.fake.shutdown()
    }

    /// A prediction that succeeded was paid for: losing its output is `.outputLost`, so the caller meters it.
    @Test func expiredOutputsAreOutputLost() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.expireOutputs, on: .create)
        await expectReelError(.outputLost, "expired before it was downloaded") {
            _ = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.folder).isEmpty)
        await s.fake.shutdown()
    }

    @Test func truncatedDownloadsAreRetried() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.truncateDownload, on: .download)
        let result = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(await Self.requests(s.fake, "GET", "/delivery/").count == 2)
        #expect(try await MediaProbe().probe(result.files[0]).video != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.folder).count == 1)
        await s.fake.shutdown()
    }

    @Test func aWebPageInsteadOfTheVideoIsOutputLost() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        await s.fake.inject(.wrongOutputType, on: .download)
        await expectReelError(.outputLost, "the provider sent a web page instead of a video") {
            _ = try await Self.client(s.fake).run(Self.videoCall(s.folder), observer: RecordingObserver())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.folder).isEmpty)
        await s.fake.shutdown()
    }

    @Test func aRefusedTokenIsProviderAuthAndNeverEchoed() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let secret = "r8_Wrong_Secret_Token_0123456789"
        let client = Self.client(s.fake, token: secret)
        var caught: (any Error)?
        do { _ = try await client.run(Self.videoCall(s.folder), observer: RecordingObserver()) } catch { caught = error }
        let error = try #require(caught as? ReelError)
        #expect(error.code == .providerAuth)
        #expect(error.message.contains("401"))
        for text in [error.message, "\(error)", String(reflecting: error), error.localizedDescription] {
            #expect(!text.contains(secret))
        }
        var dumped = ""
        dump(client, to: &dumped)
        #expect(!dumped.contains(secret) && !"\(client)".contains(secret) && !String(reflecting: client).contains(secret))
        await expectReelError(.providerAuth) { _ = try await client.inputSchema(model: "acme/video") }
        #expect(await s.fake.predictionsCreated == 0)
        await s.fake.shutdown()
    }

    @Test func unknownModelsAndInvalidInputsAreRejected() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake)
        await expectReelError(.providerRejected, "Replicate has no model 'acme/nothing'") {
            _ = try await client.run(Self.videoCall(s.folder, model: "acme/nothing"), observer: RecordingObserver())
        }
        let bad = PredictionCall(model: "acme/video", input: ["prompt": "x", "colour": "red"], expectedOutput: .video, outputDirectory: s.folder)
        await expectReelError(.providerRejected, "colour") { _ = try await client.run(bad, observer: RecordingObserver()) }
        await expectReelError(.unknownModel) { _ = try await client.run(Self.videoCall(s.folder, model: "not a model"), observer: RecordingObserver()) }
        #expect(await s.fake.predictionsCreated == 0)
        await s.fake.shutdown()
    }

    // MARK: - Cancellation and timeouts

    @Test func cancellingTheTaskCancelsThePredictionOnReplicate() async throws {
        let s = try await Self.start(processing: 20)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let observer = RecordingObserver()
        let client = Self.client(s.fake)
        let folder = s.folder
        let task = Task { try await client.run(Self.videoCall(folder), observer: observer) }
        let id = try #require(await observer.firstId())
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(await s.fake.canceledPredictionIds == [id])
        #expect(await s.fake.prediction(id)?.status == "canceled")
        #expect(await Self.requests(s.fake, "POST", "/v1/predictions/\(id)/cancel").count == 1)
        #expect(await s.fake.billablePredictions == 0)
        await s.fake.shutdown()
    }

    @Test func cancellingDuringAHeldCreateCancelsWhatItMade() async throws {
        let s = try await Self.start(processing: 20)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake, wait: 30)   // the create is held open while the prediction runs
        let folder = s.folder
        let task = Task { try await client.run(Self.videoCall(folder), observer: RecordingObserver()) }
        for _ in 0..<500 where await s.fake.predictionsCreated == 0 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.result.get() }
        let id = try #require(await s.fake.predictionIds.first)
        #expect(await s.fake.canceledPredictionIds == [id])
        await s.fake.shutdown()
    }

    @Test func aPredictionThatTakesTooLongIsCanceledAndUnavailable() async throws {
        let s = try await Self.start(processing: 20)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake, timeout: .milliseconds(300))
        await expectReelError(.providerUnavailable, "did not finish in") {
            _ = try await client.run(Self.videoCall(s.folder), observer: RecordingObserver())
        }
        let id = try #require(await s.fake.predictionIds.first)
        #expect(await s.fake.canceledPredictionIds == [id])
        await s.fake.shutdown()
    }

    @Test func theConcurrencyLimitBoundsPredictionsInFlight() async throws {
        let s = try await Self.start(processing: 0.3)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake, concurrency: 2)
        let folder = s.folder
        try await withThrowingTaskGroup(of: PredictionResult.self) { group in
            for i in 0..<5 { group.addTask { try await client.run(Self.videoCall(folder, prompt: "scene \(i)"), observer: RecordingObserver()) } }
            for try await result in group { #expect(result.files.count == 1) }
        }
        #expect(await s.fake.predictionsCreated == 5)
        #expect(await s.fake.maxConcurrentInFlight <= 2)
        await s.fake.shutdown()
    }

    // MARK: - Files, schemas, resume

    @Test func smallFilesGoInlineAndBigFilesAreUploadedOnce() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let inputs = try Fixtures.temporaryDirectory("replicate-inputs")
        defer { try? FileManager.default.removeItem(atPath: inputs) }
        let small = inputs + "/small.png", big = inputs + "/big.png"
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: small))
        try Data((0..<(300 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: big))
        let client = Self.client(s.fake)

        let inline = PredictionCall(model: "acme/video", input: ["prompt": "a", "duration": 1], files: ["image": [small]],
                                    expectedOutput: .video, outputDirectory: s.folder)
        let r0 = try await client.run(inline, observer: RecordingObserver())
        let sent0 = try #require(await s.fake.prediction(r0.id)?.input["image"]?.stringValue)
        #expect(sent0.hasPrefix("data:image/png;base64,"))
        #expect(await s.fake.uploadedFiles.isEmpty)

        var ids: [String] = []
        for prompt in ["b", "c"] {
            let call = PredictionCall(model: "acme/video", input: ["prompt": .string(prompt), "duration": 1], files: ["image": [big]],
                                      expectedOutput: .video, outputDirectory: s.folder)
            ids.append(try await client.run(call, observer: RecordingObserver()).id)
        }
        let uploads = await s.fake.uploadedFiles
        #expect(uploads.count == 1)
        #expect(uploads.first?.size == 300 << 10 && uploads.first?.contentType == "image/png" && uploads.first?.name == "big.png")
        let url = "\(s.fake.baseURL)/v1/files/\(uploads.first?.id ?? "")"
        for id in ids { #expect(await s.fake.prediction(id)?.input["image"]?.stringValue == url) }
        await s.fake.shutdown()
    }

    @Test func filesOverOneHundredMegabytesAreRejected() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let inputs = try Fixtures.temporaryDirectory("replicate-huge")
        defer { try? FileManager.default.removeItem(atPath: inputs) }
        let huge = inputs + "/huge.mp4"
        FileManager.default.createFile(atPath: huge, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: huge))
        try handle.truncate(atOffset: (100 << 20) + 1)   // sparse: no 100 MB written
        try handle.close()
        let call = PredictionCall(model: "acme/video", input: ["prompt": "a"], files: ["image": [huge]], expectedOutput: .video, outputDirectory: s.folder)
        await expectReelError(.providerRejected, "too large for Replicate's Files API (100 MB)") {
            _ = try await Self.client(s.fake).run(call, observer: RecordingObserver())
        }
        #expect(await s.fake.requests.isEmpty)
        await s.fake.shutdown()
    }

    @Test func inputSchemasAreReadAndCached() async throws {
        let s = try await Self.start()
        let client = Self.client(s.fake)
        let schema = try await client.inputSchema(model: "acme/video")
        #expect(schema.required == ["prompt"])
        #expect(schema.properties["image"]?.isFile == true)
        #expect(schema.properties["duration"]?.maximum == 10)
        #expect(schema.properties["prompt"]?.type == "string")
        _ = try await client.inputSchema(model: "acme/video")
        #expect(await Self.requests(s.fake, "GET", "/v1/models/acme/video").count == 1)

        let byVersion = try await client.inputSchema(model: "acme/image:\(Self.image.version)")
        #expect(byVersion.properties.keys.sorted() == ["num_outputs", "prompt"])
        #expect(await Self.requests(s.fake, "GET", "/v1/models/acme/image/versions/\(Self.image.version)").count == 1)
        // The fake has no deployments endpoint: the schema is "unknown" (empty), not an error.
        #expect(try await client.inputSchema(model: "deployments/acme/video-dep").properties.isEmpty)
        await expectReelError(.providerRejected) { _ = try await client.inputSchema(model: "acme/nothing") }
        await s.fake.shutdown()
    }

    @Test func resumingFollowsTheEarlierPredictionAndCreatesNothing() async throws {
        let s = try await Self.start(processing: 0.4)
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        // A first run is interrupted after the id was recorded (the prediction keeps running on the server).
        let observer = RecordingObserver()
        let client = Self.client(s.fake)
        let folder = s.folder
        let first = Task { try await client.run(Self.videoCall(folder), observer: observer) }
        let id = try #require(await observer.firstId())
        // A new client (a new process) resumes it while it is still running.
        let resumed = try await Self.client(s.fake).run(Self.videoCall(s.folder, resumeId: id), observer: RecordingObserver())
        #expect(resumed.id == id)
        #expect(resumed.files.count == 1)
        _ = try await first.value
        #expect(await s.fake.predictionsCreated == 1)
        #expect(await s.fake.billablePredictions == 1)
        await s.fake.shutdown()
    }

    @Test func resumingAPredictionWhoseOutputsAreGoneCreatesANewOne() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let client = Self.client(s.fake)
        let first = try await client.run(Self.videoCall(s.folder), observer: RecordingObserver())
        await s.fake.inject(.expireOutputs, on: .get)   // the resume's read finds the outputs deleted
        let again = try await client.run(Self.videoCall(s.folder, resumeId: first.id), observer: RecordingObserver())
        #expect(again.id != first.id)
        #expect(await s.fake.predictionsCreated == 2)
        // An unknown id is also replaced by a new prediction.
        let third = try await client.run(Self.videoCall(s.folder, resumeId: "nosuchprediction0000000000"), observer: RecordingObserver())
        #expect(await s.fake.predictionsCreated == 3 && third.files.count == 1)
        await s.fake.shutdown()
    }

    @Test func theTokenGoesOnlyToTheBaseURLsHost() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        // The base URL names "localhost"; the fake's output URLs name "127.0.0.1": another host.
        let port = URLComponents(string: s.fake.baseURL)!.port!
        let result = try await Self.client(s.fake, baseURL: "http://localhost:\(port)").run(Self.videoCall(s.folder), observer: RecordingObserver())
        #expect(result.files.count == 1)
        let downloads = await Self.requests(s.fake, "GET", "/delivery/")
        #expect(downloads.count == 1 && downloads.allSatisfy { $0.header("Authorization") == nil })
        let api = await s.fake.requests.filter { !$0.path.hasPrefix("/delivery/") }
        #expect(!api.isEmpty && api.allSatisfy { $0.header("Authorization") == "Bearer \(Self.token)" })
        await s.fake.shutdown()
    }

    // MARK: - Webhooks

    @Test func webhooksSignedByTheFakeVerifyAndTamperedOnesDoNot() async throws {
        let s = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let received = WebhookInbox()
        let receiver = try await LoopbackServer.start { request in
            await received.add(request)
            return .respond(status: 200)
        }
        let create = try await LoopbackClient.send(
            "POST", s.fake.baseURL + "/v1/models/acme/image/predictions",
            headers: [("Authorization", "Bearer \(Self.token)"), ("Content-Type", "application/json")],
            body: JSONValue.object(["input": ["prompt": "fox"], "webhook": .string(receiver.baseURL + "/hook"),
                                    "webhook_events_filter": ["start", "completed"]]).canonicalData())
        #expect(create.status == 201)
        await s.fake.waitUntilIdle()
        await s.fake.waitForWebhooks()
        let hooks = await received.all
        #expect(hooks.count == 2)
        let verifier = WebhookVerifier(secret: await s.fake.webhookSecret)
        for hook in hooks {
            let id = try #require(hook.header("webhook-id")), stamp = try #require(hook.header("webhook-timestamp"))
            let signature = try #require(hook.header("webhook-signature"))
            try verifier.verify(id: id, timestamp: stamp, signatureHeader: signature, body: hook.body)
            // Another (rotated) signature listed first does not hide the valid one.
            try verifier.verify(id: id, timestamp: stamp, signatureHeader: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + signature, body: hook.body)

            var tampered = hook.body
            tampered[tampered.startIndex] = UInt8(ascii: " ")
            #expect(throws: ReelError.self) { try verifier.verify(id: id, timestamp: stamp, signatureHeader: signature, body: tampered) }
            #expect(throws: ReelError.self) { try verifier.verify(id: id + "x", timestamp: stamp, signatureHeader: signature, body: hook.body) }
            let sent = Date(timeIntervalSince1970: Double(stamp)!)
            #expect(throws: ReelError.self) { try verifier.verify(id: id, timestamp: stamp, signatureHeader: signature, body: hook.body, now: sent.addingTimeInterval(301)) }
            #expect(throws: ReelError.self) { try verifier.verify(id: id, timestamp: stamp, signatureHeader: signature, body: hook.body, now: sent.addingTimeInterval(-301)) }
            try verifier.verify(id: id, timestamp: stamp, signatureHeader: signature, body: hook.body, now: sent.addingTimeInterval(299))
            #expect(throws: ReelError.self) { try verifier.verify(id: id, timestamp: stamp, signatureHeader: "v2," + signature.dropFirst(3), body: hook.body) }
            let other = WebhookVerifier(secret: "whsec_" + Data(repeating: 1, count: 24).base64EncodedString())
            #expect(throws: ReelError.self) { try other.verify(id: id, timestamp: stamp, signatureHeader: signature, body: hook.body) }
        }
        await receiver.shutdown()
        await s.fake.shutdown()
    }

    // MARK: - Pieces

    @Test func retryAfterAndBackoff() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: 0.5, maxDelay: 30)
        #expect(policy.delay(afterAttempt: 1, retryAfter: "3") == 3)
        #expect(policy.delay(afterAttempt: 1, retryAfter: "600") == 60)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let date = RetryPolicy.parseHTTPDate("Tue, 14 Nov 2023 22:13:30 GMT")
        #expect(date == Date(timeIntervalSince1970: 1_700_000_010))
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == 10)
        for attempt in 1...8 {
            let d = policy.delay(afterAttempt: attempt)
            #expect(d >= 0 && d <= min(30, 0.5 * pow(2, Double(attempt - 1))))
        }
    }

    @Test func modelNamesAndOrigins() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try ModelRef("acme/video") == .official(owner: "acme", name: "video"))
        #expect(try ModelRef("acme/video:\(hex)") == .version(id: hex, owner: "acme", name: "video"))
        #expect(try ModelRef(hex) == .version(id: hex, owner: nil, name: nil))
        #expect(try ModelRef("deployments/acme/dep") == .deployment(owner: "acme", name: "dep"))
        #expect(throws: ReelError.self) { try ModelRef("acme") }
        #expect(throws: ReelError.self) { try ModelRef("acme/video:") }
        let origin = try #require(Origin("https://api.replicate.com"))
        #expect(origin.owns("https://api.replicate.com/v1/files/x"))
        #expect(origin.owns("https://API.replicate.com:443/v1"))
        #expect(!origin.owns("https://replicate.delivery/x.mp4"))
        #expect(!origin.owns("http://api.replicate.com/v1"))
        #expect(!origin.owns("https://api.replicate.com.evil.example/v1"))
        #expect(ReplicateClient.inputsMatch(sent: ["a": 1, "img": "data:image/png;base64,AA"], seen: ["a": 1.0, "img": "https://x/y.png"]))
        #expect(!ReplicateClient.inputsMatch(sent: ["a": 1], seen: ["a": 2]))
        #expect(!ReplicateClient.inputsMatch(sent: ["a": 1], seen: ["a": 1, "b": 2]))
        #expect(ReplicateClient.parseDate("2023-09-08T16:19:34.383588891Z") != nil)
    }

    @Test func aCancelledRateLimitWaiterGivesItsTokenBack() async throws {
        let limiter = RateLimiter(creates: .init(perMinute: 1, burst: 1), others: .init(perMinute: 6000, burst: 100))
        try await limiter.acquire(.create)                       // the burst
        let waiter = Task { try await limiter.acquire(.create) }  // would wait a minute
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        try await limiter.acquire(.other)                        // other requests have their own bucket
        try await RateLimiter.unlimited().acquire(.create)
    }

    @Test func theConcurrencyLimitLetsCancelledWaitersLeave() async throws {
        let limit = ConcurrencyLimit(1)
        try await limit.acquire()
        let waiter = Task { try await limit.acquire() }
        for _ in 0..<200 where await limit.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await limit.waiting == 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await limit.waiting == 0)
        await limit.release()
        // The permit is free again: a new caller gets it at once.
        try await limit.acquire()
        await limit.release()
    }
}

/// Runs `body`, expecting a `ReelError` with this code (and a message containing `fragment`); returns it.
@discardableResult
func expectReelError(_ code: ReelError.Code, _ fragment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () async throws -> Void) async -> ReelError? {
    do {
        try await body()
        Issue.record("expected a ReelError \(code), got success", sourceLocation: sourceLocation)
    } catch let error as ReelError {
        #expect(error.code == code, "\(error.code): \(error.message)", sourceLocation: sourceLocation)
        if !fragment.isEmpty { #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected a ReelError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Requests a webhook receiver got.
actor WebhookInbox {
    private(set) var all: [LoopbackRequest] = []
    func add(_ request: LoopbackRequest) { all.append(request) }
}
