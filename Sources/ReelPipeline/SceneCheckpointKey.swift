import Foundation
import ReelCore
import ReelProviders

/// The identity of a scene's clip for checkpoints: a hash of everything that shapes it (the scene as planned, its
/// frames, picture size, brief and seed), chained through the scene before it when the two share frames, so an edit
/// or a regeneration makes again exactly the scenes it changes.
enum SceneCheckpointKey {
    static func keys(for requests: [ClipRequest]) -> [String] {
        var keys: [String] = []
        for request in requests {
            var scene = request.scene
            // A user's file is named by where this worker keeps it; its name (the asset's) is what identifies it.
            scene.source.media = scene.source.media.map { ($0 as NSString).lastPathComponent }
            let sharesFrames = scene.index > 0 && (scene.source.chain == true || scene.source.continuesClip == true)
            let identity = Identity(scene: scene, frames: request.frames, width: request.size.width, height: request.size.height,
                                    brief: request.brief, seed: request.seed, previous: sharesFrames ? keys.last : nil)
            let data = (try? ReelJSON.encoder(pretty: false).encode(identity)) ?? Data()
            keys.append(ContentHash.sha256(data))
        }
        return keys
    }

    /// The seed a scene's clip is made with: the plan's, moved for a regenerated variant.
    static func seed(_ planSeed: UInt64, variant: Int) -> UInt64 {
        variant == 0 ? planSeed : planSeed &+ UInt64(truncatingIfNeeded: variant) &* 0x9E37_79B9_7F4A_7C15
    }

    private struct Identity: Encodable {
        var scene: Scene
        var frames: Int
        var width: Int
        var height: Int
        var brief: Brief
        var seed: UInt64
        var previous: String?
    }
}

extension Plan {
    /// User media paths under `folder` made relative to it (for a checkpoint another worker reads).
    func relativisingMedia(to folder: String?) -> Plan {
        guard let folder else { return self }
        let prefix = (folder as NSString).standardizingPath + "/"
        var plan = self
        for i in plan.scenes.indices {
            if let media = plan.scenes[i].source.media, media.hasPrefix(prefix) {
                plan.scenes[i].source.media = String(media.dropFirst(prefix.count))
            }
        }
        return plan
    }

    /// Relative user media paths resolved against `folder` (the inverse of `relativisingMedia`).
    func anchoringMedia(to folder: String?) -> Plan {
        guard let folder else { return self }
        var plan = self
        for i in plan.scenes.indices {
            if let media = plan.scenes[i].source.media, !media.hasPrefix("/") {
                plan.scenes[i].source.media = (folder as NSString).appendingPathComponent(media)
            }
        }
        return plan
    }
}
