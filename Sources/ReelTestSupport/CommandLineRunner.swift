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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let collected = Collected()
        out.fileHandleForReading.readabilityHandler = { h in collected.add(stdout: h.availableData) }
        err.fileHandleForReading.readabilityHandler = { h in collected.add(stderr: h.availableData) }
        try process.run()
        var signalledAt: Date?
        if let trigger {
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning && Date() < deadline && !collected.stderrText.contains(trigger) { usleep(20_000) }
            if process.isRunning { signalledAt = Date(); kill(process.processIdentifier, SIGINT) }
        }
        process.waitUntilExit()
        let exitedAt = Date()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        collected.add(stdout: out.fileHandleForReading.readDataToEndOfFile())
        collected.add(stderr: err.fileHandleForReading.readDataToEndOfFile())
        return (Result(exitCode: process.terminationStatus, stdout: collected.stdoutText, stderr: collected.stderrText),
                signalledAt.map { exitedAt.timeIntervalSince($0) })
    }

    /// `run` on a thread of its own, so a test that also serves loopback fakes from Swift concurrency's few threads
    /// never blocks one of them while the binary talks to the fake.
    public static func runAsync(_ arguments: [String], in directory: String? = nil, interruptWhen trigger: String? = nil,
                                environment: [String: String] = [:]) async throws -> (result: Result, secondsAfterSignal: Double?) {
        try await Blocking.run { try run(arguments, in: directory, interruptWhen: trigger, environment: environment) }
    }

    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var out = Data(), err = Data()
        func add(stdout d: Data) { lock.lock(); out.append(d); lock.unlock() }
        func add(stderr d: Data) { lock.lock(); err.append(d); lock.unlock() }
        var stdoutText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
        var stderrText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
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
