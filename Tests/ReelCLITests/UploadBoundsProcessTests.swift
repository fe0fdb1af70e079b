import Foundation
import ReelCore
import ReelTestSupport
import Testing

/// Multipart uploads against `reelsmith serve` as a process of its own, so its memory can be read from outside: a
/// chunked body (no `Content-Length`) whose part header never ends, or whose parts never end, is cut off with a 413
/// long before it is over, and the server's memory does not follow what the client sends.
@Suite struct UploadBoundsProcessTests {
    struct Served {
        let server: ChildProcess
        let port: Int
        let key: String
        let project: String
    }

    static func serve(_ dir: String) async throws -> Served {
        let env = ["REELSMITH_DATA": dir + "/data", "DATABASE_URL": "", "S3_ENDPOINT": "", "S3_BUCKET": "",
                   "REPLICATE_API_TOKEN": "", "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "COG_URL": ""]
        let add = try await ReelsmithProcess.runAsync(["users", "add", "mallory"], in: dir, environment: env).result
        #expect(add.exitCode == 0, "\(add.stderr)")
        let key = try #require(add.stdout.split(separator: "\n").last.map(String.init))
        let server = try ChildProcess(ReelsmithProcess.binary, ["serve", "--port", "0", "--workers", "0"], in: dir, environment: env)
        let listening = await waitUntil(seconds: 60) { server.stderr.contains("listening on http://") || !server.isRunning }
        #expect(listening, "\(server.stderr)")
        let port = try #require(server.stderr.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) })
        let created = try await LoopbackClient.send("POST", "http://127.0.0.1:\(port)/api/projects",
                                                    headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
                                                    body: Data(#"{"prompt": "neon city", "duration": 10}"#.utf8))
        #expect(created.status == 201, "\(created.text)")
        let project = try #require(created.json?["id"]?.stringValue)
        return Served(server: server, port: port, key: key, project: project)
    }

    /// Opens a chunked multipart upload, sends `opening` and then `filler` over and over until the server answers
    /// (or `budget` bytes went out unanswered). Answers the response and how many bytes the server had taken.
    static func endlessUpload(_ served: Served, boundary: String, opening: String, filler: [UInt8],
                              budget: Int = 256 << 20) async throws -> (RawHTTPResponse?, Int) {
        try await Blocking.run {
            let connection = try RawHTTPConnection(port: served.port)
            let head = "POST /api/projects/\(served.project)/assets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Authorization: Bearer \(served.key)\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n"
            _ = connection.send(head)
            _ = connection.send(RawHTTPConnection.chunk(Array(opening.utf8)))
            let chunk = RawHTTPConnection.chunk(filler)
            while connection.bytesSent < budget {
                if let answer = connection.response(waiting: 0) { return (answer, connection.bytesSent) }
                if !connection.send(chunk) {
                    // The server stopped taking bytes: it has answered, or is about to (a server still reading
                    // slowly would not answer at all, and the test fails below).
                    return (connection.response(waiting: 120), connection.bytesSent)
                }
            }
            return (connection.response(waiting: 0), connection.bytesSent)
        }
    }

    static func expectTooLarge(_ answer: RawHTTPResponse?, mentions word: String) {
        #expect(answer?.status == 413, "\(answer?.status ?? 0) \(answer?.text ?? "no answer before the budget ran out")")
        #expect(answer?.header("Content-Type")?.hasPrefix("application/problem+json") == true)
        #expect(answer?.text.contains(word) == true, "\(answer?.text ?? "")")
    }

    @Test func endlessPartHeaderAndEndlessPartsAreCutOffWithBoundedMemory() async throws {
        let dir = try Fixtures.temporaryDirectory("upload-bounds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let served = try await Self.serve(dir)
        defer { served.server.signal(SIGKILL) }
        let before = try #require(RawHTTPConnection.residentBytes(of: served.server.pid))

        // A part header that never ends: one header line, 64 KiB of its value per chunk.
        let boundary = "endless-\(UUID().uuidString)"
        let (header, headerSent) = try await Self.endlessUpload(
            served, boundary: boundary,
            opening: "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nX-Padding: ",
            filler: [UInt8](repeating: UInt8(ascii: "a"), count: 64 << 10))
        Self.expectTooLarge(header, mentions: "headers")
        #expect(headerSent > 16 << 10, "more than the header allowance went out before the answer")
        #expect(headerSent < 256 << 20, "the answer came before the stream was over")

        // Parts that never end: each one small and well formed.
        let part = "\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx"
        let (parts, _) = try await Self.endlessUpload(
            served, boundary: boundary, opening: "--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx",
            filler: Array(String(repeating: part, count: 100).utf8))
        Self.expectTooLarge(parts, mentions: "parts")

        let after = try #require(RawHTTPConnection.residentBytes(of: served.server.pid))
        #expect(after - before < 48 << 20, "the server grew by \(after - before) bytes")
        // Still serving.
        let health = try await LoopbackClient.send("GET", "http://127.0.0.1:\(served.port)/healthz")
        #expect(health.status == 200)
        served.server.signal(SIGTERM)
        #expect(await served.server.exit() == 0, "\(served.server.stderr)")
    }
}
