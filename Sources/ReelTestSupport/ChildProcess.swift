import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process for tests, started with `posix_spawn` and reaped by its own `waitpid` thread.
///
/// Foundation's `Process` learns of exits through a process-wide SIGCHLD source; with several test suites spawning
/// and killing children at once (and other libraries waiting on their own children) an exit was seen to go unnoticed,
/// leaving a zombie and a test waiting forever. Waiting on the one pid needs no signals at all. The child starts with
/// an empty signal mask and default dispositions, whatever the test runner blocks.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?
    private var out = Data(), err = Data()
    private let exited = DispatchSemaphore(value: 0)
    private var readers: [Thread] = []

    /// Starts `executable` with `arguments` in `directory`; `environment` is added to (and overrides) this process's.
    /// With `captureOutput` false, standard output and error go to /dev/null.
    public init(_ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
                captureOutput: Bool = true) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        if captureOutput {
            // Close-on-exec: a child spawned at the same moment by another thread must not inherit our write ends (the
            // reader would then wait for an EOF that comes only when that other child exits). dup2 into 1 and 2 clears it.
            // (Swift's Glibc module has no pipe2, so the flag is set just after: a far smaller window than none.)
            guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw ChildProcessError("pipe() failed: errno \(errno)") }
            for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // Nothing else reaches the child: a long-lived one (moto) would otherwise hold sockets of tests running beside
        // it (a server's accepted connections are not close-on-exec, so closing one would not end it). The call is
        // glibc's (2.34+) but not in Swift's Glibc module.
        if let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGQUIT, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        // posix_spawn_file_actions_addchdir_np is not in Swift's Glibc module: a shell changes folder, then execs.
        let command = directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] } ?? [executable]
        let program = command[0]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, program, &actions, &attributes, argv, envp)
        if captureOutput { close(outPipe[1]); close(errPipe[1]) }
        guard rc == 0 else {
            if captureOutput { close(outPipe[0]); close(errPipe[0]) }
            throw ChildProcessError("cannot start \(executable): errno \(rc)")
        }
        pid = child
        if captureOutput {
            readers = [drain(outPipe[0]) { [self] d in lock.withLock { out.append(d) } },
                       drain(errPipe[0]) { [self] d in lock.withLock { err.append(d) } }]
        }
        let waiter = Thread { [self] in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            lock.withLock { status = raw }
            exited.signal()
        }
        waiter.start()
    }

    private func drain(_ fd: Int32, into append: @escaping @Sendable (Data) -> Void) -> Thread {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 { append(Data(buffer[0..<n])) } else if n < 0 && errno == EINTR { continue } else { break }
            }
            close(fd)
            done.signal()
        }
        thread.start()
        drains.append(done)
        return thread
    }
    private var drains: [DispatchSemaphore] = []

    public var isRunning: Bool { lock.withLock { status == nil } }
    public var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    public var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Sends `sig` to the child (nothing once it has been reaped).
    public func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }

    /// Blocks until the child exits and its output is read; the exit code, or the signal number that ended it (as
    /// Foundation's `terminationStatus` reports it).
    @discardableResult
    public func waitUntilExit() -> Int32 {
        exited.wait()
        exited.signal()
        for done in drains { done.wait(); done.signal() }
        return terminationStatus
    }

    /// Waits (without blocking a concurrency thread) up to `seconds` for the exit, then SIGKILLs; the status.
    public func exit(within seconds: Double = 60) async -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if isRunning { kill(pid, SIGKILL) }
        while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return terminationStatus
    }

    /// The exit code (or ending signal); -1 while running.
    public var terminationStatus: Int32 {
        guard let raw = lock.withLock({ status }) else { return -1 }
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    /// True when a signal ended the child.
    public var wasSignalled: Bool {
        guard let raw = lock.withLock({ status }) else { return false }
        return raw & 0x7f != 0
    }
}

/// A child process that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
