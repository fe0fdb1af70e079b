import ArgumentParser
import Foundation
import ReelCore
import ReelPipeline
import ReelProviders
import ReelServer
import ReelStore
import Synchronization
import Vapor

// `reelsmith serve`, `reelsmith worker` and `reelsmith users`: the service around the pipeline.
//
// Settings (README, "Configuration"): `dataDirectory` holds the SQLite database `reelsmith.sqlite` and the objects
// folder `objects/` unless `databaseURL` (PostgreSQL) and the `s3*` settings say otherwise; workers take their lease,
// poll and drain times and scene concurrency from the configuration too.

/// Where the service keeps its data, from the configuration read at start-up.
struct ServiceEnvironment {
    var configuration: Configuration

    init(_ configuration: Configuration) { self.configuration = configuration }

    var database: DatabaseLocation { configuration.database }
    var s3: S3Config? { configuration.s3 }
    var dataDirectory: String { configuration.dataDirectory }

    /// Opens the database (creating the data folder for SQLite) and runs the migrations.
    func openDatabase() async throws -> ServiceDatabase {
        try createDataDirectory()
        return try await ServiceDatabase.open(database)
    }

    /// SQLite's file needs its folder.
    func createDataDirectory() throws {
        if case .sqlite = database {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        }
    }

    /// The object store: S3 when configured, else `<data>/objects` (also returned as the local store the API serves from).
    func objectStore() async throws -> (objects: any ObjectStore, local: LocalObjectStore?) {
        if let s3 {
            let store = S3ObjectStore(config: s3)
            return (store, nil)
        }
        let root = (dataDirectory as NSString).appendingPathComponent("objects")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let local = LocalObjectStore(root: root)
        return (local, local)
    }

    /// Workers named after this process; `count` of them.
    func workers(_ count: Int, store: ServiceStore, objects: any ObjectStore, offline: Bool, noCache: Bool) throws -> [JobWorker] {
        guard count > 0 else { return [] }
        // Machines that share the database and storage share paid generations and in-flight predictions too (also with
        // --no-cache: the in-flight notes still keep a resumed job from paying twice). One machine has its own cache.
        let sharedData: Bool
        if case .postgres = database { sharedData = true } else { sharedData = s3 != nil }
        let shared = sharedData ? StoreSharedGenerations(store: store, objects: objects) : nil
        let factory = try configuration.pipelineFactory(offline: offline, noCache: noCache, shared: shared)
        let name = WorkerSettings.defaultName()
        return (0..<count).map { i in
            var settings = configuration.worker
            settings.name = count > 1 ? "\(name)-\(i + 1)" : name
            return JobWorker(store: store, objects: objects, settings: settings, makePipeline: factory)
        }
    }
}

extension Configuration {
    /// Pipelines for the service's workers: the providers the configuration sets up are made once, and each run gets
    /// its own progress sink, budget and scratch folder (like `pipeline(options:progress:scratch:)` for the CLI).
    /// `shared` is the service-wide generation cache behind the machine's own (`<data>/cache/generations`).
    func pipelineFactory(offline: Bool, noCache: Bool, shared: (any SharedGenerations)?) throws -> PipelineFactory {
        let setup = try ProviderSetup.make(settings: providers(offline: offline), http: providerHTTP)
        let cache = noCache ? nil : generationCache
        let analysis = analysisCache(disabled: noCache)
        let width = sceneConcurrency
        return { progress, budget, scratch in
            ClassicPipeline.configured(setup: setup, progress: progress, budget: budget, generationCache: cache, useCache: !noCache,
                                       scratch: scratch, analysisCache: analysis, modelSceneWidth: width, sharedGenerations: shared)
        }
    }
}

/// Fires once; any number of tasks wait for it.
final class ShutdownLatch: Sendable {
    private struct State { var fired = false; var waiters: [CheckedContinuation<Void, Never>] = [] }
    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.fired = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { s -> Bool in
                if !s.fired { s.waiters.append(c) }
                return s.fired
            }
            if fired { c.resume() }
        }
    }
}

/// Runs `body` so that cancelling the command (SIGTERM, Ctrl-C) fires `latch` instead of cancelling the work: the work
/// winds down by itself (drains its workers) and the command still exits 0.
func runShielded(_ latch: ShutdownLatch, _ body: @escaping @Sendable () async throws -> Void) async throws {
    // An unstructured (not detached) task does not inherit the command's cancellation.
    let work = Task { try await body() }
    try await withTaskCancellationHandler {
        try await work.value
    } onCancel: {
        latch.fire()
    }
}

func say(_ line: String) { FileHandle.standardError.write(Data("reelsmith: \(line)\n".utf8)) }

