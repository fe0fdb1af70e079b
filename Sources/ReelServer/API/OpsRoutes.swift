import Foundation
import ReelCore
import ReelStore
import Vapor

struct StatusJSON: Encodable, Sendable { var status: String }

extension APIRoutes {
    func registerOps(_ app: Application) {
        app.get("healthz") { _ in try APIJSON.response(StatusJSON(status: "ok"), headers: ["Cache-Control": "no-store"]) }
        app.get("readyz") { req in try await readiness(req) }
        app.get("metrics") { _ in try await metricsText() }
        app.get("openapi.json") { _ in
            Response(status: .ok, headers: ["Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": "*"],
                     body: .init(string: OpenAPIDocument.json))
        }
        app.get("docs") { _ in
            Response(status: .ok, headers: ["Content-Type": "text/html; charset=utf-8",
                                             "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"],
                     body: .init(string: DocsPage.html))
        }
    }

    func readiness(_ req: Request) async throws -> Response {
        do {
            if let check = services.readiness { try await check() } else { try await store.database.ping() }
        } catch {
            req.logger.warning("not ready: \(error)")
            throw Problem(.serviceUnavailable, "not-ready", "the database does not answer")
        }
        return try APIJSON.response(StatusJSON(status: "ready"), headers: ["Cache-Control": "no-store"])
    }

    func metricsText() async throws -> Response {
        if let counts = try? await services.store.jobCounts() {
            for status in JobStatus.allCases { runtime.metrics.setJobs(status: status, count: counts[status] ?? 0) }
        }
        return Response(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"],
                        body: .init(string: runtime.metrics.registry.emitToString()))
    }
}
