import Foundation
import Fluent
import FluentSQLiteDriver
import FluentPostgresDriver
import NIO
import Synchronization
import ReelCore
#if canImport(Glibc)
import Glibc
#endif

/// Where the service keeps its data: a SQLite file (one machine; several processes may share it) or a PostgreSQL
/// server (`postgres://user:password@host:port/database`, the `DATABASE_URL` form; many machines).
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(url: String)
}

/// The service's database: Fluent on its own NIO thread pool and event loop group (not Vapor's), migrated on open.
/// On SQLite it turns on WAL and a busy timeout so several processes share one file; on PostgreSQL it also keeps a
/// dedicated connection that LISTENs for new job events from every process.
public final class ServiceDatabase: Sendable {
    let databases: Databases
    let eventLoopGroup: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    let logger: Logger
    let location: DatabaseLocation
    let wakeups = WakeupBroadcaster()
    private let listener: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let isShutDown = Mutex(false)

    /// The NOTIFY channel new job events are announced on.
    static let eventChannel = "reelsmith_events"

    /// True on PostgreSQL, false on SQLite.
    public var isPostgres: Bool {
        if case .postgres = location { return true }
        return false
    }

    private init(location: DatabaseLocation, logger: Logger) {
        self.location = location
        self.logger = logger
        // Our own loops and pool, not NIO's singletons (Vapor's): measured on 2 cores, sharing Vapor's loops was no
        // better for GET /api/jobs/{id} (within noise at 16 connections, worse at 64), and the workers' queue polling
        // stays off the HTTP loops. Two loops = two SQLite connections (one per loop; WAL lets both read at once)
        // and 2 × maxConnectionsPerEventLoop PostgreSQL connections.
        self.threadPool = NIOThreadPool(numberOfThreads: 2)
        self.threadPool.start()
        self.eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.databases = Databases(threadPool: threadPool, on: eventLoopGroup)
    }

    /// Opens the database at `location`, runs `body` with a store on it, and shuts it down however `body` ends.
    public static func withStore<T: Sendable>(_ location: DatabaseLocation, _ body: (ServiceStore) async throws -> T) async throws -> T {
        let database = try await open(location)
        do {
            let result = try await body(ServiceStore(database: database))
            await database.shutdown()
            return result
        } catch {
            await database.shutdown()
            throw error
        }
    }

    /// How long a query waits for a pooled connection: writes hold theirs for a transaction, and on a busy machine a
    /// burst of them outlasts Fluent's default 10 s, which would fail requests that only had to queue.
    static let poolTimeout: TimeAmount = .seconds(60)

    /// Opens the database, creating it (SQLite) and running migrations. Throws `ReelError(.badInput)` for an unusable
    /// URL, and the driver's error when the server cannot be reached.
    public static func open(_ location: DatabaseLocation, logger: Logger = .init(label: "reelsmith.db")) async throws -> ServiceDatabase {
        let db = ServiceDatabase(location: location, logger: logger)
        do {
            switch location {
            case .sqlite(let path):
                let url = URL(fileURLWithPath: path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                db.databases.use(.sqlite(.file(url.path), connectionPoolTimeout: poolTimeout, sqlLogLevel: .trace), as: .sqlite)
                try await db.configureSQLiteConnections()
                try await withFileLock(url.path + ".migrate-lock") { try await db.migrate() }
            case .postgres(let url):
                let config: SQLPostgresConfiguration
                do { config = try SQLPostgresConfiguration(url: url) } catch {
                    throw ReelError(.badInput, "DATABASE_URL is not a usable PostgreSQL URL (postgres://user:password@host:port/database)")
                }
                db.databases.use(.postgres(configuration: config, maxConnectionsPerEventLoop: 4, connectionPoolTimeout: poolTimeout, sqlLogLevel: .trace),
                                 as: .psql)
                try await db.withPostgresAdvisoryLock(config: config.coreConfiguration) { try await db.migrate() }
                try await db.startListening(config: config.coreConfiguration)
            }
        } catch {
            await db.shutdown()
            throw error
        }
        return db
    }

    /// A Fluent database handle (cheap; make one per use). Throws once the database is shut down.
    var database: any Database {
        get throws {
            guard let db = databases.database(logger: logger, on: eventLoopGroup.any()) else {
                throw ReelError(.internalError, "the database is closed (the service is shutting down)")
            }
            return db
        }
    }

    /// The same handle as SQLKit, for the queue's raw statements.
    var sql: any SQLDatabase { get throws { try database as! any SQLDatabase } }

    /// Checks the database answers (for `/readyz`).
    public func ping() async throws {
        try await sql.raw("SELECT 1").run()
    }

    /// Stops the listener, closes connections and stops the thread pool and event loops. Safe to call twice.
    public func shutdown() async {
        let already = isShutDown.withLock { done in
            defer { done = true }
            return done
        }
        guard !already else { return }
        let task = listener.withLock { t in
            defer { t = nil }
            return t
        }
        task?.cancel()
        await task?.value
        wakeups.finishAll()
        await databases.shutdownAsync()
        try? await eventLoopGroup.shutdownGracefully()
        try? await threadPool.shutdownGracefully()
    }

    // MARK: - Migrations

    static let migrations: [any Migration] = [
        CreateUsers(), CreateAPIKeys(), CreateSessions(), CreateProjects(), CreateScenes(), CreateAssets(), CreateJobs(),
        CreateJobEvents(), CreateCostEntries(), CreateIdempotencyKeys(), CreateCheckpoints(), CreateCacheIndex(),
        AddQueryIndexes(),
        AddSessionKeys(),
        CreateSpendHolds(),
    ]

    private func migrate() async throws {
        let migrations = Migrations()
        migrations.add(Self.migrations)
        let migrator = Migrator(databases: databases, migrations: migrations, logger: logger, on: eventLoopGroup.any(),
                                migrationLogLevel: .debug)
        try await migrator.setupIfNeeded().get()
        try await migrator.prepareBatch().get()
    }

    // MARK: - SQLite

    /// WAL lets readers work while one process writes; busy_timeout makes a writer wait (with sleeps) for another
    /// process's write lock instead of failing. Each event loop's pool holds one connection: set both on each.
    private func configureSQLiteConnections() async throws {
        for loop in eventLoopGroup.makeIterator() {
            guard let db = databases.database(logger: logger, on: loop) as? any SQLDatabase else { continue }
            try await (db as! any Database).withConnection { conn in
                let s = conn as! any SQLDatabase
                try await s.raw("PRAGMA busy_timeout = 15000").run()
                try await s.raw("PRAGMA journal_mode = WAL").run()
                try await s.raw("PRAGMA synchronous = NORMAL").run()
            }
        }
    }

    // MARK: - PostgreSQL

    private func connectRaw(_ config: PostgresConnection.Configuration, id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(on: eventLoopGroup.next(), configuration: config, id: id, logger: logger).get()
    }

    /// Serialises migrations of processes starting at once on one server.
    private func withPostgresAdvisoryLock(config: PostgresConnection.Configuration, _ body: () async throws -> Void) async throws {
        let conn = try await connectRaw(config, id: 1)
        do {
            _ = try await conn.query("SELECT pg_advisory_lock(7426001)", logger: logger)
            do { try await body() } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(7426001)", logger: logger)
                throw error
            }
            _ = try await conn.query("SELECT pg_advisory_unlock(7426001)", logger: logger)
        } catch {
            try? await conn.close()
            throw error
        }
        try? await conn.close()
    }

