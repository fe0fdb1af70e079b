import Foundation
import Fluent
import ReelCore

// What the shared generation cache (ReelServer's `StoreSharedGenerations`) needs beyond the checkpoint and
// cache-index methods: forgetting a note once its prediction has finished.

extension ServiceStore {
    /// Removes the data saved under (`run`, `name`); removing a missing one is not an error.
    public func deleteCheckpoint(run: String, name: String) async throws {
        try await CheckpointModel.query(on: db).filter(\.$run == run).filter(\.$name == name).delete()
    }
}
