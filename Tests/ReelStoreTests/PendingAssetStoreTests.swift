import Foundation
import ReelCore
@testable import ReelStore
import ReelTestSupport
import Testing

/// Direct uploads in the database: completing one and sweeping it are exclusive (whichever comes first wins, the
/// other is told so), and stale ones are found by age.
@Suite struct PendingAssetStoreTests {
    @Test(arguments: Backend.allCases) func completeAndSweepOfAPendingUploadExcludeEachOther(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let user = try await store.createUser(name: "pending-\(UUID().uuidString.prefix(6))").user
            let project = try await store.createProject(owner: user.id, fields: ProjectFields(prompt: "neon"))
            func pending(createdAt: Date) async throws -> AssetRecord {
                try await store.createAsset(AssetRecord(projectId: project.id, ownerId: user.id, kind: .audio, filename: "a.mp3",
                                                        storageKey: "uploads/\(project.id)/\(UUID()).audio".lowercased(),
                                                        contentType: "audio/mpeg", size: 10, status: "pending", createdAt: createdAt))
            }
            let old = try await pending(createdAt: Date().addingTimeInterval(-7200))
            let fresh = try await pending(createdAt: Date())
            #expect(try await store.pendingAssets(createdBefore: Date().addingTimeInterval(-3600), limit: 10).map(\.id) == [old.id])

            var ready = fresh
            ready.status = "ready"
            ready.storageKey = "assets/\(project.id)/\(fresh.id).mp3".lowercased()
            ready.sha256 = String(repeating: "a", count: 64)
            #expect(try await store.completePendingAsset(ready))
            #expect(try await !store.completePendingAsset(ready), "only once")
            #expect(try await !store.deletePendingAsset(id: fresh.id, owner: user.id), "a completed upload is not swept")
            #expect(try await store.asset(id: fresh.id, owner: user.id)?.status == "ready")

            #expect(try await !store.deletePendingAsset(id: old.id, owner: UUID()), "another owner's is not touched")
            #expect(try await store.deletePendingAsset(id: old.id, owner: user.id))
            var late = old
            late.status = "ready"
            #expect(try await !store.completePendingAsset(late), "a swept upload cannot be completed")
            #expect(try await store.asset(id: old.id, owner: user.id) == nil)
        }
    }
}
