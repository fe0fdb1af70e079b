/// Decodes an audio file into mono PCM. Implemented with ffmpeg in `ReelMedia`.
public protocol PCMSource: Sendable {
    /// Decodes `path` at `sampleRate`; throws `ReelError` (`.notAudio`, `.fileNotFound`, `.audioTooLong`) on bad input.
    func decode(path: String, sampleRate: Int) async throws -> PCMBuffer
}

/// A pipeline stage, as reported to a `ProgressSink`.
public enum Stage: String, Codable, Sendable, CaseIterable {
    case analyze, plan, generate, critique, compose
}

/// One thing that happened while a video was made.
public enum ProgressEvent: Sendable, Equatable {
    case stageStarted(Stage)
    /// `fraction` from 0 to 1 within the stage.
    case progress(Stage, fraction: Double, detail: String)
    case sceneStarted(index: Int)
    case sceneCompleted(index: Int)
    /// A scene finished by an earlier attempt (or an earlier job) was restored instead of made again.
    case sceneReused(index: Int)
    case stageCompleted(Stage, seconds: Double)
    case warning(String)
}

/// Receives progress as the pipeline runs: a terminal bar, plain log lines, or (later) job events.
public protocol ProgressSink: Sendable {
    func report(_ event: ProgressEvent)
}

/// A sink that drops everything.
public struct SilentProgress: ProgressSink {
    public init() {}
    public func report(_ event: ProgressEvent) {}
}
