import AsyncHTTPClient
import Foundation
import ReelCore
import ReelMedia
@testable import ReelProviders
import ReelTestSupport
import Testing

/// The CogClient against FakeCog: readiness, the synchronous idempotent PUT, re-attaching after lost answers, 409,
/// cancellation, data-URI outputs.
@Suite struct CogClientTests {
    static let input: [String: JSONValue] = [
        "prompt": ["type": "string"], "duration": ["type": "integer", "default": 1, "minimum": 1],
        "image": ["type": "string", "format": "uri"],
    ]

    static func start(_ output: FakeOutput = .video, setupSeconds: Double = 0, predictSeconds: Double = 0.15, slots: Int = 1) async throws -> (FakeCog, String) {
        let fake = try await FakeCog.start(output: output, input: input, required: ["prompt"], setupSeconds: setupSeconds,
                                           predictSeconds: predictSeconds, slots: slots)
        return (fake, try Fixtures.temporaryDirectory("cog"))
    }

    static func client(_ fake: FakeCog, readyTimeout: Duration = .seconds(20), timeout: Duration = .seconds(60)) -> CogClient {
        CogClient(baseURL: fake.baseURL, retry: RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 0.05),
                  readyTimeout: readyTimeout, predictionTimeout: timeout, healthInterval: .milliseconds(50))
    }

    static func call(_ folder: String, _ kind: OutputKind = .video, prompt: String = "neon rain", resumeId: String? = nil) -> PredictionCall {
        PredictionCall(model: "local/model", input: ["prompt": .string(prompt), "duration": 1], expectedOutput: kind,
                       outputDirectory: folder, resumeId: resumeId)
    }

    static func puts(_ fake: FakeCog) async -> [FakeRequestRecord] {
        await fake.requests.filter { $0.method == "PUT" && $0.path.hasPrefix("/predictions/") }
    }

    @Test func waitsForSetupThenPutsSynchronouslyWithItsOwnId() async throws {
        let (fake, folder) = try await Self.start(setupSeconds: 2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let observer = RecordingObserver()
        let result = try await Self.client(fake).run(Self.call(folder), observer: observer)

        let health = await fake.requests.filter { $0.path == "/health-check" }
        #expect(health.count >= 2)
        let puts = await Self.puts(fake)
        #expect(puts.count == 1)
        let put = try #require(puts.first)
        #expect(put.path == "/predictions/\(result.id)")
        #expect(put.header("Prefer") == nil)
        #expect(result.id.count == 26 && result.id.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(await observer.ids == [result.id])
        #expect(put.receivedAt > health.last!.receivedAt)
        #expect(await fake.predictionsStarted == 1)
        let info = try await MediaProbe().probe(try #require(result.files.first))
        #expect(info.video != nil && result.files[0].hasSuffix(".mp4"))
        #expect(result.metrics["predict_time"] != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).count == 1)
        await fake.shutdown()
    }

    @Test func aFailedSetupIsProviderUnavailable() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await fake.failSetup()
        await expectReelError(.providerUnavailable, "failed its setup") {
            _ = try await Self.client(fake).run(Self.call(folder), observer: RecordingObserver())
        }
        #expect(await Self.puts(fake).isEmpty)
        await fake.shutdown()
    }

    @Test func aServerThatNeverBecomesReadyTimesOut() async throws {
        let (fake, folder) = try await Self.start(setupSeconds: 30)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await expectReelError(.providerUnavailable, "was not ready") {
            _ = try await Self.client(fake, readyTimeout: .milliseconds(200)).run(Self.call(folder), observer: RecordingObserver())
        }
        await fake.shutdown()
    }

    @Test func aLostAnswerIsRetriedWithTheSameIdAndReattaches() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await fake.inject(.dropAfterCreate, on: .create)
        await fake.inject(.serverError(502), on: .create)
        await fake.inject(.dropConnection, on: .create)
        let result = try await Self.client(fake).run(Self.call(folder), observer: RecordingObserver())
        let puts = await Self.puts(fake)
        #expect(puts.count == 4)
        #expect(Set(puts.map(\.path)) == ["/predictions/\(result.id)"])
        #expect(await fake.predictionsStarted == 1)
        #expect(result.files.count == 1)
        await fake.shutdown()
    }

    @Test func aPredictionLongerThanTheReadTimeoutIsReattachedNotAbandoned() async throws {
        let (fake, folder) = try await Self.start(predictSeconds: 1.2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // `HTTPClient.shared` times a read out after 90 s; here 0.2 s stands in for it. Each timed-out PUT is re-sent
        // with the same id (re-attach), more times than `maxAttempts`, without giving up.
        let impatient = HTTPClient(eventLoopGroupProvider: .singleton,
                                   configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .milliseconds(200))))
        let client = CogClient(baseURL: fake.baseURL, http: ProviderHTTP(client: impatient),
                               retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.05), healthInterval: .milliseconds(50))
        let result = try await client.run(Self.call(folder), observer: RecordingObserver())
        #expect(result.files.count == 1)
        #expect(await Self.puts(fake).count >= 3)
        #expect(await fake.predictionsStarted == 1)
        try await impatient.shutdown()
        await fake.shutdown()
    }

    @Test func resumingReattachesToTheStoredResult() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try await Self.client(fake).run(Self.call(folder), observer: RecordingObserver())
        let again = try await Self.client(fake).run(Self.call(folder, resumeId: first.id), observer: RecordingObserver())
        #expect(again.id == first.id)
        #expect(await fake.predictionsStarted == 1)
        await fake.shutdown()
    }

    @Test func aFullServerIsWaitedFor() async throws {
        let (fake, folder) = try await Self.start(predictSeconds: 0.4, slots: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Two clients (two processes) share one slot: one of them gets 409 and waits for READY.
        let a = Self.client(fake), b = Self.client(fake)
        async let ra = a.run(Self.call(folder, prompt: "a"), observer: RecordingObserver())
        async let rb = b.run(Self.call(folder, prompt: "b"), observer: RecordingObserver())
        let (x, y) = try await (ra, rb)
        #expect(x.id != y.id && x.files.count == 1 && y.files.count == 1)
        #expect(await fake.predictionsStarted == 2)
        #expect(await fake.maxConcurrentInFlight == 1)
        #expect(await Self.puts(fake).count >= 3)   // at least one 409 and its retry
        await fake.shutdown()
    }

    @Test func cancellingTheTaskCancelsThePrediction() async throws {
        let (fake, folder) = try await Self.start(predictSeconds: 20)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let observer = RecordingObserver()
        let client = Self.client(fake)
        let task = Task { try await client.run(Self.call(folder), observer: observer) }
        let id = try #require(await observer.firstId())
        for _ in 0..<500 where await fake.predictionsStarted == 0 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.result.get() }
        #expect(await fake.canceledPredictionIds == [id])
        #expect(await fake.requests.contains { $0.method == "POST" && $0.path == "/predictions/\(id)/cancel" })
        await fake.shutdown()
    }

    @Test func aPredictionThatTakesTooLongIsCanceled() async throws {
        let (fake, folder) = try await Self.start(predictSeconds: 20)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await expectReelError(.providerUnavailable, "did not finish in") {
            _ = try await Self.client(fake, timeout: .milliseconds(400)).run(Self.call(folder), observer: RecordingObserver())
        }
        #expect(await fake.canceledPredictionIds.count == 1)
        await fake.shutdown()
    }

    @Test(arguments: [OutputKind.image, .audio])
    func dataURIOutputsAreDecodedAndProbed(_ kind: OutputKind) async throws {
        let (fake, folder) = try await Self.start(kind == .image ? .image : .audio)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try await Self.client(fake).run(Self.call(folder, kind), observer: RecordingObserver())
        let file = try #require(result.files.first)
        #expect(file.hasSuffix(kind == .image ? ".png" : ".wav"))
        let info = try await MediaProbe().probe(file)
        #expect(kind == .image ? info.isImage : info.audio != nil)
        await fake.shutdown()
    }

    @Test func aWrongKindOfOutputIsProviderFailed() async throws {
        let (fake, folder) = try await Self.start(.audio)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await expectReelError(.providerFailed, "is unusable") {
            _ = try await Self.client(fake).run(Self.call(folder, .video), observer: RecordingObserver())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        await fake.shutdown()
    }

    @Test func textOutputs() async throws {
        let (fake, folder) = try await Self.start(.text("hello from cog"))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try await Self.client(fake).run(Self.call(folder, .text), observer: RecordingObserver())
        #expect(result.text == "hello from cog" && result.files.isEmpty)
        await fake.shutdown()
    }

    @Test func invalidInputIsRejectedWithTheFieldNamed() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let call = PredictionCall(model: "", input: ["duration": 1, "colour": "red"], expectedOutput: .video, outputDirectory: folder)
        let error = await expectReelError(.providerRejected, "input.prompt") {
            _ = try await Self.client(fake).run(call, observer: RecordingObserver())
        }
        #expect(error?.message.contains("colour") == true)
        #expect(await fake.predictionsStarted == 0)
        await fake.shutdown()
    }

    @Test func aFailedPredictionIsProviderFailed() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await fake.inject(.predictionFails("weights corrupted"), on: .create)
        await expectReelError(.providerFailed, "weights corrupted") {
            _ = try await Self.client(fake).run(Self.call(folder), observer: RecordingObserver())
        }
        #expect(await fake.predictionsStarted == 1)
        await fake.shutdown()
    }

    @Test func fileInputsAreSentAsDataURIs() async throws {
        let (fake, folder) = try await Self.start(.image)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let picture = folder + "/in.jpg"
        try Data(repeating: 9, count: 2000).write(to: URL(fileURLWithPath: picture))
        let call = PredictionCall(model: "", input: ["prompt": "x"], files: ["image": [picture]], expectedOutput: .image,
                                  outputDirectory: folder + "/out")
        let result = try await Self.client(fake).run(call, observer: RecordingObserver())
        let sent = await fake.prediction(result.id)?["input"]?["image"]?.stringValue
        #expect(sent?.hasPrefix("data:image/jpeg;base64,") == true)
        await fake.shutdown()
    }

    @Test func theInputSchemaComesFromOpenAPI() async throws {
        let (fake, folder) = try await Self.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let client = Self.client(fake)
        let schema = try await client.inputSchema(model: "")
        #expect(schema.required == ["prompt"])
        #expect(schema.properties["image"]?.isFile == true && schema.properties["duration"]?.minimum == 1)
        _ = try await client.inputSchema(model: "")
        #expect(await fake.requests.filter { $0.path == "/openapi.json" }.count == 1)
        await fake.shutdown()
    }

    @Test func predictionIdsAreTwentySixBase32Characters() {
        let ids = (0..<200).map { _ in CogClient.newPredictionId() }
        #expect(Set(ids).count == 200)
        #expect(ids.allSatisfy { $0.count == 26 && $0.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) } })
    }

    @Test func dataURIsDecodeInChunks() throws {
        let folder = try Fixtures.temporaryDirectory("datauri")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let bytes = Data((0..<1_000_003).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        let path = folder + "/x.bin"
        #expect(try MediaType.writeDataURI("data:application/octet-stream;base64," + bytes.base64EncodedString(), to: path) == Int64(bytes.count))
        #expect(FileManager.default.contents(atPath: path) == bytes)
        // Line-wrapped base64 takes the slow path.
        let wrapped = bytes.base64EncodedString(options: .lineLength76Characters)
        try MediaType.writeDataURI("data:application/octet-stream;base64," + wrapped, to: path)
        #expect(FileManager.default.contents(atPath: path) == bytes)
        #expect(throws: ReelError.self) { try MediaType.writeDataURI("data:image/png;base64,@@@@", to: folder + "/bad.png") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["x.bin"])
    }
}
