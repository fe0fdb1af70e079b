import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import ReelTestSupport
import Testing
import Vapor

/// Projects, scenes and costs.
@Suite struct APIProjectTests {
    @Test func createGetListPatchDelete() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let create = try await server.send(.POST, "/api/projects", key: key, json: """
                {"prompt": "rainy neon streets", "category": "ad-creative", "duration": 12.5, "aspectRatio": "9:16",
                 "style": "film grain", "mood": "moody", "preset": "preview", "mode": "agentic", "seed": 42}
                """)
            #expect(create.status == 201)
            let p = create.json
            let id = try #require(p["id"]?.stringValue)
            #expect(create.headers.first(name: "Location") == "/api/projects/\(id)")
            #expect(p["prompt"] == "rainy neon streets")
            #expect(p["category"] == "ad-creative")
            #expect(p["duration"] == .number(12.5))
            #expect(p["aspectRatio"] == "9:16")
            #expect(p["style"] == "film grain")
            #expect(p["mood"] == "moody")
            #expect(p["preset"] == "preview")
            #expect(p["mode"] == "agentic")
            #expect(p["seed"] == .number(42))
            #expect(p["name"] == "rainy neon streets")
            #expect(p["audioAssetId"] == .null, "null keys are written, not left out")
            #expect(p["plan"] == .null)
            #expect(p["createdAt"]?.stringValue?.hasSuffix("Z") == true, "ISO-8601 dates")