/// `reelsmith serve`: the HTTP API and, by default, one embedded worker.
struct Serve: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API (and workers) on this machine.",
        discussion: """
        Without configuration the data lives in REELSMITH_DATA (default ./data): a SQLite database and an objects folder. \
        --host and --port override the host and port settings (REELSMITH_HOST, REELSMITH_PORT). \
        DATABASE_URL (PostgreSQL) and S3_* settings let any number of servers and workers share the work. SIGTERM or \
        Ctrl-C stops taking requests, lets the workers finish their current stage or hand their jobs back, and exits 0.
        """)

    @ArgumentParser.Option(help: "Address to listen on (default: the host setting, 127.0.0.1).") var host: String?
    @ArgumentParser.Option(help: "Port to listen on (default: the port setting, 8080; 0: any free port, printed on standard error).")
    var port: Int?
    @ArgumentParser.Option(help: "Workers in this process (0 for an API-only server).") var workers = 1
    @ArgumentParser.Flag(help: "Workers use only offline providers.") var offline = false
    @ArgumentParser.Flag(help: "Workers neither read nor write the generation cache.") var noCache = false

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        guard (0...64).contains(workers) else { throw ValidationError("--workers must be between 0 and 64") }
    }

    func run(config: Configuration) async throws {
        let service = ServiceEnvironment(config)
        let latch = ShutdownLatch()
        let (host, port, count, offline, noCache) = (self.host ?? config.host, self.port ?? config.port, self.workers, self.offline, self.noCache)
        try await runShielded(latch) {
            let database = try await service.openDatabase()
            do {
                try await Self.serve(service, database: database, host: host, port: port, workers: count, offline: offline,
                                     noCache: noCache, latch: latch)
            } catch {
                await database.shutdown()
                throw error
            }
            await database.shutdown()
            say("stopped")
        }
    }

    static func serve(_ service: ServiceEnvironment, database: ServiceDatabase, host: String, port: Int, workers count: Int,
                      offline: Bool, noCache: Bool, latch: ShutdownLatch) async throws {
        let store = ServiceStore(database: database)
        let (objects, local) = try await service.objectStore()
        let workers = try service.workers(count, store: store, objects: objects, offline: offline, noCache: noCache)
        let app = try await Application.make(Vapor.Environment(name: "production", arguments: ["reelsmith"]))
        do {
            let context = ServiceContext(store: store, objects: objects, localObjects: local, limits: service.configuration.limits,
                                         scratch: (service.dataDirectory as NSString).appendingPathComponent("uploads"),
                                         publicBaseURL: service.configuration.publicURL,
                                         readiness: { try await database.ping() })
            try configure(app, services: context)
            app.http.server.configuration.hostname = host
            app.http.server.configuration.port = port
            try await app.server.start(address: .hostname(host, port: port))
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        let bound = app.http.server.shared.localAddress?.port ?? port
        say("listening on http://\(host):\(bound) with \(workers.count) worker\(workers.count == 1 ? "" : "s")")
        await withTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker.run() } }
            await latch.wait()
            say("shutting down: no new requests; workers finish their stage or hand their jobs back")
            app.closeLiveStreams()
            await app.server.shutdown()
            for worker in workers { worker.drain() }
            await group.waitForAll()
        }
        try await app.asyncShutdown()
    }
}

/// `reelsmith worker`: workers without the HTTP API.
struct WorkerCommand: ConfiguredCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run jobs from the queue (no HTTP API).",
        discussion: "Same data settings as `serve`. SIGTERM or Ctrl-C drains: the current stage finishes or the job goes back to the queue.")

    @ArgumentParser.Option(help: "Workers in this process.") var workers = 1
    @ArgumentParser.Flag(help: "Use only offline providers.") var offline = false
    @ArgumentParser.Flag(help: "Neither read nor write the generation cache.") var noCache = false

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
    }

    func run(config: Configuration) async throws {
        let service = ServiceEnvironment(config)
        let latch = ShutdownLatch()
        let (count, offline, noCache) = (self.workers, self.offline, self.noCache)
        try await runShielded(latch) {
            let database = try await service.openDatabase()
            do {
                let store = ServiceStore(database: database)
                let (objects, _) = try await service.objectStore()
                let workers = try service.workers(count, store: store, objects: objects, offline: offline, noCache: noCache)
                await withTaskGroup(of: Void.self) { group in
                    for worker in workers { group.addTask { await worker.run() } }
                    group.addTask {
                        await latch.wait()
                        for worker in workers { worker.drain() }
                    }
                    await group.waitForAll()
                }
            } catch {
                await database.shutdown()
                throw error
            }
            await database.shutdown()
            say("worker stopped")
        }
    }
}

