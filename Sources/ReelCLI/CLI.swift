import ArgumentParser
import Foundation
import ReelCore
import ReelMedia
import Synchronization

/// The entry point behind the `reelsmith` executable: parsing, signals, error lines and exit codes
/// (0 success, 1 the work failed, 2 bad usage or input, 130 interrupted).
public enum CLI {
    public static func main(_ arguments: [String]) async -> Int32 {
        let wantsJSON = arguments.contains("--json")
        var command: any ParsableCommand
        do {
            command = try Reelsmith.parseAsRoot(arguments)
        } catch {
            let code = Reelsmith.exitCode(for: error)
            if code == .success {
                print(Reelsmith.fullMessage(for: error))
                return 0
            }
            let message = Reelsmith.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage"
            report(code: "usage", message: message, json: wantsJSON)
            return 2
        }
        guard let asyncCommand = command as? any AsyncParsableCommand else {
            do { try command.run(); return 0 } catch { return fail(error, json: wantsJSON, interrupted: false) }
        }
        // Settings are read once, before any work, so a bad file or value stops start-up with exit 2.
        var configuration: Configuration?
        if command is any ConfiguredCommand {
            do { configuration = try Configuration.fromProcess() } catch { return fail(error, json: wantsJSON, interrupted: false) }
            for name in ConfigurationReader.unknownVariables(in: ProcessInfo.processInfo.environment) {
                let hint = ConfigurationReader.nearest(name, in: ConfigurationKey.all.map(\.env)).map { " (did you mean \($0)?)" } ?? ""
                FileHandle.standardError.write(Data("reelsmith: warning: \(name) is not a Reelsmith setting\(hint); it is ignored\n".utf8))
            }
            // The one process-wide switch: every ffmpeg/ffprobe child of this process logs its command line with `debug`.
            SubprocessRunner.logsCommands = configuration?.debug ?? false
        }
        let interrupted = Atomic<Bool>(false)
        let work = Task { [configuration] in
            if let configured = asyncCommand as? any ConfiguredCommand, let configuration {
                try await configured.run(config: configuration)
            } else {
                try await asyncCommand.runAsync()
            }
        }
        let signals = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                // A second Ctrl-C while cleanup runs ends the process at once.
                if interrupted.exchange(true, ordering: .acquiringAndReleasing) { _exit(130) }
                work.cancel()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do {
            try await work.value
            return 0
        } catch {
            return fail(error, json: wantsJSON, interrupted: interrupted.load(ordering: .acquiring))
        }
    }

    static func fail(_ error: any Error, json: Bool, interrupted: Bool) -> Int32 {
        if interrupted || error is CancellationError {
            report(code: ReelError.Code.cancelled.rawValue, message: "interrupted; nothing was written", json: json)
            return 130
        }
        if let e = error as? ReelError {
            report(code: e.code.rawValue, message: e.message, json: json)
            return e.isUserInput ? 2 : 1
        }
        // A command that already printed its report and only sets the exit code.
        if let exit = error as? ExitCode { return exit.rawValue }
        // Help and usage errors can also surface from `run` (ArgumentParser parses lazily for subcommands).
        if Reelsmith.exitCode(for: error) == .success {
            print(Reelsmith.fullMessage(for: error))
            return 0
        }
        if Reelsmith.exitCode(for: error) == .validationFailure {
            let usage = Reelsmith.message(for: error)
            report(code: "usage", message: usage.split(separator: "\n").first.map(String.init) ?? usage, json: json)
            return 2
        }
        report(code: ReelError.Code.internalError.rawValue, message: "\(error)", json: json)
        return 1
    }

    static func report(code: String, message: String, json: Bool) {
        TerminalProgress.write("reelsmith: error: \(message)\n")
        if json {
            struct Body: Encodable { var error: Inner }
            struct Inner: Encodable { var code: String; var message: String }
            try? printJSON(Body(error: Inner(code: code, message: message)))
        }
    }
}

/// A command that works with the settings (`Configuration`): `CLI.main` reads them once and hands them in.
protocol ConfiguredCommand: AsyncParsableCommand {
    func run(config: Configuration) async throws
}

extension ConfiguredCommand {
    /// ArgumentParser's entry point, for callers other than `CLI.main` (which passes the settings it read).
    func run() async throws { try await run(config: Configuration.fromProcess()) }
}

extension AsyncParsableCommand {
    /// Runs the command (an opened existential can call the mutating `run`).
    func runAsync() async throws {
        var copy = self
        try await copy.run()
    }
}