            // Defaults for what was left out.
            let plain = try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "x"}"#)
            #expect(plain.status == 201)
            #expect(plain.json["category"] == "music-video")
            #expect(plain.json["duration"] == .null)

            let get = try await server.send(.GET, "/api/projects/\(id)", key: key)
            #expect(get.status == 200)
            #expect(get.json["id"]?.stringValue == id)

            let patch = try await server.send(.PATCH, "/api/projects/\(id)", key: key, json: #"{"name": "Ad", "duration": 30}"#)
            #expect(patch.status == 200)
            #expect(patch.json["name"] == "Ad")
            #expect(patch.json["duration"] == .number(30))
            #expect(patch.json["prompt"] == "rainy neon streets", "fields left out keep their values")

            let delete = try await server.send(.DELETE, "/api/projects/\(id)", key: key)
            #expect(delete.status == 204)
            #expect(try await server.send(.GET, "/api/projects/\(id)", key: key).isProblem(404))
            #expect(try await server.send(.DELETE, "/api/projects/\(id)", key: key).isProblem(404))
        }
    }

    @Test func validationFailuresAreClientProblems() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let longPrompt = String(repeating: "a", count: 2001)
            let cases: [(String, Int)] = [
                (#"{}"#, 422), (#"{"prompt": ""}"#, 422), (#"{"prompt": "   "}"#, 422),
                (#"{"prompt": "\#(longPrompt)"}"#, 422), (#"{"prompt": "x", "duration": 0}"#, 422),
                (#"{"prompt": "x", "duration": 601}"#, 422), (#"{"prompt": "x", "category": "opera"}"#, 422),
                (#"{"prompt": "x", "aspectRatio": "2:1"}"#, 422), (#"{"prompt": "x", "preset": "ultra"}"#, 422),
                (#"{"prompt": "x", "mode": "magic"}"#, 422), (#"{"prompt": "x", "seed": -1}"#, 400),
                (#"{"prompt": "x", "seed": 9007199254740992}"#, 422), (#"{"prompt": null}"#, 400),
                (#"{"prompt": "x", "duration": "long"}"#, 400), (#"{"prompt": "a\u0000b"}"#, 422),
                (#"{"prompt": "x", "audioAssetId": "\#(UUID().uuidString)"}"#, 422),
            ]
            for (body, status) in cases {
                let r = try await server.send(.POST, "/api/projects", key: key, json: body)
                #expect(r.isProblem(status), "\(body.prefix(80)) → \(r.status) \(r.text.prefix(200))")
            }
            #expect(try await server.send(.POST, "/api/projects", key: key, json: #"{"prompt": "\#(String(repeating: "é", count: 2000))"}"#).status == 201)
            let id = try await server.project(key: key)
            let patch = try await server.send(.PATCH, "/api/projects/\(id)", key: key, json: #"{"duration": 0.5}"#)
            #expect(patch.isProblem(422))
            let song = try await server.send(.PATCH, "/api/projects/\(id)", key: key, json: #"{"audioAssetId": "\#(UUID().uuidString)"}"#)
            #expect(song.isProblem(422))
        }
    }

    @Test func listIsPaginatedNewestFirst() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            var ids: [UUID] = []
            for i in 0..<3 { ids.append(try await server.project(key: key, prompt: "p\(i)")) }
            let first = try await server.send(.GET, "/api/projects?limit=2", key: key)
            #expect(first.status == 200)
            let items = try #require(first.json["items"]?.arrayValue)
            #expect(items.count == 2)
            #expect(items.first?["id"]?.stringValue == ids[2].uuidString)
            let cursor = try #require(first.json["nextCursor"]?.stringValue)
            let second = try await server.send(.GET, "/api/projects?limit=2&cursor=\(cursor)", key: key)
            #expect(second.json["items"]?.arrayValue?.map { $0["id"]?.stringValue } == [ids[0].uuidString])
            #expect(second.json["nextCursor"] == .null)
            #expect(try await server.send(.GET, "/api/projects?limit=0", key: key).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects?limit=abc", key: key).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects?cursor=garbage", key: key).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects?limit=1&limit=2", key: key).isProblem(400))
            #expect(try await server.send(.GET, "/api/projects?limit=%2B5", key: key).isProblem(400))
        }
    }

    @Test func anotherUsersProjectIsNotFound() async throws {
        try await withAPIServer { server in
            let (_, owner) = try await server.user()
            let (_, other) = try await server.user()
            let id = try await server.project(key: owner)
            let sceneId = UUID().uuidString
            let attempts: [(HTTPMethod, String, String?)] = [
                (.GET, "/api/projects/\(id)", nil), (.PATCH, "/api/projects/\(id)", #"{"name": "mine"}"#),
                (.DELETE, "/api/projects/\(id)", nil), (.GET, "/api/projects/\(id)/scenes", nil),
                (.PATCH, "/api/projects/\(id)/scenes/\(sceneId)", #"{"locked": true}"#),
                (.POST, "/api/projects/\(id)/generate", nil), (.POST, "/api/projects/\(id)/scenes/\(sceneId)/regenerate", nil),
                (.GET, "/api/projects/\(id)/jobs", nil), (.GET, "/api/projects/\(id)/costs", nil),
                (.GET, "/api/projects/\(id)/assets", nil), (.GET, "/api/projects/\(id)/events", nil),
            ]
            for (method, path, body) in attempts {
                let r = try await server.send(method, path, key: other, json: body)
                #expect(r.isProblem(404), "\(method) \(path) by another user: \(r.status)")
            }
            let list = try await server.send(.GET, "/api/projects", key: other)
            #expect(list.json["items"]?.arrayValue?.isEmpty == true)
            #expect(try await server.send(.GET, "/api/projects/\(id)", key: owner).status == 200, "still there")
        }
    }

    @Test func scenesListAndPatch() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let id = try await server.project(key: key)
            let empty = try await server.send(.GET, "/api/projects/\(id)/scenes", key: key)
            #expect(empty.status == 200)
            #expect(empty.json["items"]?.arrayValue?.isEmpty == true)
            try await server.store.setPlan(projectId: id, plan: apiPlan(scenes: 3))
            let scenes = try await server.send(.GET, "/api/projects/\(id)/scenes", key: key)
            let items = try #require(scenes.json["items"]?.arrayValue)
            #expect(items.count == 3)
            #expect(items.map { $0["index"] } == [0, 1, 2])
            let sceneId = try #require(items[1]["id"]?.stringValue)
            #expect(items[1]["duration"] == .number(2))

            let patch = try await server.send(.PATCH, "/api/projects/\(id)/scenes/\(sceneId)", key: key,
                                              json: #"{"prompt": "a red door", "locked": true}"#)
            #expect(patch.status == 200)
            #expect(patch.json["prompt"] == "a red door")
            #expect(patch.json["locked"] == true)
            #expect(try await server.send(.PATCH, "/api/projects/\(id)/scenes/\(sceneId)", key: key, json: #"{"prompt": ""}"#).isProblem(422))
            #expect(try await server.send(.PATCH, "/api/projects/\(id)/scenes/\(sceneId)", key: key, json: #"{"duration": -1}"#).isProblem(422))
            #expect(try await server.send(.PATCH, "/api/projects/\(id)/scenes/\(sceneId)", key: key, json: #"{"locked": "yes"}"#).isProblem(400))
            #expect(try await server.send(.PATCH, "/api/projects/\(id)/scenes/\(UUID().uuidString)", key: key, json: #"{"locked": true}"#).isProblem(404))
            let project = try await server.send(.GET, "/api/projects/\(id)", key: key)
            #expect(project.json["plan"]?["scenes"]?.arrayValue?.count == 3)
        }
    }

    @Test func costsByScenesModelsAndKinds() async throws {
        try await withAPIServer { server in
            let (user, key) = try await server.user()
            let id = try await server.project(key: key)
            let empty = try await server.send(.GET, "/api/projects/\(id)/costs", key: key)
            #expect(empty.status == 200)
            #expect(empty.json["total"] == .number(0))
            #expect(empty.json["entries"]?.arrayValue?.isEmpty == true)

            let job = try await server.store.enqueue(JobRecord(projectId: id, userId: user.id, kind: .generate), idempotencyKey: nil).job
            func entry(_ scene: Int?, _ model: String, _ kind: String, _ cost: Double) -> CostEntry {
                CostEntry(role: "video.draft", provider: "replicate", model: model, scene: scene, units: cost * 100, unit: "second",
                          unitPrice: 0.01, cacheHit: false, predictionId: nil, at: Date(), kind: kind, status: "succeeded")
            }
            try await server.store.recordCosts(projectId: id, jobId: job.id, userId: user.id, entries: [
                entry(0, "a/video", "video", 0.5), entry(1, "a/video", "video", 0.25), entry(1, "b/image", "image", 0.1),
                entry(nil, "c/llm", "text", 0.01),
            ])
            let costs = try await server.send(.GET, "/api/projects/\(id)/costs", key: key)
            #expect(costs.status == 200)
            #expect(costs.json["currency"] == "USD")
            #expect(costs.json["total"] == .number(0.86))
            #expect(costs.json["byScene"] == [["scene": 0, "cost": 0.5], ["scene": 1, "cost": 0.35]])
            #expect(costs.json["byKind"] == [["kind": "image", "cost": 0.1], ["kind": "text", "cost": 0.01], ["kind": "video", "cost": 0.75]])
            let models = try #require(costs.json["byModel"]?.arrayValue)
            #expect(models.count == 3)
            #expect(models.first == ["provider": "replicate", "model": "a/video", "cost": 0.75])
            #expect(costs.json["entries"]?.arrayValue?.count == 4)
        }
    }
}
