import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// Generation jobs: the job object, idempotency, limits, results, cancel and retry.
@Suite struct APIJobTests {
    static let jobKeys: Set<String> = ["id", "projectId", "kind", "status", "stage", "progress", "etaSeconds", "error",
                                        "createdAt", "startedAt", "finishedAt", "retryOf"]

    @Test func generateAnswers202WithTheContractJobObject() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let r = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            #expect(r.status == 202, "\(r.text)")
            let job = try #require(r.json.objectValue)
            #expect(Set(job.keys) == Self.jobKeys, "exactly the CONTRACTS.md keys")
            #expect(job["projectId"]?.stringValue == project.uuidString)
            #expect(job["kind"] == "generate")
            #expect(job["status"] == "queued")
            #expect(job["stage"] == .null)
            #expect(job["progress"] == 0)
            #expect(job["error"] == .null)
            #expect(job["retryOf"] == .null)
            #expect(job["startedAt"] == .null)
            let id = try #require(job["id"]?.stringValue)
            #expect(r.headers.first(name: "Location") == "/api/jobs/\(id)")

            let get = try await server.send(.GET, "/api/jobs/\(id)", key: key)
            #expect(get.status == 200)
            #expect(get.json == r.json)
            #expect(try await server.send(.GET, "/api/jobs/\(id)/status", key: key).json == r.json)
            let list = try await server.send(.GET, "/api/projects/\(project)/jobs", key: key)
            #expect(list.json["items"]?.arrayValue?.map { $0["id"]?.stringValue } == [id])

