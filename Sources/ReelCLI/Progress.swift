import Foundation
import ReelCore
import Synchronization

/// Progress on standard error: a redrawn bar per stage on a terminal, plain lines otherwise.
public final class TerminalProgress: ProgressSink {
    private struct State {
        var stage: Stage?
        var fraction = 0.0
        var detail = ""
        var lastPlainPercent = -1
        var scenesDone = 0
    }
    private let state = Mutex(State())
    private let isTerminal: Bool
    private let quiet: Bool

    public init(quiet: Bool = false) {
        isTerminal = isatty(STDERR_FILENO) == 1
        self.quiet = quiet
    }

    public func report(_ event: ProgressEvent) {
        guard !quiet else {
            if case .warning(let text) = event { Self.write("reelsmith: warning: \(text)\n") }
            return
        }
        state.withLock { s in
            switch event {
            case .stageStarted(let stage):
                s.stage = stage; s.fraction = 0; s.detail = ""; s.lastPlainPercent = -1
                if isTerminal { draw(s) } else { Self.write("reelsmith: \(stage.rawValue) started\n") }
            case .progress(let stage, let fraction, let detail):
                guard stage == s.stage else { return }
                s.fraction = fraction; s.detail = detail
                if isTerminal { draw(s) } else {
                    let percent = Int(fraction * 100) / 25 * 25
                    if percent > s.lastPlainPercent { s.lastPlainPercent = percent; Self.write("reelsmith: \(stage.rawValue) \(percent)% \(detail)\n") }
                }
            case .sceneStarted, .sceneCompleted, .sceneReused:
                break
            case .stageCompleted(let stage, let seconds):
                s.fraction = 1
                if isTerminal { draw(s); Self.write(String(format: " %.1fs\n", seconds)) }
                else { Self.write(String(format: "reelsmith: %@ done in %.2f s\n", stage.rawValue, seconds)) }
                s.stage = nil
            case .warning(let text):
                if isTerminal && s.stage != nil { Self.write("\n") }
                Self.write("reelsmith: warning: \(text)\n")
                if isTerminal && s.stage != nil { draw(s) }
            }
        }
    }

    private func draw(_ s: State) {
        guard let stage = s.stage else { return }
        let width = 28
        let filled = Int((s.fraction * Double(width)).rounded())
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let name = stage.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        Self.write("\r\u{1B}[2K\(name) \(bar) \(String(format: "%3d", Int(s.fraction * 100)))% \(s.detail.prefix(30))")
    }

    static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
