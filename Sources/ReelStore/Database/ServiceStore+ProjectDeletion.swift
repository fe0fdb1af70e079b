import Foundation
import Fluent
import ReelCore

/// A project could not be deleted yet: `count` of its jobs are running. They were asked to cancel; ask again once
/// their workers have stopped them.
public struct ProjectJobsRunning: Error, Sendable, Equatable {
    public var count: Int
}

/// What one try at deleting a project came to.
enum ProjectDeletion: Sendable {
    case notFound
    case jobsRunning(Int)
    case deleted([String])
}

extension ServiceStore {
    /// Checkpoint names under which a run notes an object it stored (`object:<key>`), so deleting the project finds
    /// objects no row names otherwise (scene clips of a run that never finished).
    static let objectCheckpointPrefix = "object:"

    /// Notes that the run `run` (a key that starts with its project's id) stored the object `key`.
    public func noteCheckpointObject(run: String, key: String) async throws {
        try await saveCheckpoint(run: run, name: Self.objectCheckpointPrefix + key, data: Data())
    }
}
