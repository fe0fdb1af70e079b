import Crypto
import Foundation
import ReelCore
import ReelTestSupport
import Synchronization
import Testing

/// Tests of the loopback fakes themselves (ReelTestSupport/Loopback), talking to them with `LoopbackClient`
/// (plain SwiftNIO) and curl — never with the client code the fakes exist to test.
@Suite("Loopback fakes")
struct FakeServerTests {
    static let token = "r8_fake_token"

    // MARK: Helpers

    func call(_ method: String, _ url: String, token: String? = FakeServerTests.token, json: JSONValue? = nil,
              headers: [(String, String)] = []) async throws -> LoopbackHTTPResponse {
        var h = headers
        if let token { h.append(("Authorization", "Bearer \(token)")) }
        if let json { return try await LoopbackClient.sendJSON(method, url, json, headers: h) }
        return try await LoopbackClient.send(method, url, headers: h)
    }

    func poll(_ url: String, until done: (JSONValue) -> Bool, timeout: Double = 30) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try await call("GET", url)
            let body = try #require(r.json)
            if done(body) || Date() > deadline { return body }
            try await Task.sleep(for: .milliseconds(30))
        }
    }

    static func terminal(_ p: JSONValue) -> Bool {
        ["succeeded", "failed", "canceled"].contains(p["status"]?.stringValue ?? "")
    }

    /// Runs a tool, returning (exit code, stdout, stderr).
    func run(_ tool: String, _ args: [String]) async throws -> (Int32, String, String) {
        try await Blocking.run { try Self.runBlocking(tool, args) }
    }

    static func runBlocking(_ tool: String, _ args: [String]) throws -> (Int32, String, String) {
        let p = try ChildProcess("/usr/bin/env", [tool] + args)
        let status = p.waitUntilExit()
        return (status, p.stdout, p.stderr)
    }

    /// ffprobe's format duration and first stream's codec of a file.
    func probe(_ data: Data, ext: String) async throws -> (duration: Double, codec: String, width: Int) {
        let dir = try Fixtures.temporaryDirectory("probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/f.\(ext)"
        try data.write(to: URL(fileURLWithPath: path))
        let (code, out, err) = try await run("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=codec_name,width",
                                                   "-of", "json", path])
        #expect(code == 0, "ffprobe: \(err)")
        let json = try JSONValue.parse(Data(out.utf8))
        let stream = json["streams"]?.arrayValue?.first
        return (Double(json["format"]?["duration"]?.stringValue ?? "") ?? 0, stream?["codec_name"]?.stringValue ?? "",
                stream?["width"]?.intValue ?? 0)
    }

    static let videoModel = FakeModel(
        name: "acme/video", version: String(repeating: "ab", count: 32),
        input: ["prompt": ["type": "string"], "duration": ["type": "integer", "default": 5, "minimum": 1, "maximum": 10],
                "aspect_ratio": ["type": "string", "enum": ["16:9", "9:16"], "default": "16:9"],
                "image": ["type": "string", "format": "uri"]],
        required: ["prompt"], output: .video, price: .perSecondOfOutput(0.1, durationInput: "duration"))
    static let imageModel = FakeModel(
        name: "acme/flux", input: ["prompt": ["type": "string"], "num_outputs": ["type": "integer", "default": 1]],
        required: ["prompt"], output: .image, price: .perImage(0.003), outputIsArray: true)
    static let textModel = FakeModel(
        name: "acme/llm", input: ["prompt": ["type": "string"], "system_prompt": ["type": "string"]], required: ["prompt"],
        output: .text("one two three four five six seven eight"), price: .perMillionTokens(input: 1, output: 2))
    static let audioModel = FakeModel(
        name: "acme/music", input: ["prompt": ["type": "string"], "seconds": ["type": "number"]], required: [],
        output: .audio, price: .perSecondOfOutput(0.01, durationInput: "seconds"))

    func startReplicate() async throws -> FakeReplicate {
        try await FakeReplicate.start(models: [Self.videoModel, Self.imageModel, Self.textModel, Self.audioModel],
                                      deployments: ["acme/prod-flux": "acme/flux"])
    }

    // MARK: LoopbackServer

    @Test func loopbackServerKeepAliveBigBodiesAndBrokenAnswers() async throws {
        let server = try await LoopbackServer.start { r in
            switch r.path {
            case "/drop": return .dropConnection
            case "/truncated": return .truncated(status: 200, headers: [("Content-Type", "application/octet-stream")],
                                                 body: Data(count: 10_000), sendBytes: 100)
            case "/slow":
                try? await Task.sleep(for: .milliseconds(200))
                return .text(status: 200, "late")
            default:
                let sum = r.body.reduce(0) { $0 &+ Int($1) }
                return .json(status: 200, ["method": .string(r.method), "path": .string(r.path), "q": .string(r.query["q"] ?? ""),
                                           "size": .number(Double(r.body.count)), "sum": .number(Double(sum)),
                                           "type": .string(r.header("content-type") ?? "")])
            }
        }
        // A body of several MB arrives whole.
        var big = Data(count: 6 << 20)
        for i in stride(from: 0, to: big.count, by: 4099) { big[i] = UInt8(i % 251) }
        let expectedSum = big.reduce(0) { $0 &+ Int($1) }
        let r = try await LoopbackClient.send("POST", server.baseURL + "/a%20b?q=x%26y", headers: [("Content-Type", "x/y")], body: big)
        #expect(r.status == 200)
        #expect(r.header("Content-Length") == String(r.body.count))
        let j = try #require(r.json)
        #expect(j["path"] == "/a b")
        #expect(j["q"] == "x&y")
        #expect(j["size"]?.intValue == big.count)
        #expect(j["sum"]?.intValue == expectedSum)
        #expect(j["type"] == "x/y")

        // Keep-alive: curl sends three requests on one connection.
        let (code, out, err) = try await run("curl", ["-sv", "\(server.baseURL)/one", "\(server.baseURL)/two", "\(server.baseURL)/slow"])
        #expect(code == 0)
        #expect(out.contains("\"/one\"") && out.contains("\"/two\"") && out.hasSuffix("late"))
        #expect(err.lowercased().contains("re-using existing connection") || err.lowercased().contains("reusing existing connection"))

        // A dropped answer and a truncated body are errors for a client.
        await #expect(throws: (any Error).self) { try await LoopbackClient.send("GET", server.baseURL + "/drop") }
        await #expect(throws: (any Error).self) { try await LoopbackClient.send("GET", server.baseURL + "/truncated") }
        let (curlCode, _, _) = try await run("curl", ["-sf", "-o", "/dev/null", "\(server.baseURL)/truncated"])
        #expect(curlCode == 18)  // CURLE_PARTIAL_FILE
        await server.shutdown()
        await #expect(throws: (any Error).self) { try await LoopbackClient.send("GET", server.baseURL + "/one", timeout: 3) }
    }

    // MARK: FakeReplicate

    @Test func replicateLifecycleOutputAndBill() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        // Auth.
        let unauth = try await call("POST", base + "/v1/models/acme/video/predictions", token: "wrong", json: ["input": ["prompt": "x"]])
        #expect(unauth.status == 401)
        #expect(unauth.json == ["title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401])

        let before = Date().addingTimeInterval(-1)
        let created = try await call("POST", base + "/v1/models/acme/video/predictions", json: ["input": ["prompt": "neon city", "duration": 2]])
        #expect(created.status == 201)
        let p = try #require(created.json)
        let id = try #require(p["id"]?.stringValue)
        #expect(id.count == 26 && id == id.lowercased())
        #expect(p["status"] == "starting")
        #expect(p["output"] == .null && p["error"] == .null && p["logs"] == "")
        #expect(p["model"] == "acme/video" && p["version"] == .string(Self.videoModel.version))
        #expect(p["urls"]?["get"] == .string("\(base)/v1/predictions/\(id)"))
        #expect(p["urls"]?["cancel"] == .string("\(base)/v1/predictions/\(id)/cancel"))
        let createdAt = try #require(p["created_at"]?.stringValue)
        #expect(createdAt.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression) != nil)

        // starting → processing → succeeded.
        var seen: Set<String> = []
        let done = try await poll(base + "/v1/predictions/\(id)") { j in
            seen.insert(j["status"]?.stringValue ?? "")
            return Self.terminal(j)
        }
        #expect(done["status"] == "succeeded")
        #expect(seen.contains("processing"))
        #expect(done["started_at"]?.stringValue != nil && done["completed_at"]?.stringValue != nil)
        #expect((done["metrics"]?["predict_time"]?.doubleValue ?? 0) > 0)
        let url = try #require(done["output"]?.stringValue)
        #expect(url == "\(base)/delivery/\(id)/out.mp4")

        // The output is a real 2 s H.264 video, served without auth.
        let file = try await LoopbackClient.send("GET", url)
        #expect(file.status == 200)
        #expect(file.header("Content-Type") == "video/mp4")
        let info = try await probe(file.body, ext: "mp4")
        #expect(info.codec == "h264" && info.width == 320)
        #expect(abs(info.duration - 2) < 0.2)

        #expect(await fake.predictionsCreated == 1)
        #expect(await fake.billablePredictions == 1)
        #expect(abs(await fake.bill - 0.2) < 1e-9)
        #expect(await fake.maxConcurrentInFlight == 1)
        #expect(await fake.inFlight == 0)
        #expect(await fake.prediction(id)?.status == "succeeded")

        // List, newest first, filtered by created_after.
        let isoBefore = FakeServerTests.iso(before)
        let list = try await call("GET", base + "/v1/predictions?created_after=\(isoBefore)")
        let results = try #require(list.json?["results"]?.arrayValue)
        #expect(results.map { $0["id"] } == [.string(id)])
        #expect(list.json?["next"] == .null)
        let later = try await call("GET", base + "/v1/predictions?created_after=\(FakeServerTests.iso(Date().addingTimeInterval(5)))")
        #expect(later.json?["results"]?.arrayValue?.isEmpty == true)

        // Every request was recorded, with headers and body.
        let records = await fake.requests
        #expect(records.contains { $0.method == "POST" && $0.json?["input"]?["prompt"] == "neon city" && $0.header("authorization") == "Bearer r8_fake_token" })
        #expect(records.contains { $0.path == "/delivery/\(id)/out.mp4" })
        await fake.shutdown()
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    @Test func replicatePreferWaitVersionsDeploymentsAndModels() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        await fake.setLifecycle(starting: 0.02, processing: 0.05)
        // Prefer: wait holds the answer until the prediction is done.
        let r = try await call("POST", base + "/v1/predictions", json: ["version": .string("acme/flux:\(Self.imageModel.version)"),
                                                                          "input": ["prompt": "red", "num_outputs": 2]],
                               headers: [("Prefer", "wait=20")])
        #expect(r.status == 201)
        let p = try #require(r.json)
        #expect(p["status"] == "succeeded")
        let urls = try #require(p["output"]?.arrayValue?.compactMap { $0.stringValue })
        #expect(urls.count == 2)
        let png = try await LoopbackClient.send("GET", urls[0])
        #expect(png.header("Content-Type") == "image/png")
        #expect(try await probe(png.body, ext: "png").width == 320)
        #expect(abs(await fake.bill - 0.006) < 1e-9)

        // A short wait that expires answers the incomplete prediction (not an error).
        await fake.setLifecycle(starting: 0.02, processing: 3)
        let t0 = Date()
        let partial = try await call("POST", base + "/v1/predictions", json: ["version": .string(Self.imageModel.version),
                                                                                "input": ["prompt": "blue"]],
                                     headers: [("Prefer", "wait=1")])
        #expect(partial.status == 201)
        #expect(partial.json?["status"] == "processing")
        #expect(Date().timeIntervalSince(t0) >= 0.9)

        // Deployments map to a model.
        await fake.setLifecycle(starting: 0.01, processing: 0.01)
        let dep = try await call("POST", base + "/v1/deployments/acme/prod-flux/predictions", json: ["input": ["prompt": "x"]],
                                 headers: [("Prefer", "wait")])
        #expect(dep.status == 201 && dep.json?["status"] == "succeeded" && dep.json?["model"] == "acme/flux")

        // Unknown model and version → 404 problem.
        let unknown = try await call("POST", base + "/v1/models/acme/nope/predictions", json: ["input": ["prompt": "x"]])
        #expect(unknown.status == 404 && unknown.json?["detail"]?.stringValue != nil)
        let badVersion = try await call("POST", base + "/v1/predictions", json: ["version": .string(String(repeating: "0", count: 64)),
                                                                                   "input": ["prompt": "x"]])
        #expect(badVersion.status == 404)

        // Model and version objects carry the Input schema.
        let model = try #require(try await call("GET", base + "/v1/models/acme/video").json)
        let schema = model["latest_version"]?["openapi_schema"]
        #expect(schema?["openapi"] == "3.1.0")
        #expect(schema?["components"]?["schemas"]?["Input"]?["properties"]?["duration"]?["maximum"] == 10)
        #expect(schema?["components"]?["schemas"]?["Input"]?["required"] == ["prompt"])
        #expect(model["latest_version"]?["id"] == .string(Self.videoModel.version))
        let version = try await call("GET", base + "/v1/models/acme/video/versions/\(Self.videoModel.version)")
        #expect(version.status == 200 && version.json?["id"] == .string(Self.videoModel.version))
        await fake.shutdown()
    }

    @Test func replicateInputValidationAndFiles() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        let create = base + "/v1/models/acme/video/predictions"
        let unknownKey = try await call("POST", create, json: ["input": ["prompt": "x", "colour": "red"]])
        #expect(unknownKey.status == 422)
        #expect(unknownKey.json?["detail"]?.stringValue?.contains("colour") == true)
        let missing = try await call("POST", create, json: ["input": ["duration": 3]])
        #expect(missing.status == 422 && missing.json?["detail"]?.stringValue?.contains("prompt") == true)
        let badEnum = try await call("POST", create, json: ["input": ["prompt": "x", "aspect_ratio": "4:3"]])
        #expect(badEnum.status == 422 && badEnum.json?["detail"]?.stringValue?.contains("aspect_ratio") == true)
        let tooLong = try await call("POST", create, json: ["input": ["prompt": "x", "duration": 11]])
        #expect(tooLong.status == 422)
        let notURI = try await call("POST", create, json: ["input": ["prompt": "x", "image": "/tmp/a.png"]])
        #expect(notURI.status == 422 && notURI.json?["detail"]?.stringValue?.contains("image") == true)
        let missingFile = try await call("POST", create, json: ["input": ["prompt": "x", "image": .string("\(base)/v1/files/nope")]])
        #expect(missingFile.status == 422)
        #expect(await fake.predictionsCreated == 0)

        // Upload with multipart/form-data (curl builds the body), then use the file's URL as input.
        let dir = try Fixtures.temporaryDirectory("upload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Data((0..<300_000).map { UInt8($0 % 256) })
        try bytes.write(to: URL(fileURLWithPath: "\(dir)/still.png"))
        let (code, out, err) = try await run("curl", ["-s", "-H", "Authorization: Bearer \(Self.token)",
                                               "-F", "content=@\(dir)/still.png;type=image/png", "-F", "metadata={\"k\":1}",
                                               "\(base)/v1/files"])
        #expect(code == 0, "\(err)")
        let file = try JSONValue.parse(Data(out.utf8))
        #expect(file["name"] == "still.png" && file["content_type"] == "image/png" && file["size"]?.intValue == bytes.count)
        #expect(file["metadata"] == ["k": 1])
        let fileHex = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        #expect(file["checksums"]?["sha256"] == .string(fileHex))
        let fileURL = try #require(file["urls"]?["get"]?.stringValue)
        #expect(await fake.uploadedFiles.first?.data == bytes)
        let got = try await call("GET", fileURL)
        #expect(got.status == 200 && got.json?["id"] == file["id"])

        let ok = try await call("POST", create, json: ["input": ["prompt": "x", "image": .string(fileURL), "duration": 1]])
        #expect(ok.status == 201)
        let dataURI = try await call("POST", create, json: ["input": ["prompt": "x", "image": "data:image/png;base64,AAAA"]])
        #expect(dataURI.status == 201)
        let deleted = try await call("DELETE", fileURL)
        #expect(deleted.status == 204)
        #expect(try await call("GET", fileURL).status == 404)
        let afterDelete = try await call("POST", create, json: ["input": ["prompt": "x", "image": .string(fileURL)]])
        #expect(afterDelete.status == 422)
        await fake.shutdown()
    }

    @Test func replicateThrottleErrorsAndMalformedAnswers() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        let create = base + "/v1/models/acme/flux/predictions"
        await fake.inject(.throttle(retryAfter: 2), on: .create)
        await fake.inject(.serverError(503), on: .create)
        await fake.inject(.htmlErrorPage, on: .any)
        await fake.inject(.malformedJSON, on: .create)

        let throttled = try await call("POST", create, json: ["input": ["prompt": "x"]])
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") == "2")
        #expect(throttled.json == ["detail": "Request was throttled. Expected available in 2 second."])
        let unavailable = try await call("POST", create, json: ["input": ["prompt": "x"]])
        #expect(unavailable.status == 503 && unavailable.json?["status"] == 503)
        #expect(unavailable.header("Content-Type") == "application/problem+json")
        let html = try await call("GET", base + "/v1/predictions")
        #expect(html.status == 502 && html.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(await fake.predictionsCreated == 0)
        // A malformed answer hides a create that happened.
        let garbled = try await call("POST", create, json: ["input": ["prompt": "x"]])
        #expect(garbled.status == 201 && garbled.text == "{not json")
        #expect(await fake.predictionsCreated == 1)

        // Faults are consumed in order, `times` times; a slow answer still answers.
        await fake.inject(.throttle(retryAfter: 1), on: .get, times: 2)
        await fake.inject(.slow(seconds: 0.3), on: .get)
        let id = try #require(await fake.predictionIds.first)
        #expect(try await call("GET", base + "/v1/predictions/\(id)").status == 429)
        #expect(try await call("GET", base + "/v1/predictions/\(id)").status == 429)
        let t0 = Date()
        #expect(try await call("GET", base + "/v1/predictions/\(id)").status == 200)
        #expect(Date().timeIntervalSince(t0) >= 0.25)
        #expect(try await call("GET", base + "/v1/predictions/\(id)").status == 200)

        // A dropped connection executes nothing.
        await fake.inject(.dropConnection, on: .create)
        await #expect(throws: (any Error).self) { try await self.call("POST", create, json: ["input": ["prompt": "x"]]) }
        #expect(await fake.predictionsCreated == 1)
        await fake.shutdown()
    }

    @Test func replicateDropAfterCreateCreatesButDrops() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        let since = FakeServerTests.iso(Date().addingTimeInterval(-2))
        await fake.inject(.dropAfterCreate, on: .create)
        await #expect(throws: (any Error).self) {
            try await self.call("POST", base + "/v1/models/acme/flux/predictions", json: ["input": ["prompt": "lost answer"]])
        }
        #expect(await fake.predictionsCreated == 1)
        // The client can find it by listing recent predictions, and it runs to completion.
        let list = try await call("GET", base + "/v1/predictions?created_after=\(since)")
        let found = try #require(list.json?["results"]?.arrayValue?.first)
        #expect(found["input"]?["prompt"] == "lost answer")
        let id = try #require(found["id"]?.stringValue)
        let done = try await poll(base + "/v1/predictions/\(id)", until: Self.terminal)
        #expect(done["status"] == "succeeded")
        #expect(await fake.billablePredictions == 1)
        await fake.shutdown()
    }

    @Test func replicateListPagesNewestFirst() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        await fake.setLifecycle(starting: 60, processing: 60)
        var ids: [String] = []
        for i in 0..<130 {
            let r = try await call("POST", base + "/v1/models/acme/flux/predictions", json: ["input": ["prompt": .string("p\(i)")]])
            ids.append(try #require(r.json?["id"]?.stringValue))
        }
        #expect(await fake.inFlight == 130)
        #expect(await fake.maxConcurrentInFlight == 130)
        let first = try #require(try await call("GET", base + "/v1/predictions").json)
        let page1 = try #require(first["results"]?.arrayValue)
        #expect(page1.count == 100)
        #expect(page1.first?["id"] == .string(ids.last!))
        let next = try #require(first["next"]?.stringValue)
        #expect(next.hasPrefix(base + "/v1/predictions?"))
        let second = try #require(try await call("GET", next).json)
        let page2 = try #require(second["results"]?.arrayValue)
        #expect(page2.count == 30 && second["next"] == .null && second["previous"]?.stringValue != nil)
        #expect((page1 + page2).compactMap { $0["id"]?.stringValue } == ids.reversed())
        await fake.shutdown()
    }

    @Test func replicateCancelFailuresExpiryAndBrokenDownloads() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        let create = base + "/v1/models/acme/video/predictions"
        // Cancel: terminal, not billable.
        await fake.setLifecycle(starting: 0.01, processing: 10)
        let long = try #require(try await call("POST", create, json: ["input": ["prompt": "x", "duration": 1]]).json?["id"]?.stringValue)
        let canceled = try await call("POST", base + "/v1/predictions/\(long)/cancel")
        #expect(canceled.status == 200 && canceled.json?["status"] == "canceled")
        #expect(await fake.canceledPredictionIds == [long])
        #expect(try await call("POST", base + "/v1/predictions/nope/cancel").status == 404)

        // predictionFails.
        await fake.setLifecycle(starting: 0.01, processing: 0.02)
        await fake.inject(.predictionFails("CUDA out of memory"), on: .create)
        let failed = try await call("POST", create, json: ["input": ["prompt": "x", "duration": 1]], headers: [("Prefer", "wait")])
        #expect(failed.json?["status"] == "failed" && failed.json?["error"] == "CUDA out of memory")
        #expect(failed.json?["output"] == .null)

        // Expired outputs answer 404.
        await fake.inject(.expireOutputs, on: .create)
        let expired = try #require(try await call("POST", create, json: ["input": ["prompt": "x", "duration": 1]],
                                                  headers: [("Prefer", "wait")]).json)
        #expect(expired["status"] == "succeeded")
        let expiredURL = try #require(expired["output"]?.stringValue)
        #expect(try await LoopbackClient.send("GET", expiredURL).status == 404)

        // Truncated and wrong-type downloads, one each.
        let good = try #require(try await call("POST", create, json: ["input": ["prompt": "x", "duration": 1]],
                                               headers: [("Prefer", "wait")]).json?["output"]?.stringValue)
        await fake.inject(.truncateDownload, on: .download)
        await fake.inject(.wrongOutputType, on: .download)
        await #expect(throws: (any Error).self) { try await LoopbackClient.send("GET", good) }
        let wrong = try await LoopbackClient.send("GET", good)
        #expect(wrong.status == 200 && wrong.header("Content-Type")?.hasPrefix("text/html") == true)
        let fine = try await LoopbackClient.send("GET", good)
        #expect(fine.header("Content-Type") == "video/mp4" && fine.body.count > 1000)

        #expect(await fake.predictionsCreated == 4)
        #expect(await fake.billablePredictions == 2)
        #expect(abs(await fake.bill - 0.2) < 1e-9)
        await fake.shutdown()
    }

    @Test func replicateTextModelChunksTokensAndStream() async throws {
        let fake = try await startReplicate()
        let base = fake.baseURL
        let r = try await call("POST", base + "/v1/models/acme/llm/predictions",
                               json: ["input": ["prompt": "write five words please", "system_prompt": "be brief"]],
                               headers: [("Prefer", "wait")])
        let p = try #require(r.json)
        #expect(p["status"] == "succeeded")
        let chunks = try #require(p["output"]?.arrayValue?.compactMap { $0.stringValue })
        #expect(chunks.count >= 3 && chunks.joined() == "one two three four five six seven eight")
        #expect(p["metrics"]?["input_token_count"] == 6 && p["metrics"]?["output_token_count"] == 8)
        #expect(abs(await fake.bill - (6 * 1 + 8 * 2) / 1e6) < 1e-12)
        let stream = try await LoopbackClient.send("GET", try #require(p["urls"]?["stream"]?.stringValue),
                                                   headers: [("Accept", "text/event-stream")])
        #expect(stream.header("Content-Type") == "text/event-stream")
        #expect(stream.text.contains("event: output\n") && stream.text.hasSuffix("event: done\ndata: {}\n\n"))
        await fake.shutdown()
    }

    /// Collects the requests a webhook receiver got; answers 500 to the first `failFirst` completed deliveries to `/hook`.
    final class Receiver: Sendable {
        let got = Mutex<[LoopbackRequest]>([])
        let failures = Mutex(0)
        let failFirst: Int
        init(failFirst: Int) { self.failFirst = failFirst }

        func handle(_ r: LoopbackRequest) -> LoopbackResponse {
            got.withLock { $0.append(r) }
            if r.path == "/hook", r.json?["status"]?.stringValue.map({ ["succeeded", "failed", "canceled"].contains($0) }) == true {
                let fail = failures.withLock { n in n += 1; return n <= failFirst }
                if fail { return .respond(status: 500) }
            }
            return .respond(status: 200)
        }
    }

    @Test func replicateWebhooksAreSignedFilteredAndRetried() async throws {
        let receiver = Receiver(failFirst: 2)
        let hook = try await LoopbackServer.start { receiver.handle($0) }
        let fake = try await startReplicate()
        let base = fake.baseURL
        let secret = try #require(try await call("GET", base + "/v1/webhooks/default/secret").json?["key"]?.stringValue)
        #expect(secret.hasPrefix("whsec_"))
        let key = SymmetricKey(data: try #require(Data(base64Encoded: String(secret.dropFirst(6)))))

        let r = try await call("POST", base + "/v1/models/acme/flux/predictions",
                               json: ["input": ["prompt": "x"], "webhook": .string(hook.baseURL + "/hook"),
                                      "webhook_events_filter": ["start", "completed"]])
        let id = try #require(r.json?["id"]?.stringValue)
        #expect(r.json?["webhook_events_filter"] == ["start", "completed"])
        // Only completed (the default filter) for a second prediction.
        _ = try await call("POST", base + "/v1/models/acme/flux/predictions",
                           json: ["input": ["prompt": "y"], "webhook": .string(hook.baseURL + "/other")])
        #expect(await fake.waitUntilIdle())
        await fake.waitForWebhooks()

        let got = receiver.got.withLock { $0 }
        for request in got {
            let msgId = try #require(request.header("webhook-id"))
            let stamp = try #require(request.header("webhook-timestamp").flatMap(Int.init))
            #expect(abs(Double(stamp) - Date().timeIntervalSince1970) < 300)
            let signatures = try #require(request.header("webhook-signature")).split(separator: " ")
            var signed = Data("\(msgId).\(stamp).".utf8)
            signed.append(request.body)
            let expected = Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
            #expect(signatures.contains { $0 == "v1,\(expected)" })
        }
        let first = got.filter { $0.path == "/hook" }
        // start once, completed three times (two 500s, then 200), with one webhook-id for the retries.
        #expect(first.map { $0.json?["status"]?.stringValue ?? "" } == ["starting", "succeeded", "succeeded", "succeeded"])
        #expect(first[0].json?["id"] == .string(id))
        #expect(Set(first.dropFirst().compactMap { $0.header("webhook-id") }).count == 1)
        let other = got.filter { $0.path == "/other" }
        #expect(other.count == 1 && other.first?.json?["status"] == "succeeded")
        let deliveries = await fake.webhookDeliveries.filter { $0.predictionId == id }
        #expect(deliveries.map(\.status) == [200, 500, 500, 200])
        await fake.shutdown()
        await hook.shutdown()
    }

    // MARK: FakeCog

    @Test func cogHealthSyncIdempotentPutConflictCancel() async throws {
        let cog = try await FakeCog.start(output: .image, input: ["prompt": ["type": "string"], "steps": ["type": "integer", "default": 4]],
                                          required: ["prompt"], setupSeconds: 5, predictSeconds: 4, slots: 1)
        let base = cog.baseURL
        #expect(try await call("GET", base + "/health-check", token: nil).json?["status"] == "STARTING")
        #expect(try await call("POST", base + "/predictions", token: nil, json: ["input": ["prompt": "x"]]).status == 503)
        let discovery = try #require(try await call("GET", base + "/", token: nil).json)
        #expect(discovery["predictions_idempotent_url"] == "/predictions/{prediction_id}")
        let openapi = try #require(try await call("GET", base + "/openapi.json", token: nil).json)
        #expect(openapi["components"]?["schemas"]?["Input"]?["required"] == ["prompt"])
        #expect(openapi["components"]?["schemas"]?["Output"] != nil)
        var health: JSONValue?
        // Generous bounds: under a loaded CI machine the fake's clock runs on while the test waits for a thread.
        for _ in 0..<1200 {
            health = try await call("GET", base + "/health-check", token: nil).json
            if health?["status"] != "STARTING" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(health?["status"] == "READY" && health?["setup"]?["status"] == "succeeded")

        // Sync POST: 200 with the final object and a data: URI of a real PNG.
        let sync = try await call("POST", base + "/predictions", token: nil, json: ["input": ["prompt": "green"]])
        #expect(sync.status == 200 && sync.json?["status"] == "succeeded")
        let uri = try #require(sync.json?["output"]?.stringValue)
        #expect(uri.hasPrefix("data:image/png;base64,"))
        let png = try #require(Data(base64Encoded: String(uri.dropFirst("data:image/png;base64,".count))))
        #expect(try await probe(png, ext: "png").width == 320)
        #expect((sync.json?["metrics"]?["predict_time"]?.doubleValue ?? 0) > 0)

        // Async PUT, then a second PUT with the same id re-attaches (sync: waits for the same prediction).
        let put = try await call("PUT", base + "/predictions/job1", token: nil, json: ["input": ["prompt": "x"]],
                                 headers: [("Prefer", "respond-async")])
        #expect(put.status == 202 && put.json?["status"] == "starting" && put.json?["id"] == "job1")
        #expect(try await call("GET", base + "/health-check", token: nil).json?["status"] == "BUSY")
        let again = try await call("PUT", base + "/predictions/job1", token: nil, json: ["input": ["prompt": "x"]],
                                   headers: [("Prefer", "respond-async")])
        #expect(again.status == 202)
        let conflict = try await call("PUT", base + "/predictions/job2", token: nil, json: ["input": ["prompt": "x"]])
        #expect(conflict.status == 409)
        let attached = try await call("PUT", base + "/predictions/job1", token: nil, json: ["input": ["prompt": "x"]])
        #expect(attached.status == 200 && attached.json?["status"] == "succeeded")
        #expect(await cog.predictionsStarted == 2)
        // A finished id PUT again answers the stored final object and starts nothing.
        let replay = try await call("PUT", base + "/predictions/job1", token: nil, json: ["input": ["prompt": "x"]])
        #expect(replay.status == 200 && replay.json?["output"] == attached.json?["output"])
        #expect(await cog.predictionsStarted == 2)

        // Cancel: 200 while running, 404 otherwise.
        _ = try await call("PUT", base + "/predictions/job3", token: nil, json: ["input": ["prompt": "x"]],
                           headers: [("Prefer", "respond-async")])
        let cancel = try await call("POST", base + "/predictions/job3/cancel", token: nil)
        #expect(cancel.status == 200)
        #expect(try await call("POST", base + "/predictions/job3/cancel", token: nil).status == 404)
        #expect(await cog.canceledPredictionIds == ["job3"])
        #expect(await cog.prediction("job3")?["status"] == "canceled")

        // Bad input: 422 with pydantic-style detail.
        let bad = try await call("POST", base + "/predictions", token: nil, json: ["input": ["steps": "many"]])
        #expect(bad.status == 422)
        let locs = bad.json?["detail"]?.arrayValue?.compactMap { $0["loc"] } ?? []
        #expect(locs.contains(["body", "input", "prompt"]) && locs.contains(["body", "input", "steps"]))

        // A failed prediction is 200 with status failed.
        await cog.inject(.predictionFails("boom"), on: .create)
        let failed = try await call("POST", base + "/predictions", token: nil, json: ["input": ["prompt": "x"]])
        #expect(failed.status == 200 && failed.json?["status"] == "failed" && failed.json?["error"] == "boom")

        await cog.failSetup()
        #expect(try await call("GET", base + "/health-check", token: nil).json?["status"] == "SETUP_FAILED")
        await cog.shutdown()
    }

    @Test func cogDropAfterCreateThenPutReattachesAndWebhooks() async throws {
        let receiver = Receiver(failFirst: 0)
        let hook = try await LoopbackServer.start { receiver.handle($0) }
        let cog = try await FakeCog.start(output: .audio, input: ["prompt": ["type": "string"], "duration": ["type": "number"]],
                                          predictSeconds: 0.3)
        let base = cog.baseURL
        await cog.inject(.dropAfterCreate, on: .create)
        let body: JSONValue = ["input": ["prompt": "x", "duration": 1.5], "webhook": .string(hook.baseURL + "/cog")]
        await #expect(throws: (any Error).self) { try await self.call("PUT", base + "/predictions/abc", token: nil, json: body) }
        // The retry with the same id waits for the same run.
        let retry = try await call("PUT", base + "/predictions/abc", token: nil, json: body)
        #expect(retry.status == 200 && retry.json?["status"] == "succeeded")
        #expect(await cog.predictionsStarted == 1)
        let uri = try #require(retry.json?["output"]?.stringValue)
        #expect(uri.hasPrefix("data:audio/wav;base64,"))
        let wav = try #require(Data(base64Encoded: String(uri.dropFirst("data:audio/wav;base64,".count))))
        #expect(abs(try await probe(wav, ext: "wav").duration - 1.5) < 0.05)
        await cog.waitForWebhooks()
        let statuses = receiver.got.withLock { $0.map { $0.json?["status"]?.stringValue ?? "" } }
        #expect(statuses == ["starting", "succeeded"])
        #expect(receiver.got.withLock { $0.allSatisfy { $0.header("webhook-signature") == nil } })
        await cog.shutdown()
        await hook.shutdown()
    }

    // MARK: FakeLLM

    @Test func openAIDialect() async throws {
        let llm = try await FakeLLM.start(.openAI, apiKey: "sk-test") { r in "plan for \(r.messages.last?.content ?? "")" }
        let url = llm.baseURL + "/v1/chat/completions"
        let body: JSONValue = ["model": "gpt-4o-mini", "response_format": ["type": "json_object"],
                               "messages": [["role": "system", "content": "You plan videos."],
                                            ["role": "user", "content": [["type": "text", "text": "neon city"]]]]]
        let denied = try await call("POST", url, token: "wrong", json: body)
        #expect(denied.status == 401 && denied.json?["error"]?["type"] == "invalid_request_error")
        let r = try await call("POST", url, token: "sk-test", json: body)
        #expect(r.status == 200)
        let j = try #require(r.json)
        #expect(j["object"] == "chat.completion" && j["model"] == "gpt-4o-mini")
        #expect(j["choices"]?.arrayValue?.first?["message"]?["content"] == "plan for neon city")
        #expect(j["choices"]?.arrayValue?.first?["finish_reason"] == "stop" && j["choices"]?.arrayValue?.first?["message"]?["role"] == "assistant")
        let usage = try #require(j["usage"])
        #expect(usage["completion_tokens"] == 5)  // 4 words × 1.3
        #expect(usage["total_tokens"]?.intValue == (usage["prompt_tokens"]?.intValue ?? 0) + 5)
        let seen = try #require(await llm.requests.last)
        #expect(seen.system == "You plan videos." && seen.messages.count == 1 && seen.messages[0].role == "user")
        #expect(seen.responseFormat == ["type": "json_object"])

        await llm.inject(.throttle(retryAfter: 3))
        let throttled = try await call("POST", url, token: "sk-test", json: body)
        #expect(throttled.status == 429 && throttled.header("Retry-After") == "3")
        #expect(throttled.json?["error"]?["code"] == "rate_limit_exceeded")
        #expect(await llm.calls == 1)
        await llm.shutdown()
    }

    @Test func anthropicDialect() async throws {
        let llm = try await FakeLLM.start(.anthropic, apiKey: "sk-ant") { r in
            r.system.contains("JSON") ? #"{"scenes": [1, 2]}"# : "just text"
        }
        let url = llm.baseURL + "/v1/messages"
        let headers = [("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")]
        let tool: JSONValue = ["name": "emit_plan", "description": "d", "input_schema": ["type": "object"]]
        let body: JSONValue = ["model": "claude-x", "max_tokens": 100, "system": "Answer in JSON.",
                               "messages": [["role": "user", "content": "plan"]], "tools": [tool],
                               "tool_choice": ["type": "tool", "name": "emit_plan"]]
        let noVersion = try await call("POST", url, token: nil, json: body, headers: [("x-api-key", "sk-ant")])
        #expect(noVersion.status == 400 && noVersion.json?["error"]?["type"] == "invalid_request_error")
        let badKey = try await call("POST", url, token: nil, json: body, headers: [("x-api-key", "no"), ("anthropic-version", "2023-06-01")])
        #expect(badKey.status == 401 && badKey.json?["type"] == "error" && badKey.json?["error"]?["type"] == "authentication_error")

        let r = try #require(try await call("POST", url, token: nil, json: body, headers: headers).json)
        #expect(r["type"] == "message" && r["role"] == "assistant" && r["model"] == "claude-x")
        #expect(r["stop_reason"] == "tool_use")
        let block = try #require(r["content"]?.arrayValue?.first)
        #expect(block["type"] == "tool_use" && block["name"] == "emit_plan" && block["input"] == ["scenes": [1, 2]])
        #expect(r["usage"]?["input_tokens"]?.intValue ?? 0 > 0 && r["usage"]?["output_tokens"]?.intValue ?? 0 > 0)

        // Without tools (or when the answer is not JSON): a text block.
        let plain: JSONValue = ["model": "claude-x", "max_tokens": 100, "system": [["type": "text", "text": "Be nice."]],
                                "messages": [["role": "user", "content": [["type": "text", "text": "hi"]]]]]
        let t = try #require(try await call("POST", url, token: nil, json: plain, headers: headers).json)
        #expect(t["stop_reason"] == "end_turn" && t["content"]?.arrayValue?.first == ["type": "text", "text": "just text"])
        #expect(await llm.requests.last?.system == "Be nice.")

        await llm.inject(.serverError(529))
        let overloaded = try await call("POST", url, token: nil, json: plain, headers: headers)
        #expect(overloaded.status == 529 && overloaded.json?["error"]?["type"] == "overloaded_error")
        await llm.inject(.dropAfterCreate)
        await #expect(throws: (any Error).self) { try await self.call("POST", url, token: nil, json: plain, headers: headers) }
        #expect(await llm.calls == 3)
        await llm.shutdown()
    }
}
