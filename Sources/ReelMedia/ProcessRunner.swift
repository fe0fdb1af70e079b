import Foundation
import ReelCore
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a finished child process left behind.
public struct ProcessOutput: Sendable {
    public var exitCode: Int32
    /// Standard output, when it was collected (bounded).
    public var stdout: Data
    /// The last lines of standard error (bounded), for error messages and logs.
    public var stderrTail: String
}

extension ReelError.Code {
    /// A child process (ffmpeg, ffprobe) did not finish within its deadline and was stopped.
    public static let processTimedOut = ReelError.Code(rawValue: "process-timed-out")
}

/// Runs external tools (ffmpeg, ffprobe). The one seam between Reelsmith and child processes.
public protocol ProcessRunner: Sendable {
    /// Runs `tool` to completion. Standard output goes to `onStdout` chunk by chunk when given, else is
    /// collected up to `stdoutLimit` bytes. A cancelled task stops the child (SIGTERM, then SIGKILL); so does
    /// passing `timeout`, after which a `.processTimedOut` error carrying `ProcessTimedOut` is thrown.
    func run(_ tool: String, _ arguments: [String], stdoutLimit: Int, timeout: Duration,
             onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput
}

/// How long a child may run. Every ffmpeg/ffprobe child has a deadline: a crafted file must not hold a worker forever.
public enum ProcessDeadline {
    /// For a child whose work does not grow with the media (a probe, a single frame).
    public static let quick: Duration = .seconds(60)
    /// When the caller says nothing more specific.
    public static let standard: Duration = .seconds(300)

    /// The most media a deadline is sized for: the longest file Reelsmith reads (a song, `FFmpegPCMSource.maxDuration`,
    /// 20 min; videos and clips are shorter). `seconds` usually comes from the file's own header, and a crafted one can
    /// claim a day: it gets no more time than the longest real input.
    public static let longestMediaSeconds = FFmpegPCMSource.maxDuration

    /// For work proportional to `seconds` of media (at most `longestMediaSeconds`): a minute to start plus `perSecond`
    /// for every second of it (encoding on a busy 2-core machine runs at a fraction of real time; the bound is for
    /// stuck children, not slow ones).
    public static func forMedia(seconds: Double, perSecond: Double = 30) -> Duration {
        let s = seconds.isFinite ? min(max(0, seconds), longestMediaSeconds) : 0
        return .seconds(Int64(60 + s * perSecond))
    }
}

/// The flags every ffmpeg run starts with: no reading from standard input (a child must never wait on a terminal), no
/// banner, errors only, overwrite the output (callers write to temporary names they own).
public enum FFmpegPreamble {
    public static let arguments = ["-nostdin", "-hide_banner", "-v", "error", "-y"]
}

extension ProcessRunner {
    /// Runs a tool, collecting its standard output.
    public func run(_ tool: String, _ arguments: [String], stdoutLimit: Int = 16 << 20,
                    timeout: Duration = ProcessDeadline.standard) async throws -> ProcessOutput {
        try await run(tool, arguments, stdoutLimit: stdoutLimit, timeout: timeout, onStdout: nil)
    }

    /// Runs a tool and throws `code` with the tail of its standard error if it exits non-zero.
    public func runChecked(_ tool: String, _ arguments: [String], failure code: ReelError.Code, what: String,
                           stdoutLimit: Int = 16 << 20, timeout: Duration = ProcessDeadline.standard,
                           onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)? = nil) async throws -> ProcessOutput {
        try await checkedRun(tool, failure: code, what: what, timeout: timeout) {
            try await run(tool, arguments, stdoutLimit: stdoutLimit, timeout: timeout, onStdout: onStdout)
        }
    }

