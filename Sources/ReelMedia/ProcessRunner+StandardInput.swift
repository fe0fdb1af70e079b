import Foundation
import ReelCore
import Subprocess

#if canImport(Glibc)
import Glibc
#endif

/// Writes a running child's standard input, for the length of one `run(_:_:feeding:)` call.
public struct ProcessInputWriter: Sendable {
    let send: @Sendable ([UInt8]) async throws -> Void
    /// Writes `bytes`, waiting while the child is behind (the pipe is full).
    public func write(_ bytes: [UInt8]) async throws { try await send(bytes) }
}

/// A `ProcessRunner` that can also stream into a child's standard input while it runs (raw video frames into ffmpeg).
public protocol StandardInputRunner: ProcessRunner {
    /// Runs `tool`, calls `feeding` with a writer to its standard input, closes the input when `feeding` returns, and
    /// waits for the child. Standard output is discarded. A cancelled task stops the child (SIGTERM, then SIGKILL); so
    /// does passing `timeout`, after which `.processTimedOut` is thrown.
    func run(_ tool: String, _ arguments: [String], timeout: Duration,
             feeding: @escaping @Sendable (ProcessInputWriter) async throws -> Void) async throws -> ProcessOutput
}

extension StandardInputRunner {
    /// `run(_:_:timeout:feeding:)` that throws `code` with the tail of standard error if the child exits non-zero.
    public func runChecked(_ tool: String, _ arguments: [String], failure code: ReelError.Code, what: String,
                           timeout: Duration = ProcessDeadline.standard,
                           feeding: @escaping @Sendable (ProcessInputWriter) async throws -> Void) async throws -> ProcessOutput {
        try await checkedRun(tool, failure: code, what: what, timeout: timeout) {
            try await run(tool, arguments, timeout: timeout, feeding: feeding)
        }
    }

    /// Runs ffmpeg with `FFmpegPreamble` before `arguments`, feeding its standard input (name it with `-i -`).
    @discardableResult
    public func ffmpeg(_ arguments: [String], failure code: ReelError.Code, what: String,
                       timeout: Duration = ProcessDeadline.standard,
                       feeding: @escaping @Sendable (ProcessInputWriter) async throws -> Void) async throws -> ProcessOutput {
        try await runChecked("ffmpeg", FFmpegPreamble.arguments + arguments, failure: code, what: what, timeout: timeout, feeding: feeding)
    }
}

extension SubprocessRunner: StandardInputRunner {
    /// A child that exits before reading everything must surface as its own error, not kill Reelsmith with SIGPIPE
    /// on the next write: ignored once, process-wide, the first time input is streamed.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public func run(_ tool: String, _ arguments: [String], timeout: Duration,
                    feeding: @escaping @Sendable (ProcessInputWriter) async throws -> Void) async throws -> ProcessOutput {
        try Task.checkCancellation()
        Self.ignoreBrokenPipes
        if Self.logsCommands {
            FileHandle.standardError.write(Data("reelsmith: run: \(([tool] + arguments).joined(separator: " ")) < (stream)\n".utf8))
        }
        return try await Self.withDeadline(tool: tool, timeout: timeout) {
            try await feedToEnd(tool, arguments, feeding: feeding)
        }
    }

    private func feedToEnd(_ tool: String, _ arguments: [String],
                           feeding: @escaping @Sendable (ProcessInputWriter) async throws -> Void) async throws -> ProcessOutput {
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .milliseconds(500))]
        let result: ExecutionResult<(String, FeedFailure?), DiscardedOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .name(tool), arguments: Arguments(arguments), environment: Self.subprocessEnvironment(), platformOptions: options,
                input: .inputWriter, output: .discarded, error: .sequence
            ) { execution -> (String, FeedFailure?) in
                let errors = execution.standardError
                let writer = execution.standardInputWriter
                async let tail: String = {
                    var tail = TailBuffer(limit: Self.stderrTailBytes)
                    for try await chunk in errors { chunk.withUnsafeBytes { tail.append($0) } }
                    return tail.text
                }()
                var failure: FeedFailure?
                do {
                    try await feeding(ProcessInputWriter { bytes in _ = try await writer.write(bytes) })
                } catch {
                    failure = FeedFailure(error: error)
                }
                try? await writer.finish()
                return (try await tail, failure)
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.launchFailure(tool, error)
        }
        try Task.checkCancellation()
        let code: Int32 = switch result.terminationStatus {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
        let (stderr, failure) = result.closureResult
        // A write that failed because the child gave up is reported as the child's failure (its stderr says why).
        if let failure, code == 0 { throw failure.error }
        if let failure, failure.error is CancellationError { throw CancellationError() }
        return ProcessOutput(exitCode: code, stdout: Data(), stderrTail: stderr)
    }

    private struct FeedFailure: @unchecked Sendable { let error: any Error }
}
