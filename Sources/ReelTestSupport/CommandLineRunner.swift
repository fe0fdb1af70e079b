import Foundation

/// Runs the built `reelsmith` binary as a user would, for end-to-end tests of exit codes and output.
public struct ReelsmithProcess {
    public struct Result: Sendable {
        public var exitCode: Int32
        public var stdout: String
        public var stderr: String
    }

    /// `.build/debug/reelsmith` of this package (the test scripts build it before running tests).
    public static var binary: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent(".build/debug/reelsmith").path
    }

    /// Runs `reelsmith arguments...` in `directory`; with `interruptWhen`, sends SIGINT once standard error
    /// contains that text and reports how long the process took to exit afterwards.
    public static func run(_ arguments: [String], in directory: String? = nil, interruptWhen trigger: String? = nil,
                           environment: [String: String] = [:]) throws -> (result: Result, secondsAfterSignal: Double?) {
        let process = try ChildProcess(binary, arguments, in: directory, environment: environment)
        var signalledAt: Date?
        if let trigger {
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning && Date() < deadline && !process.stderr.contains(trigger) { usleep(20_000) }
            if process.isRunning { signalledAt = Date(); process.signal(SIGINT) }
        }
        let status = process.waitUntilExit()
        let exitedAt = Date()
        return (Result(exitCode: status, stdout: process.stdout, stderr: process.stderr),
                signalledAt.map { exitedAt.timeIntervalSince($0) })
    }

    /// `run` on a thread of its own, so a test that also serves loopback fakes from Swift concurrency's few threads
    /// never blocks one of them while the binary talks to the fake.
    public static func runAsync(_ arguments: [String], in directory: String? = nil, interruptWhen trigger: String? = nil,
                                environment: [String: String] = [:]) async throws -> (result: Result, secondsAfterSignal: Double?) {
        try await Blocking.run { try run(arguments, in: directory, interruptWhen: trigger, environment: environment) }
    }
}

/// Runs blocking work (waiting on a child process) on a thread of its own. Swift concurrency has one thread per core
/// (two here); a test that blocks them starves every actor, the loopback fakes included.
public enum Blocking {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }
}