            let (_, other) = try await server.user()
            for path in ["/api/jobs/\(id)", "/api/jobs/\(id)/status", "/api/jobs/\(id)/result", "/api/jobs/\(id)/video"] {
                #expect(try await server.send(.GET, path, key: other).isProblem(404), "\(path)")
            }
            #expect(try await server.send(.POST, "/api/jobs/\(id)/cancel", key: other).isProblem(404))
            #expect(try await server.send(.POST, "/api/jobs/\(id)/retry", key: other).isProblem(404))
            #expect(try await server.send(.GET, "/api/jobs/\(UUID().uuidString)", key: key).isProblem(404))
            #expect(try await server.send(.POST, "/api/projects/\(project)/generate", key: key, json: #"{"budget": -1}"#).isProblem(422))
            #expect(try await server.send(.POST, "/api/projects/\(project)/generate", key: key, json: #"{"budget": 1"#).isProblem(400))
        }
    }

    @Test func idempotencyKeyAnswersTheSameJob() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let first = try await server.send(.POST, "/api/projects/\(project)/generate", key: key, headers: [("Idempotency-Key", "abc-123")])
            let again = try await server.send(.POST, "/api/projects/\(project)/generate", key: key, headers: [("Idempotency-Key", "abc-123")])
            #expect(first.status == 202)
            #expect(again.status == 202)
            #expect(first.json["id"] == again.json["id"])
            #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
            let list = try await server.send(.GET, "/api/projects/\(project)/jobs", key: key)
            #expect(list.json["items"]?.arrayValue?.count == 1)
            let bad = try await server.send(.POST, "/api/projects/\(project)/generate", key: key,
                                            headers: [("Idempotency-Key", String(repeating: "k", count: 201))])
            #expect(bad.isProblem(400))
        }
    }

    @Test func concurrentJobLimitAndBudget() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            try await server.store.setLimits(userId: user.id, budget: nil, maxConcurrentJobs: 1, requestsPerMinute: nil)
            let project = try await server.project(key: key)
            #expect(try await server.send(.POST, "/api/projects/\(project)/generate", key: key).status == 202)
            let limited = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            #expect(limited.isProblem(429))
            #expect(limited.headers.first(name: "Retry-After").flatMap(Int.init) != nil)

            let (poor, poorKey) = try await server.user()
            try await server.store.setLimits(userId: poor.id, budget: 0, maxConcurrentJobs: nil, requestsPerMinute: nil)
            let poorProject = try await server.project(key: poorKey)
            let refused = try await server.send(.POST, "/api/projects/\(poorProject)/generate", key: poorKey)
            #expect(refused.isProblem(402))
            #expect(refused.json["type"]?.stringValue?.hasSuffix("budget-exceeded") == true)
        }
    }

    @Test func resultCancelAndRetry() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            let started = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            let id = try #require(started.json["id"]?.stringValue)
            let early = try await server.send(.GET, "/api/jobs/\(id)/result", key: key)
            #expect(early.isProblem(409))
            #expect(try await server.send(.GET, "/api/jobs/\(id)/video", key: key).isProblem(409))

            // Play the worker: claim it, store its files, complete it.
            let claimed = try #require(try await server.store.claimJob(worker: "test", lease: .seconds(30)))
            #expect(claimed.id.uuidString == id)
            let files = try Fixtures.temporaryDirectory("outputs")
            defer { try? FileManager.default.removeItem(atPath: files) }
            let video = Data((0..<5000).map { UInt8($0 % 251) })
            let videoPath = (files as NSString).appendingPathComponent("v.mp4")
            try video.write(to: URL(fileURLWithPath: videoPath))
            let manifestPath = (files as NSString).appendingPathComponent("m.json")
            try Data(#"{"version": 1}"#.utf8).write(to: URL(fileURLWithPath: manifestPath))
            let base = "jobs/\(id.lowercased())"
            try await server.objects.put("\(base)/video.mp4", fromFile: videoPath, contentType: "video/mp4")
            try await server.objects.put("\(base)/video.manifest.json", fromFile: manifestPath, contentType: "application/json")
            try await server.objects.put("\(base)/thumbnail.jpg", fromFile: manifestPath, contentType: "image/jpeg")
            try await server.store.completeJob(jobId: claimed.id, worker: "test",
                                               outputs: JobOutputs(video: "\(base)/video.mp4", manifest: "\(base)/video.manifest.json",
                                                                   thumbnail: "\(base)/thumbnail.jpg"),
                                               stageSeconds: [.generate: 1])

            let result = try await server.send(.GET, "/api/jobs/\(id)/result", key: key)
            #expect(result.status == 200)
            #expect(result.json == ["videoUrl": .string("/api/jobs/\(id)/video"), "manifestUrl": .string("/api/jobs/\(id)/manifest"),
                                    "thumbnailUrl": .string("/api/jobs/\(id)/thumbnail")])
            let range = try await server.send(.GET, "/api/jobs/\(id)/video", key: key, headers: [("Range", "bytes=1000-1999")])
            #expect(range.status == 206)
            #expect(range.body == video.subdata(in: 1000..<2000))
            #expect(range.headers.first(name: "Content-Type") == "video/mp4")
            let manifest = try await server.send(.GET, "/api/jobs/\(id)/manifest", key: key)
            #expect(manifest.json == ["version": 1])
            let done = try await server.send(.GET, "/api/jobs/\(id)", key: key)
            #expect(done.json["status"] == "succeeded")
            #expect(done.json["finishedAt"]?.stringValue != nil)

            // A finished job cannot be canceled, and a succeeded one is not retried.
            #expect(try await server.send(.POST, "/api/jobs/\(id)/cancel", key: key).isProblem(409))
            #expect(try await server.send(.POST, "/api/jobs/\(id)/retry", key: key).isProblem(409))

            // Cancel a queued job, then retry it as a new job.
            let second = try await server.send(.POST, "/api/projects/\(project)/generate", key: key)
            let secondId = try #require(second.json["id"]?.stringValue)
            let cancel = try await server.send(.POST, "/api/jobs/\(secondId)/cancel", key: key)
            #expect(cancel.status == 202)
            #expect(cancel.json["status"] == "canceled")
            #expect(try await server.send(.POST, "/api/jobs/\(secondId)/cancel", key: key).isProblem(409))
            let retry = try await server.send(.POST, "/api/jobs/\(secondId)/retry", key: key)
            #expect(retry.status == 202)
            #expect(retry.json["retryOf"]?.stringValue == secondId)
            #expect(retry.json["id"]?.stringValue != secondId)
            #expect(retry.json["status"] == "queued")
        }
    }

    @Test func regenerateSceneBumpsItsVariant() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            try await server.store.setPlan(projectId: project, plan: apiPlan(scenes: 2))
            let scenes = try await server.store.scenes(projectId: project)
            let scene = try #require(scenes.first { $0.index == 1 })
            let path = "/api/projects/\(project)/scenes/\(scene.id)/regenerate"
            let r = try await server.send(.POST, path, key: key, headers: [("Idempotency-Key", "regen-1")])
            #expect(r.status == 202, "\(r.text)")
            #expect(r.json["kind"] == "regenerate-scene")
            let replay = try await server.send(.POST, path, key: key, headers: [("Idempotency-Key", "regen-1")])
            #expect(replay.json["id"] == r.json["id"])
            let after = try await server.store.scenes(projectId: project).first { $0.id == scene.id }
            #expect(after?.variant == scene.variant + 1, "bumped once, not again by the replay")
            let job = try #require(try await server.store.job(id: UUID(uuidString: r.json["id"]?.stringValue ?? "")!, owner: nil))
            #expect(job.parameters.sceneIndex == 1)
            #expect(try await server.send(.POST, "/api/projects/\(project)/scenes/\(UUID())/regenerate", key: key).isProblem(404))
            let plain = try await server.send(.POST, path, key: key)
            #expect(plain.status == 202)
            #expect(plain.json["id"] != r.json["id"])
            #expect(try await server.store.scenes(projectId: project).first { $0.id == scene.id }?.variant == scene.variant + 2)
        }
    }
}
