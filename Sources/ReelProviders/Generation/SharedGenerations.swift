import Foundation
import ReelCore

/// The generation cache of a whole service: finished generations and predictions in flight, seen by every machine.
///
/// A machine's `GenerationCache` lives in its own data folder, so when a worker dies mid-job and a worker on another
/// machine resumes the job, what the dead one paid for would be paid again: a prediction it left running would be
/// created anew, and generations it finished (a keyframe whose clip was not done) made again. `ModelRunner` asks this
/// tier after a local miss and writes to it after the local cache, so the resuming machine follows the same
/// prediction or downloads the same result for nothing.
///
/// ReelProviders knows nothing of databases or object stores (it imports only ReelCore and ReelMedia): the service
/// implements this over its database and object store (ReelServer's `StoreSharedGenerations`).
///
/// Keys are `GenerationCache.key(...)` values (SHA-256 hex). Every method may throw for an unreachable tier;
/// `ModelRunner` never lets such an error fail a run (see `ModelRunner.attemptCall`).
public protocol SharedGenerations: Sendable {
    /// Copies the finished generation shared under `key` into the local `cache` and returns it from there (its files
    /// local); nil when no machine has shared one.
    func fetch(key: String, into cache: GenerationCache) async throws -> GenerationCache.Hit?

    /// Shares a generation held by a local cache (its record and files). Sharing a key again is harmless.
    func publish(_ hit: GenerationCache.Hit) async throws

    /// The prediction some machine noted in flight for `key`, if any.
    func inFlight(key: String) async throws -> GenerationCache.InFlight?

    /// Notes (or replaces) what is in flight for `key`: a create being sent, or the prediction it made.
    func noteInFlight(key: String, entry: GenerationCache.InFlight) async throws

    /// Forgets the in-flight note for `key` (the prediction finished and was shared, or ended without a result);
    /// forgetting a missing note is not an error.
    func clearInFlight(key: String) async throws
}