    /// Runs ffmpeg with `FFmpegPreamble` before `arguments`, whatever its exit code (the caller reads standard error).
    public func runFFmpeg(_ arguments: [String], stdoutLimit: Int = 16 << 20, timeout: Duration = ProcessDeadline.standard,
                          onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)? = nil) async throws -> ProcessOutput {
        try await run("ffmpeg", FFmpegPreamble.arguments + arguments, stdoutLimit: stdoutLimit, timeout: timeout, onStdout: onStdout)
    }

    /// Runs ffmpeg with `FFmpegPreamble` before `arguments` and throws `code`, saying `what` failed, if it exits non-zero.
    @discardableResult
    public func ffmpeg(_ arguments: [String], failure code: ReelError.Code, what: String, stdoutLimit: Int = 16 << 20,
                       timeout: Duration = ProcessDeadline.standard,
                       onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)? = nil) async throws -> ProcessOutput {
        try await runChecked("ffmpeg", FFmpegPreamble.arguments + arguments, failure: code, what: what, stdoutLimit: stdoutLimit,
                             timeout: timeout, onStdout: onStdout)
    }
}

/// Runs `child` (one run of `tool`) and turns its timeout or non-zero exit into an error saying `what` failed, with the
/// last line of its standard error (`code` for the exit, `.processTimedOut` for the deadline).
func checkedRun(_ tool: String, failure code: ReelError.Code, what: String, timeout: Duration,
                _ child: () async throws -> ProcessOutput) async throws -> ProcessOutput {
    let out: ProcessOutput
    do {
        out = try await child()
    } catch let error as ReelError where error.code == .processTimedOut {
        throw ReelError(.processTimedOut, "\(what) took longer than \(ProcessTimedOut.describe(timeout)); \(tool) was stopped", cause: error.cause)
    }
    guard out.exitCode == 0 else {
        let detail = out.stderrTail.split(separator: "\n").last.map(String.init) ?? "exit code \(out.exitCode)"
        throw ReelError(code, "\(what) failed: \(detail)", cause: ProcessFailure(tool: tool, exitCode: out.exitCode, stderr: out.stderrTail))
    }
    return out
}

/// A child process that exited non-zero, for logs.
public struct ProcessFailure: Error, Sendable, CustomStringConvertible {
    public var tool: String
    public var exitCode: Int32
    public var stderr: String
    public var description: String { "\(tool) exited with \(exitCode): \(stderr)" }
}

/// A child process that was stopped (SIGTERM, then SIGKILL) because it passed its deadline.
public struct ProcessTimedOut: Error, Sendable, CustomStringConvertible {
    public var tool: String
    public var timeout: Duration
    public var description: String { "\(tool) did not finish within \(Self.describe(timeout)) and was stopped" }

    static func describe(_ d: Duration) -> String {
        d.components.attoseconds == 0 ? "\(d.components.seconds) s" : String(format: "%.2f s", d.seconds)
    }
}

/// `ProcessRunner` on swift-subprocess: scoped children, bounded output, a deadline, a minimal environment, SIGTERM then
/// SIGKILL on cancellation or timeout.
public struct SubprocessRunner: ProcessRunner {
    /// How much of standard error is kept for messages.
    static let stderrTailBytes = 8 << 10

    private static let logsCommandsFlag = Atomic<Bool>(false)
    /// Print every command to standard error before it runs (commands hold paths, never secrets). Set once by the
    /// composition root from the configuration (`REELSMITH_DEBUG`); this module reads no environment variable.
    public static var logsCommands: Bool {
        get { logsCommandsFlag.load(ordering: .relaxed) }
        set { logsCommandsFlag.store(newValue, ordering: .relaxed) }
    }

    /// The variables a child may inherit: where to find programs, locale, home and temporary folder, fonts. Nothing
    /// else: the parent's environment holds API tokens, storage keys and database URLs that a child (or a file it
    /// was tricked into opening) must never see.
    public static let inheritedVariables: Set<String> = [
        "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "FONTCONFIG_FILE", "FONTCONFIG_PATH",
    ]

    /// The environment a child starts with, made from the parent's.
    public static func childEnvironment(from parent: [String: String]) -> [String: String] {
        var env = parent.filter { inheritedVariables.contains($0.key) }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        return env
    }

    public init() {}

