import Foundation
import ReelCore
@testable import ReelServer
import ReelTestSupport
import Testing

/// Issue 14, item 3: the hostile-media corpus against the upload route. A refused file gets a 4xx problem that says
/// what it is, never a 5xx, and leaves nothing in storage or in the scratch folder.
@Suite("hostile uploads (issue 14, item 3)")
struct HardeningMediaTests {
    @Test func theHostileMediaCorpusIsRefusedAtUploadAndLeavesNothing() async throws {
        let dir = try Fixtures.temporaryDirectory("hostile-upload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = try await HostileMedia.make(in: dir)
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            let project = try await server.project(key: key)
            for entry in corpus {
                let data = try Data(contentsOf: URL(fileURLWithPath: entry.path))
                let before = server.storedFiles()
                let r = try await server.upload(projectId: project, key: key, data: data, filename: entry.name, contentType: entry.contentType)
                #expect(r.status < 500, "\(entry): \(r.status) \(r.text)")
                if let kind = entry.plainKind {
                    // Plain media under a misleading name (the server never uses the name to open it): judged by content.
                    #expect(r.status == 201, "\(entry): \(r.status) \(r.text)")
                    #expect(r.json["kind"]?.stringValue == kind, "\(entry)")
                    if let id = r.json["id"]?.stringValue {
                        #expect(try await server.send(.DELETE, "/api/assets/\(id)", key: key).status == 204)
                    }
                    continue
                }
                #expect(r.isProblem(415) || r.isProblem(422), "\(entry): \(r.status) \(r.text)")
                let detail = r.json["detail"]?.stringValue ?? ""
                if let word = entry.refusalMentions {
                    #expect(detail.contains(word), "\(entry): the detail says what the file is: \(detail)")
                }
                #expect(!detail.contains(server.scratch) && !detail.contains(dir), "\(entry): no path in '\(detail)'")
                #expect(server.storedFiles() == before, "\(entry): nothing stored, nothing left in scratch")
            }
            let list = try await server.send(.GET, "/api/projects/\(project)/assets", key: key)
            #expect(list.json["items"]?.arrayValue?.isEmpty == true)
            #expect(server.storedFiles().isEmpty)
        }
    }
}
