import Foundation
import ReelCore
import ReelStore
import Synchronization

/// Pipeline checkpoints kept where every worker sees them: the plan in the database (by run key), finished scene clips
/// as objects `checkpoints/<projectId>/<sceneKey>.mp4`, so a worker on another machine resumes a dead worker's run.
public final class StoreCheckpoints: PipelineCheckpoints {
    let store: ServiceStore
    let objects: any ObjectStore
    /// The run these checkpoints belong to (the job, or the job it retries).
    public let run: String
    public let projectId: UUID
    private let clips = Mutex<[Int: String]>([:])
    /// Clips that locked scenes showed last (object keys by scene index): restored whatever their key.
    private let lockedClips = Mutex<[Int: String]>([:])

    public init(store: ServiceStore, objects: any ObjectStore, run: String, projectId: UUID) {
        self.store = store; self.objects = objects; self.run = run; self.projectId = projectId
    }

    /// Scenes the user locked keep the clip they showed last (`SceneRecord.clipKey`).
    public func keepLockedClips(_ clipsByIndex: [Int: String]) { lockedClips.withLock { $0 = clipsByIndex } }

    /// The object key of a scene clip's checkpoint.
    public static func sceneObjectKey(projectId: UUID, sceneKey: String) -> String {
        let safe = String(sceneKey.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(128))
        return "checkpoints/\(projectId.uuidString.lowercased())/\(safe).mp4"
    }

    public func savedPlan() async throws -> PlanCheckpoint? {
        guard let data = try await store.checkpoint(run: run, name: "plan") else { return nil }
        // A checkpoint this version cannot read is planned again rather than failing the job.
        return try? ReelJSON.decoder().decode(PlanCheckpoint.self, from: data)
    }

    public func savePlan(_ checkpoint: PlanCheckpoint) async throws {
        try await store.saveCheckpoint(run: run, name: "plan", data: try ReelJSON.encoder(pretty: false).encode(checkpoint))
    }

    public func restoreScene(key: String, index: Int, to path: String) async throws -> Bool {
        var candidates = [Self.sceneObjectKey(projectId: projectId, sceneKey: key)]
        if let locked = lockedClips.withLock({ $0[index] }) { candidates.insert(locked, at: 0) }
        for objectKey in candidates where try await fetch(objectKey, to: path) {
            clips.withLock { $0[index] = objectKey }
            return true
        }
        return false
    }

    private func fetch(_ objectKey: String, to path: String) async throws -> Bool {
        guard try await objects.head(objectKey) != nil else { return false }
        do {
            try await objects.get(objectKey, toFile: path)
            return true
        } catch let e as ReelError where e.code == .fileNotFound {
            return false
        }
    }

    public func saveScene(key: String, index: Int, clipAt path: String) async throws {
        let objectKey = Self.sceneObjectKey(projectId: projectId, sceneKey: key)
        // Noted first: deleting the project then finds the object even if this run never records the scene's clip.
        try await store.noteCheckpointObject(run: run, key: objectKey)
        try await objects.put(objectKey, fromFile: path, contentType: "video/mp4")
        clips.withLock { $0[index] = objectKey }
    }

    /// Object keys of the scene clips saved or restored in this run, by scene index.
    public var sceneClips: [Int: String] { clips.withLock { $0 } }

    /// A seed chosen for a project without one, kept so that every attempt of the run uses the same.
    func seed(choosing make: () -> UInt64) async throws -> UInt64 {
        if let data = try await store.checkpoint(run: run, name: "seed"),
           let text = String(data: data, encoding: .utf8), let seed = UInt64(text) {
            return seed
        }
        let seed = make()
        try await store.saveCheckpoint(run: run, name: "seed", data: Data(String(seed).utf8))
        return seed
    }
}