    /// LISTENs on a dedicated connection and fires the wakeups for every NOTIFY; reconnects after a second when the
    /// connection drops. Returns once the first LISTEN is in place.
    private func startListening(config: PostgresConnection.Configuration) async throws {
        let first = try await connectRaw(config, id: 2)
        let (ready, readyContinuation) = AsyncStream<Result<Void, any Error>>.makeStream()
        let logger = self.logger
        let wakeups = self.wakeups
        let group = self.eventLoopGroup
        let task = Task {
            var connection: PostgresConnection? = first
            var signalled = false
            while !Task.isCancelled {
                do {
                    if connection == nil {
                        connection = try await PostgresConnection.connect(on: group.next(), configuration: config, id: 2, logger: logger).get()
                    }
                    guard let conn = connection else { continue }
                    try await withTaskCancellationHandler {
                        try await conn.listen(on: ServiceDatabase.eventChannel) { notifications in
                            if !signalled { signalled = true; readyContinuation.yield(.success(())); readyContinuation.finish() }
                            // Something may have been appended while we were not listening.
                            wakeups.fire()
                            for try await _ in notifications { wakeups.fire() }
                        }
                    } onCancel: {
                        conn.close().whenComplete { _ in }
                    }
                } catch {
                    if !signalled { signalled = true; readyContinuation.yield(.failure(error)); readyContinuation.finish(); return }
                    if !Task.isCancelled { logger.warning("event listener lost its connection; reconnecting: \(String(reflecting: error))") }
                }
                try? await connection?.close()
                connection = nil
                if Task.isCancelled { break }
                try? await Task.sleep(for: .seconds(1))
            }
            try? await connection?.close()
        }
        listener.withLock { $0 = task }
        for await result in ready {
            try result.get()
            return
        }
    }
}

/// Fans one "something new" signal out to every subscriber; each subscriber keeps at most one pending wake.
final class WakeupBroadcaster: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func fire() {
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(()) }
    }

    func finishAll() {
        for c in subscribers.withLock({ Array($0.values) }) { c.finish() }
    }
}

/// Holds an exclusive `flock` on `path` while `body` runs (SQLite migrations of processes starting at once).
func withFileLock<T>(_ path: String, _ body: () async throws -> T) async throws -> T {
    let fd = Glibc.open(path, O_CREAT | O_RDWR, 0o644)
    guard fd >= 0 else { return try await body() }
    defer { Glibc.close(fd) }
    // Blocking flock on a worker thread would be nicer; migrations are short, so poll.
    while flock(fd, LOCK_EX | LOCK_NB) != 0 { try await Task.sleep(for: .milliseconds(50)) }
    defer { flock(fd, LOCK_UN) }
    return try await body()
}
