import Foundation
import ReelCore
import Synchronization

/// Something a running job has to write to the store, in the order it happened.
enum JobWrite: Sendable {
    case event(JobEventType, [String: JSONValue])
    case progress(stage: Stage?, percent: Double, eta: Double?)
    /// A scene finished: the costs spent so far are recorded (so a worker that dies still has them counted).
    case costs
}

/// Turns the pipeline's `ProgressEvent`s into job events, stage/progress/ETA updates (throttled to 2 a second) and the
/// stage boundaries a draining worker stops at. `report` never blocks: writes go to a queue a writer task empties.
final class JobProgress: ProgressSink {
    private struct State {
        var stage: Stage?
        var fraction = 0.0
        var lastProgressWrite: ContinuousClock.Instant?
        var reused: Set<Int> = []
        var completed: Set<Int> = []
        var stageSeconds: [Stage: Double] = [:]
        var videoSeconds: Double
        var lastPercent = 0.0
    }

    private let state: Mutex<State>
    private let writes: AsyncStream<JobWrite>.Continuation
    private let averages: [Stage: Double]
    private let startedAt = ContinuousClock.now
    /// Called after a stage completed (a draining worker stops there).
    private let onStageCompleted: @Sendable (Stage) -> Void
    /// Cleans warnings for the user; the log gets them whole.
    private let messages: UserFacingMessages
    private let log: @Sendable (String) -> Void
    static let minimumProgressInterval = Duration.milliseconds(500)

    init(writes: AsyncStream<JobWrite>.Continuation, averages: [Stage: Double], videoSeconds: Double,
         messages: UserFacingMessages = UserFacingMessages(), log: @escaping @Sendable (String) -> Void = { _ in },
         onStageCompleted: @escaping @Sendable (Stage) -> Void) {
        self.writes = writes
        self.averages = averages
        self.messages = messages
        self.log = log
        self.onStageCompleted = onStageCompleted
        self.state = Mutex(State(videoSeconds: videoSeconds))
    }

    /// Seconds each stage took in this attempt.
    var stageSeconds: [Stage: Double] { state.withLock { $0.stageSeconds } }
    /// Scenes restored from a checkpoint instead of made again.
    var reusedScenes: Set<Int> { state.withLock { $0.reused } }

    /// The length of the video once known (the plan can differ from the project's request).
    func setVideoSeconds(_ seconds: Double) { state.withLock { $0.videoSeconds = seconds } }

    func report(_ event: ProgressEvent) {
        var boundary: Stage?
        state.withLock { s in
            switch event {
            case .stageStarted(let stage):
                s.stage = stage
                s.fraction = 0
                writes.yield(.event(.stageStarted, ["stage": .string(stage.rawValue)]))
                writeProgress(&s, force: true)
            case .progress(let stage, let fraction, let detail):
                guard stage == s.stage else { return }
                s.fraction = min(1, max(0, fraction))
                let now = ContinuousClock.now
                if let last = s.lastProgressWrite, now - last < Self.minimumProgressInterval { return }
                s.lastProgressWrite = now
                let percent = overall(s)
                writes.yield(.event(.progress, ["stage": .string(stage.rawValue), "progress": .number(Self.round(percent)),
                                                "message": .string(detail)]))
                writeProgress(&s, force: true)
            case .sceneStarted(let index):
                writes.yield(.event(.sceneStarted, ["scene": .number(Double(index))]))
            case .sceneCompleted(let index):
                // A restored scene was already reported as completed (reused).
                guard !s.reused.contains(index), s.completed.insert(index).inserted else { return }
                writes.yield(.event(.sceneCompleted, ["scene": .number(Double(index)), "reused": false]))
                writes.yield(.costs)
            case .stageCompleted(let stage, let seconds):
                s.stageSeconds[stage] = seconds
                if s.stage == stage { s.fraction = 1 }
                boundary = stage
            case .warning(let text):
                log("warning: \(text)")
                writes.yield(.event(.progress, ["stage": s.stage.map { .string($0.rawValue) } ?? .null,
                                                "progress": .number(Self.round(s.lastPercent)), "warning": .string(messages.message(text))]))
            case .sceneReused:
                reportNewer(event, &s)
            }
        }
        if let boundary { onStageCompleted(boundary) }
    }

    /// A scene restored from a checkpoint: reported as completed, `reused: true`.
    private func reportNewer(_ event: ProgressEvent, _ s: inout State) {
        if case .sceneReused(let index) = event {
            guard s.reused.insert(index).inserted else { return }
            s.completed.insert(index)
            writes.yield(.event(.sceneCompleted, ["scene": .number(Double(index)), "reused": true]))
        }
    }

    private func writeProgress(_ s: inout State, force: Bool) {
        let percent = overall(s)
        s.lastPercent = max(s.lastPercent, percent)
        writes.yield(.progress(stage: s.stage, percent: Self.round(s.lastPercent), eta: eta(s)))
    }

    /// Stage weights: past timings per second of video when there are any, else a typical split.
    private var weights: [Stage: Double] {
        let typical: [Stage: Double] = [.analyze: 0.05, .plan: 0.05, .generate: 0.6, .critique: 0, .compose: 0.3]
        guard averages.values.reduce(0, +) > 0 else { return typical }
        return Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0, averages[$0] ?? 0) })
    }

    /// 0–100 over the whole job.
    private func overall(_ s: State) -> Double {
        guard let stage = s.stage else { return 0 }
        let w = weights
        let total = Stage.allCases.reduce(0) { $0 + (w[$1] ?? 0) }
        guard total > 0, let position = Stage.allCases.firstIndex(of: stage) else { return 0 }
        let before = Stage.allCases[..<position].reduce(0) { $0 + (w[$1] ?? 0) }
        return min(100, max(0, 100 * (before + (w[stage] ?? 0) * s.fraction) / total))
    }

    /// Expected seconds (past seconds per second of video × this video's seconds) minus the time spent so far.
    private func eta(_ s: State) -> Double? {
        let perSecond = averages.values.reduce(0, +)
        guard perSecond > 0, s.videoSeconds > 0 else { return nil }
        let elapsed = (ContinuousClock.now - startedAt).seconds
        return Self.round(max(0, perSecond * s.videoSeconds - elapsed))
    }

    static func round(_ x: Double) -> Double { (x * 10).rounded() / 10 }
}
