import Foundation
import ReelCore
import ReelStore
import Vapor

/// Installs the whole HTTP API on `app`: middleware (metrics, problem+json errors, auth), every route, the OpenAPI
/// document and its reference page. The caller owns the application's lifecycle (host, port, start, shutdown).
public func configure(_ app: Application, services: ServiceContext) throws {
    try FileManager.default.createDirectory(atPath: services.scratch, withIntermediateDirectories: true)
    let runtime = APIRuntime(services: services)
    app.storage[APIRuntimeKey.self] = runtime

    // Vapor's default error middleware answers in its own JSON shape: ours answers problem+json for everything,
    // unknown routes included (they surface as an error thrown below every middleware).
    app.middleware = Middlewares()
    app.middleware.use(MetricsMiddleware(metrics: runtime.metrics))
    let routeIndex = RouteIndex()
    app.middleware.use(ProblemMiddleware(routes: routeIndex))
    app.routes.defaultMaxBodySize = "64kb"
    app.routes.caseInsensitive = false
    let idle = services.limits.idleTimeout.components
    app.http.server.configuration.idleTimeout = .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000)

    app.lifecycle.use(StreamCloser(runtime: runtime))
    app.lifecycle.use(LeftoverSweeper.Lifecycle(LeftoverSweeper(services: services, logger: app.logger)))

    let routes = APIRoutes(runtime: runtime)
    routes.register(app)
    routeIndex.load(app.routes.all)
}

/// Ends the live streams when the application shuts down, so no stream holds it open.
private struct StreamCloser: LifecycleHandler {
    let runtime: APIRuntime
    func shutdown(_ application: Application) { runtime.streams.closeAll() }
}

/// The route handlers, grouped by resource in the files beside this one.
struct APIRoutes: Sendable {
    let runtime: APIRuntime
    var services: ServiceContext { runtime.services }
    var store: ServiceStore { runtime.services.store }

    func register(_ app: Application) {
        registerOps(app)
        let api = app.grouped("api")
        registerSession(api)
        let authed = api.grouped(AuthMiddleware(store: store, limiter: runtime.limiter, limits: services.limits,
                                                  cache: runtime.authCache))
        registerProjects(authed)
        registerAssets(authed)
        registerJobs(authed)
        registerKeys(authed)
        registerEvents(authed, app: app)
    }
}

// MARK: - Small helpers every handler uses

extension Request {
    /// A UUID path parameter; anything else is a 404 (no resource has that id).
    func id(_ name: String, _ what: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(uuidString: text) else { throw Problem.notFound(what) }
        return id
    }

    /// The one value of a query parameter: nil when absent, a 400 when given twice (no guessing which one counts).
    func queryValue(_ name: String) throws -> String? {
        guard let query = url.query, !query.isEmpty else { return nil }
        let values = query.split(separator: "&").compactMap { pair -> String? in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0].removingPercentEncoding == name else { return nil }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
        }
        guard values.count <= 1 else { throw Problem.badRequest("'\(name)' is given more than once") }
        return values.first
    }

    /// `?limit=` (1…100, default 20) and `?cursor=`.
    func pageQuery() throws -> (limit: Int, cursor: String?) {
        var limit = 20
        if let text = try queryValue("limit") {
            guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text), (1...100).contains(n) else {
                throw Problem.badRequest("limit must be a whole number from 1 to 100")
            }
            limit = n
        }
        let cursor = try queryValue("cursor")
        if let cursor, cursor.isEmpty || cursor.count > 200 { throw Problem.badRequest("the cursor is not one this server gave out") }
        return (limit, cursor)
    }
}

extension APIRoutes {
    /// The caller's project, or a 404 (another user's project is as missing as a deleted one).
    func ownedProject(_ req: Request) async throws -> Project {
        let id = try req.id("projectId", "the project")
        guard let project = try await store.project(id: id, owner: try req.user.id) else { throw Problem.notFound("the project") }
        return project
    }

    /// A link to an API path, absolute when the server knows its public URL.
    func link(_ path: String) -> String {
        guard var base = services.publicBaseURL, !base.isEmpty else { return path }
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
