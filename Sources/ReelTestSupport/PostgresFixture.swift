import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: started once per test process on first use (a fresh cluster made with
/// `initdb` from `/usr/lib/postgresql/<version>/bin`, on a free loopback port, `fsync=off`, trust auth; run through
/// `runuser -u postgres` when the tests run as root), with a fresh database per caller. The cluster lives in
/// `/tmp/reelsmith-pg-<random>` and is stopped and removed when the process exits, normally or not (a watchdog shell
/// notices a killed test process); a later test process also removes clusters whose owner died without cleaning up.
///
/// With `REELSMITH_TEST_DATABASE_URL` set (`postgres://user:password@host:port/db`), that server is used instead:
/// each fresh database is created on it with `CREATE DATABASE` and dropped when the process exits normally.
///
/// Without PostgreSQL installed it throws a clear error: the PostgreSQL tests fail rather than skip (`make test`
/// installs the `postgresql` package).
public enum PostgresFixture {
    /// The URL of a new, empty database on the test server.
    public static func freshDatabaseURL() async throws -> String {
        try await Cluster.shared.freshDatabaseURL()
    }

    /// The URL of the server's maintenance database (`postgres`).
    public static func serverURL() async throws -> String {
        try await Cluster.shared.serverURL()
    }
}

/// Why the test PostgreSQL server could not be had.
public struct PostgresFixtureError: Error, CustomStringConvertible {
    public var description: String
}

private actor Cluster {
    static let shared = Cluster()

    private var starting: Task<String, any Error>?
    private var counter = 0

    func serverURL() async throws -> String {
        if let starting { return try await starting.value }
        let task = Task { try await Self.start() }
        starting = task
        return try await task.value
    }

    func freshDatabaseURL() async throws -> String {
        let server = try await serverURL()
        counter += 1
        let name = "reelsmith_test_\(getpid())_\(counter)_\(UUID().uuidString.prefix(6).lowercased())"
        let result = try await run("/usr/bin/env", ["psql", server, "-v", "ON_ERROR_STOP=1", "-Atqc", "CREATE DATABASE \(name)"])
        guard result.status == 0 else {
            throw PostgresFixtureError(description: "could not create the test database \(name): \(result.output)")
        }
        guard var components = URLComponents(string: server) else { throw PostgresFixtureError(description: "bad server URL \(server)") }
        components.path = "/" + name
        if ProcessInfo.processInfo.environment["REELSMITH_TEST_DATABASE_URL"].map({ !$0.isEmpty }) == true {
            // Someone else's server: drop what we made when the process exits.
            if createdDatabases.isEmpty {
                atexit {
                    guard let server = externalServer else { return }
                    for db in createdDatabases {
                        _ = system("psql \(shellQuote(server)) -Atqc \(shellQuote("DROP DATABASE IF EXISTS \(db) WITH (FORCE)")) >/dev/null 2>&1")
                    }
                }
            }
            externalServer = server
            createdDatabases.append(name)
        }
        return components.string!
    }

    private static func start() async throws -> String {
        if let url = ProcessInfo.processInfo.environment["REELSMITH_TEST_DATABASE_URL"], !url.isEmpty { return url }
        guard let bin = postgresBin() else {
            throw PostgresFixtureError(description: """
                PostgreSQL is not installed: no initdb under /usr/lib/postgresql/*/bin. The PostgreSQL store tests need it \
                (`apt-get install -y postgresql`, as scripts/install-deps.sh does), or set REELSMITH_TEST_DATABASE_URL \
                to a server the tests may create databases on.
                """)
        }
        removeStaleClusters()
        let asRoot = getuid() == 0
        let dir = "/tmp/reelsmith-pg-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "\(getpid())".write(toFile: dir + "/owner.pid", atomically: true, encoding: .utf8)
        if asRoot {
            let r = try await run("/bin/chown", ["postgres:postgres", dir])
            guard r.status == 0 else { throw PostgresFixtureError(description: "chown postgres \(dir) failed: \(r.output)") }
        }
        // `atexit` does not run when the test process crashes or is killed (a CI timeout, kill -9). A detached
        // watchdog, started before initdb so a kill during start-up is covered too, then stops the server and removes
        // its folder within a second or two, instead of leaving a postgres running until a later test process
        // sweeps stale clusters.
        let who = asRoot ? "/usr/sbin/runuser -u postgres -- " : ""
        let cleanup = "\(who)\(bin)/pg_ctl -D \(dir)/data -m immediate stop >/dev/null 2>&1; rm -rf \(dir)"
        let watchdog = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(cleanup)"
        _ = try await run("/bin/sh", ["-c", "nohup /bin/sh -c \(shellQuote(watchdog)) </dev/null >/dev/null 2>&1 &"])
        func pg(_ tool: String, _ args: [String]) async throws -> (status: Int32, output: String) {
            asRoot ? try await run("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + args)
                   : try await run(bin + "/" + tool, args)
        }
        let initdb = try await pg("initdb", ["-D", dir + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"])
        guard initdb.status == 0 else { throw PostgresFixtureError(description: "initdb failed: \(initdb.output)") }
        var lastError = ""
        for _ in 0..<3 {
            let port = freePort()
            let options = "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " +
                "-c full_page_writes=off -c max_connections=300"
            let started = try await pg("pg_ctl", ["-D", dir + "/data", "-l", dir + "/server.log", "-w", "-t", "60", "-o", options, "start"])
            if started.status == 0 {
                stopCommand = cleanup
                atexit { if let c = stopCommand { _ = system(c) } }
                return "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable"
            }
            lastError = started.output + ((try? String(contentsOfFile: dir + "/server.log", encoding: .utf8)) ?? "")
        }
        throw PostgresFixtureError(description: "could not start the test PostgreSQL server: \(lastError)")
    }

    /// The newest installed server's bin folder.
    private static func postgresBin() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for v in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") { return "\(root)/\(v)/bin" }
        return nil
    }

    /// Stops and removes clusters left by test processes that died without their exit handler.
    private static func removeStaleClusters() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix("reelsmith-pg-") {
            let dir = "/tmp/" + entry
            guard let text = try? String(contentsOfFile: dir + "/owner.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            if let bin = postgresBin() {
                let who = getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : ""
                _ = system("\(who)\(bin)/pg_ctl -D \(dir)/data -m immediate stop >/dev/null 2>&1")
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// The shell command that stops this process's cluster, run at exit.
nonisolated(unsafe) private var stopCommand: String?
/// On a server given by REELSMITH_TEST_DATABASE_URL: the databases to drop at exit (changed only on the actor).
nonisolated(unsafe) private var externalServer: String?
nonisolated(unsafe) private var createdDatabases: [String] = []

/// Runs a program to the end on a plain thread (not the concurrency pool); returns its exit status and its merged
/// output. It goes through `system()`, not Foundation's `Process`: `pg_ctl start` leaves a server running, and
/// `Process` waits for every descendant to close an inherited descriptor before it reports the exit.
private func run(_ program: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let outPath = NSTemporaryDirectory() + "reelsmith-pgfixture-\(UUID().uuidString).log"
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let command = ([program] + arguments).map(shellQuote).joined(separator: " ") + " </dev/null >\(shellQuote(outPath)) 2>&1"
    let status: Int32 = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let raw = system(command)
            let exit: Int32 = raw == -1 ? -1 : ((raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
            continuation.resume(returning: exit)
        }
    }
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    return (status, text)
}

private func shellQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