    public func run(_ tool: String, _ arguments: [String], stdoutLimit: Int, timeout: Duration,
                    onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput {
        try Task.checkCancellation()
        if Self.logsCommands {
            let line = ([tool] + arguments).map { $0.contains(where: { " ;[]'\"".contains($0) }) ? "'\($0)'" : $0 }.joined(separator: " ")
            FileHandle.standardError.write(Data("reelsmith: run: \(line)\n".utf8))
        }
        return try await Self.withDeadline(tool: tool, timeout: timeout) {
            try await runToEnd(tool, arguments, stdoutLimit: stdoutLimit, onStdout: onStdout)
        }
    }

    /// Runs `child` against `timeout`: the deadline races the child and the loser is cancelled (a cancelled child is torn
    /// down by swift-subprocess, SIGTERM then SIGKILL); a child that loses throws `.processTimedOut`.
    static func withDeadline(tool: String, timeout: Duration,
                             _ child: @escaping @Sendable () async throws -> ProcessOutput) async throws -> ProcessOutput {
        let outcome = try await withThrowingTaskGroup(of: Deadlined.self) { group in
            group.addTask { .finished(try await child()) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        switch outcome {
        case .finished(let output): return output
        case .timedOut:
            let stopped = ProcessTimedOut(tool: tool, timeout: timeout)
            throw ReelError(.processTimedOut, stopped.description, cause: stopped)
        }
    }

    private enum Deadlined: Sendable { case finished(ProcessOutput), timedOut }

    /// `childEnvironment(from:)` of this process, as swift-subprocess takes it.
    static func subprocessEnvironment() -> Environment {
        var environment: [Environment.Key: String] = [:]
        for (key, value) in Self.childEnvironment(from: ProcessInfo.processInfo.environment) {
            if let key = Environment.Key(rawValue: key) { environment[key] = value }
        }
        return .custom(environment)
    }

    private func runToEnd(_ tool: String, _ arguments: [String], stdoutLimit: Int,
                          onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput {
        var options = PlatformOptions()
        // ffmpeg finishes or aborts cleanly on SIGTERM; give it a moment before SIGKILL.
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .milliseconds(500))]
        do {
            let result = try await Subprocess.run(
                .name(tool), arguments: Arguments(arguments), environment: Self.subprocessEnvironment(), platformOptions: options,
                input: .none, output: .sequence, error: .sequence
            ) { execution -> (Data, String) in
                let errors = execution.standardError
                return try await withThrowingTaskGroup(of: Collected.self) { group in
                    group.addTask {
                        var tail = TailBuffer(limit: Self.stderrTailBytes)
                        for try await chunk in errors { chunk.withUnsafeBytes { tail.append($0) } }
                        return .stderr(tail.text)
                    }
                    var collected = Data()
                    for try await chunk in execution.standardOutput {
                        try chunk.withUnsafeBytes { raw in
                            if let onStdout { try onStdout(raw) }
                            else if collected.count < stdoutLimit {
                                collected.append(contentsOf: raw.prefix(stdoutLimit - collected.count))
                            }
                        }
                    }
                    var stderr = ""
                    for try await case .stderr(let text) in group { stderr = text }
                    return (collected, stderr)
                }
            }
            try Task.checkCancellation()
            let code: Int32 = switch result.terminationStatus {
            case .exited(let c): c
            case .signaled(let s): 128 + s
            }
            return ProcessOutput(exitCode: code, stdout: result.closureResult.0, stderrTail: result.closureResult.1)
        } catch let error as ReelError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.launchFailure(tool, error)
        }
    }

    private enum Collected: Sendable { case stderr(String) }

    /// What a child that could not be started becomes: a missing tool says how to install it.
    static func launchFailure(_ tool: String, _ error: any Error) -> ReelError {
        if "\(error)".contains("xecutable") && "\(error)".lowercased().contains("not found") {
            return ReelError(.toolMissing, "\(tool) is not installed or not on PATH (install the 'ffmpeg' system package; `make demo` does it)")
        }
        return ReelError(.processFailed, "could not run \(tool): \(error)", cause: ProcessFailure(tool: tool, exitCode: -1, stderr: "\(error)"))
    }
}

/// Keeps the last `limit` bytes written to it.
struct TailBuffer {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    init(limit: Int) { self.limit = limit }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
        if bytes.count > limit * 2 { bytes.removeFirst(bytes.count - limit) }
    }

    var text: String { String(decoding: bytes.suffix(limit), as: UTF8.self) }
}
