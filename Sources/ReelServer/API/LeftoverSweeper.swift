import Foundation
import Logging
import ReelCore
import ReelStore
import Vapor

/// Where direct uploads land before `complete` has checked them: nothing else is stored under this prefix.
enum StagingKeys {
    static let prefix = "uploads/"

    static func key(project: UUID, asset: UUID, kind: AssetKind) -> String {
        "\(prefix)\(project.uuidString.lowercased())/\(asset.uuidString.lowercased()).\(kind.rawValue)"
    }
}

/// Removes what interrupted uploads and crashes leave behind, once when the server starts and then every
/// `limits.sweepInterval`:
/// - direct uploads not completed within `stagingUploadMaxAge` (at least the presigned URL's lifetime, so no PUT
///   can still arrive): their record and their staging object;
/// - staging objects written before that age, whatever became of their record (a PUT to a URL whose upload was
///   already completed leaves one);
/// - temporary files untouched for `leftoverFileMaxAge`: streamed uploads and downloads in the scratch folder, and
///   the object store's unfinished writes (the local folder's hidden partial copies, a bucket's multipart uploads).
///   A file still being written keeps a fresh time, so a sweep never takes one from under another process sharing
///   the folder.
struct LeftoverSweeper: Sendable {
    let services: ServiceContext
    let logger: Logger

    /// What one sweep removed.
    struct Swept: Sendable, Equatable {
        var pendingUploads = 0
        var stagingObjects = 0
        var files = 0
    }

    var stagingMaxAge: TimeInterval {
        max(services.limits.stagingUploadMaxAge, services.limits.presignExpiry).seconds
    }

    /// One sweep; failures are logged and left for the next one.
    @discardableResult
    func sweep(now: Date = Date()) async -> Swept {
        var swept = Swept()
        let stagingCutoff = now.addingTimeInterval(-stagingMaxAge)
        do {
            while !Task.isCancelled {
                let stale = try await services.store.pendingAssets(createdBefore: stagingCutoff, limit: 100)
                var progressed = false
                for asset in stale {
                    // The object first: a record without its object is swept again; an object without a record is not.
                    try await services.objects.delete(asset.storageKey)
                    if try await services.store.deletePendingAsset(id: asset.id, owner: asset.ownerId) {
                        swept.pendingUploads += 1
                        progressed = true
                    }
                }
                if stale.count < 100 || !progressed { break }
            }
            if services.directUploads {
                for key in try await services.objects.keys(under: StagingKeys.prefix, writtenBefore: stagingCutoff) {
                    try await services.objects.delete(key)
                    swept.stagingObjects += 1
                }
            }
        } catch {
            logger.warning("sweeping stale direct uploads failed (tried again in \(services.limits.sweepInterval)): \(error)")
        }
        let fileCutoff = now.addingTimeInterval(-services.limits.leftoverFileMaxAge.seconds)
        // Everything in the scratch folder is a streamed upload or a download being checked (and their hidden
        // partial copies).
        swept.files += LeftoverFiles.remove(under: services.scratch, modifiedBefore: fileCutoff) { _ in true }
        do {
            swept.files += try await services.objects.removeUnfinishedWrites(startedBefore: fileCutoff)
        } catch {
            logger.warning("sweeping unfinished writes in object storage failed (tried again in \(services.limits.sweepInterval)): \(error)")
        }
        if swept != Swept() {
            logger.info("swept \(swept.pendingUploads) stale direct uploads, \(swept.stagingObjects) staging objects and \(swept.files) leftover temporary files or unfinished writes")
        }
        return swept
    }

    /// Sweeps now and then every `sweepInterval` until cancelled.
    func run() async {
        while !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: max(services.limits.sweepInterval, .seconds(1)))
        }
    }

    /// Starts the sweeps with the application and ends them (waiting for one under way) when it shuts down.
    final class Lifecycle: LifecycleHandler, Sendable {
        let task: Task<Void, Never>

        init(_ sweeper: LeftoverSweeper) { task = Task { await sweeper.run() } }

        func shutdownAsync(_ application: Application) async {
            task.cancel()
            await task.value
        }
    }
}
