import Foundation
import ReelCore
import Subprocess

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

/// Runs external tools (ffmpeg, ffprobe). The one seam between Reelsmith and child processes.
public protocol ProcessRunner: Sendable {
    /// Runs `tool` to completion. Standard output goes to `onStdout` chunk by chunk when given, else is
    /// collected up to `stdoutLimit` bytes. A cancelled task stops the child (SIGTERM, then SIGKILL).
    func run(_ tool: String, _ arguments: [String], stdoutLimit: Int,
             onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput
}

extension ProcessRunner {
    /// Runs a tool, collecting its standard output.
    public func run(_ tool: String, _ arguments: [String], stdoutLimit: Int = 16 << 20) async throws -> ProcessOutput {
        try await run(tool, arguments, stdoutLimit: stdoutLimit, onStdout: nil)
    }

    /// Runs a tool and throws `code` with the tail of its standard error if it exits non-zero.
    public func runChecked(_ tool: String, _ arguments: [String], failure code: ReelError.Code, what: String,
                           stdoutLimit: Int = 16 << 20,
                           onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)? = nil) async throws -> ProcessOutput {
        let out = try await run(tool, arguments, stdoutLimit: stdoutLimit, onStdout: onStdout)
        guard out.exitCode == 0 else {
            let detail = out.stderrTail.split(separator: "\n").last.map(String.init) ?? "exit code \(out.exitCode)"
            throw ReelError(code, "\(what) failed: \(detail)", cause: ProcessFailure(tool: tool, exitCode: out.exitCode, stderr: out.stderrTail))
        }
        return out
    }
}

/// A child process that exited non-zero, for logs.
public struct ProcessFailure: Error, Sendable, CustomStringConvertible {
    public var tool: String
    public var exitCode: Int32
    public var stderr: String
    public var description: String { "\(tool) exited with \(exitCode): \(stderr)" }
}

/// `ProcessRunner` on swift-subprocess: scoped children, bounded output, SIGTERM then SIGKILL on cancellation.
public struct SubprocessRunner: ProcessRunner {
    /// How much of standard error is kept for messages.
    static let stderrTailBytes = 8 << 10

    /// `REELSMITH_DEBUG=1` prints every command before it runs (commands hold paths, never secrets).
    static let logsCommands = ProcessInfo.processInfo.environment["REELSMITH_DEBUG"].map { !$0.isEmpty && $0 != "0" } ?? false

    public init() {}

    public func run(_ tool: String, _ arguments: [String], stdoutLimit: Int,
                    onStdout: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?) async throws -> ProcessOutput {
        try Task.checkCancellation()
        if Self.logsCommands {
            let line = ([tool] + arguments).map { $0.contains(where: { " ;[]'\"".contains($0) }) ? "'\($0)'" : $0 }.joined(separator: " ")
            FileHandle.standardError.write(Data("reelsmith: run: \(line)\n".utf8))
        }
        var options = PlatformOptions()
        // ffmpeg finishes or aborts cleanly on SIGTERM; give it a moment before SIGKILL.
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .milliseconds(500))]
        do {
            let result = try await Subprocess.run(
                .name(tool), arguments: Arguments(arguments), platformOptions: options,
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
            if "\(error)".contains("xecutable") && "\(error)".lowercased().contains("not found") {
                throw ReelError(.toolMissing, "\(tool) is not installed or not on PATH (install the 'ffmpeg' system package; `make demo` does it)")
            }
            throw ReelError(.processFailed, "could not run \(tool): \(error)", cause: ProcessFailure(tool: tool, exitCode: -1, stderr: "\(error)"))
        }
    }

    private enum Collected: Sendable { case stderr(String) }
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
