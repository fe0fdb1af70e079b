import ReelCore

/// What a provider is asked to make: one scene's clip, `frames` long at `size`, written to `output`.
public struct ClipRequest: Sendable {
    public var scene: Scene
    public var frames: Int
    public var size: FrameSize
    public var brief: Brief
    public var seed: UInt64
    /// Where the clip must be written (an `.mp4` path the caller owns).
    public var output: String
    /// The music's energy (0 to 1) at each of the clip's frames; empty without a song.
    public var energy: [Double]

    public init(scene: Scene, frames: Int, size: FrameSize, brief: Brief, seed: UInt64, output: String, energy: [Double] = []) {
        self.scene = scene; self.frames = frames; self.size = size; self.brief = brief; self.seed = seed; self.output = output
        self.energy = energy
    }
}

/// A clip a provider made. What it cost is metered by the `CostMeter` of the run, not carried here.
public struct ClipResult: Sendable {
    public var path: String
    public init(path: String) { self.path = path }
}

/// Fills the video role for a scene.
public protocol ClipProvider: Sendable {
    func makeClip(_ request: ClipRequest) async throws -> ClipResult
    /// Told that the clip of `request` was restored at `request.output` from an earlier run instead of made, so the
    /// scenes after it (a chained shot) can build on it.
    func adoptRestoredClip(_ request: ClipRequest) async throws
}

extension ClipProvider {
    /// Providers whose scenes stand alone need nothing from a restored clip.
    public func adoptRestoredClip(_ request: ClipRequest) async throws {}
}

/// Sends each scene to the provider its plan names (`offline`, `user-media`).
public struct ClipRouter: ClipProvider {
    let providers: [String: any ClipProvider]
    public init(providers: [String: any ClipProvider]) { self.providers = providers }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        let name = request.scene.source.provider
        guard let provider = providers[name] else {
            throw ReelError(.badPlan, "scene \(request.scene.index) asks for provider '\(name)', which is not configured (known: \(providers.keys.sorted().joined(separator: ", ")))")
        }
        return try await provider.makeClip(request)
    }

    public func adoptRestoredClip(_ request: ClipRequest) async throws {
        try await providers[request.scene.source.provider]?.adoptRestoredClip(request)
    }
}

/// Runs another provider's work at most `limit`'s width at once: ffmpeg jobs stay few while many scenes wait on
/// remote models at the same time.
public struct LimitedClipProvider: ClipProvider {
    let base: any ClipProvider
    let limit: ConcurrencyLimit
    public init(_ base: any ClipProvider, limit: ConcurrencyLimit) { self.base = base; self.limit = limit }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        try await limit.withPermit { try await base.makeClip(request) }
    }

    public func adoptRestoredClip(_ request: ClipRequest) async throws {
        try await limit.withPermit { try await base.adoptRestoredClip(request) }
    }
}