/// `reelsmith users`: accounts and API keys.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage users and their API keys.",
        subcommands: [Add.self, List.self, Keys.self, Revoke.self, Rotate.self, Limits.self])

    /// Opens the service's database for one command.
    static func withStore<T: Sendable>(_ config: Configuration, _ body: (ServiceStore) async throws -> T) async throws -> T {
        let service = ServiceEnvironment(config)
        try service.createDataDirectory()
        return try await ServiceDatabase.withStore(service.database, body)
    }

    /// The user holding key `id`.
    static func keyOwner(_ store: ServiceStore, keyId: String) async throws -> (User, UUID) {
        guard let id = UUID(uuidString: keyId) else { throw ReelError(.badInput, "'\(keyId)' is not a key id (see `reelsmith users keys NAME`)") }
        for user in try await store.users() where try await store.keys(userId: user.id).contains(where: { $0.id == id }) {
            return (user, id)
        }
        throw ReelError(.badInput, "no key has the id \(keyId)")
    }

    struct Add: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; prints its API key alone on the last line of standard output (shown once).")
        @ArgumentParser.Argument(help: "The user's name (unique).") var name: String

        func run(config: Configuration) async throws {
            let (user, key) = try await Users.withStore(config) { try await $0.createUser(name: name) }
            say("created user \(user.name) (\(user.id.uuidString.lowercased())); the API key below is shown only once")
            print(key)
        }
    }

    struct List: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their limits.")
        @ArgumentParser.Flag(help: "Print one JSON object on standard output.") var json = false

        func run(config: Configuration) async throws {
            let users = try await Users.withStore(config) { try await $0.users() }
            if json { try printJSON(["users": users]); return }
            for u in users {
                print("\(u.name)\t\(u.id.uuidString.lowercased())\tbudget \(u.budget.map { String(format: "$%.2f", $0) } ?? "unlimited")\tjobs \(u.maxConcurrentJobs)\trpm \(u.requestsPerMinute)")
            }
        }
    }

    struct Keys: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "List a user's API keys (prefixes only; keys are stored hashed).")
        @ArgumentParser.Argument(help: "The user's name.") var name: String
        @ArgumentParser.Flag(help: "Print one JSON object on standard output.") var json = false

        func run(config: Configuration) async throws {
            let keys = try await Users.withStore(config) { store -> [APIKeyInfo] in
                guard let user = try await store.user(named: name) else { throw ReelError(.badInput, "no user is named '\(name)'") }
                return try await store.keys(userId: user.id)
            }
            if json { try printJSON(["keys": keys]); return }
            let iso = ISO8601DateFormatter()
            for k in keys {
                print("\(k.id.uuidString.lowercased())\t\(k.prefix)…\tcreated \(iso.string(from: k.createdAt))\t\(k.revokedAt.map { "revoked " + iso.string(from: $0) } ?? "active")")
            }
        }
    }

    struct Revoke: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key.")
        @ArgumentParser.Argument(help: "The key's id (from `users keys NAME`).") var keyId: String

        func run(config: Configuration) async throws {
            try await Users.withStore(config) { store in
                let (user, id) = try await Users.keyOwner(store, keyId: keyId)
                guard try await store.revokeKey(id: id, userId: user.id) else { throw ReelError(.badInput, "no key has the id \(keyId)") }
                say("revoked key \(keyId) of \(user.name)")
            }
        }
    }

    struct Rotate: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "Replace an API key: revokes it and prints the new key alone on the last line.")
        @ArgumentParser.Argument(help: "The key's id (from `users keys NAME`).") var keyId: String

        func run(config: Configuration) async throws {
            let key = try await Users.withStore(config) { store -> String in
                let (user, id) = try await Users.keyOwner(store, keyId: keyId)
                guard let rotated = try await store.rotateKey(id: id, userId: user.id) else { throw ReelError(.badInput, "no key has the id \(keyId)") }
                say("revoked key \(keyId) of \(user.name); new key \(rotated.info.id.uuidString.lowercased()) below, shown only once")
                return rotated.key
            }
            print(key)
        }
    }

    struct Limits: ConfiguredCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's spending budget and request limits.")
        @ArgumentParser.Argument(help: "The user's name.") var name: String
        @ArgumentParser.Option(help: "Spending budget in US dollars.") var budget: Double?
        @ArgumentParser.Flag(help: "Remove the spending budget (no limit).") var noBudget = false
        @ArgumentParser.Option(help: "Jobs queued or running at once.") var maxJobs: Int?
        @ArgumentParser.Option(help: "Requests per minute.") var rpm: Int?

        func validate() throws {
            if let budget, !(budget >= 0) { throw ValidationError("--budget must be zero or more US dollars") }
            if budget != nil && noBudget { throw ValidationError("--budget and --no-budget contradict each other") }
            if let maxJobs, maxJobs < 1 { throw ValidationError("--max-jobs must be 1 or more") }
            if let rpm, rpm < 1 { throw ValidationError("--rpm must be 1 or more") }
        }

        func run(config: Configuration) async throws {
            try await Users.withStore(config) { store in
                guard let user = try await store.user(named: name) else { throw ReelError(.badInput, "no user is named '\(name)'") }
                // The store takes the budget as a whole (nil: unlimited), so a budget not mentioned is kept as it is.
                try await store.setLimits(userId: user.id, budget: noBudget ? nil : (budget ?? user.budget), maxConcurrentJobs: maxJobs,
                                          requestsPerMinute: rpm)
                say("limits of \(name) updated")
            }
        }
    }
}
