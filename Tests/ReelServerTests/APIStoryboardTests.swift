import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import Testing
import Vapor

/// `GET /api/projects/{id}/storyboard.png`: the plan drawn before anything is generated.
@Suite struct APIStoryboardTests {
    @Test func aProjectsStoryboardIsAPNGOfItsPlanAndOnlyItsOwnerSeesIt() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let create = try await server.send(.POST, "/api/projects", key: key,
                                               json: #"{"prompt": "forest at dawn, calm", "duration": 10, "seed": 3}"#)
            let id = try #require(create.json["id"]?.stringValue)
            let board = try await server.send(.GET, "/api/projects/\(id)/storyboard.png", key: key)
            #expect(board.status == 200)
            #expect(board.headers.first(name: "Content-Type") == "image/png")
            #expect(board.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            let again = try await server.send(.GET, "/api/projects/\(id)/storyboard.png", key: key)
            #expect(again.body == board.body, "the same project and seed draw the same board")

            let (_, other) = try await server.user("mallory")
            #expect(try await server.send(.GET, "/api/projects/\(id)/storyboard.png", key: other).isProblem(404))
            #expect(try await server.send(.GET, "/api/projects/\(id)/storyboard.png").status == 401)
        }
    }
}
