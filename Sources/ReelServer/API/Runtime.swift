import Foundation
import Prometheus
import ReelCore
import ReelStore
import Synchronization
import Vapor

/// State the API keeps in memory for one application: rate-limit buckets, metrics, and the open live streams.
final class APIRuntime: Sendable {
    let services: ServiceContext
    let limiter = RateLimiter()
    let metrics = APIMetrics()
    let authCache = AuthCache()
    let streams = LiveStreams()

    init(services: ServiceContext) { self.services = services }
}

struct APIRuntimeKey: StorageKey { typealias Value = APIRuntime }

extension Application {
    /// Ends every open SSE and WebSocket stream (their clients reconnect elsewhere): call before the server drains on
    /// SIGTERM, since a stream never finishes by itself.
    public func closeLiveStreams() {
        storage[APIRuntimeKey.self]?.streams.closeAll()
    }
}

/// Request counts and latency by route and status, and jobs by status: Prometheus text at `/metrics`.
final class APIMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private static let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                              .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                              .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]

    /// The collectors of one (method, route, status), made once: the registry's `make…` validates the name, labels
    /// and buckets under its lock every call, which cost more than the rest of a cached `GET /api/jobs/{id}`.
    private struct RequestCollectors: @unchecked Sendable {
        // Counter and DurationHistogram are thread-safe classes (atomics / their own locks); not marked Sendable.
        let requests: Counter
        let duration: DurationHistogram
    }
    private struct RequestLabels: Hashable { var method: String; var route: String; var status: UInt }
    private let collectors = Mutex<[RequestLabels: RequestCollectors]>([:])

    func record(method: String, route: String, status: UInt, duration: Duration) {
        let labels = RequestLabels(method: method, route: route, status: status)
        let found = collectors.withLock { $0[labels] }
        let c = found ?? makeCollectors(labels)
        c.requests.increment()
        c.duration.record(duration)
    }

    private func makeCollectors(_ l: RequestLabels) -> RequestCollectors {
        let c = RequestCollectors(
            requests: registry.makeCounter(descriptor: .init(namespace: "reelsmith", metricName: "http_requests", unitName: "total",
                                                             helpText: "HTTP requests answered, by method, route and status"),
                                           labels: [("method", l.method), ("route", l.route), ("status", String(l.status))]),
            duration: registry.makeDurationHistogram(descriptor: .init(namespace: "reelsmith", metricName: "http_request_duration",
                                                                       unitName: "seconds", helpText: "Time to answer an HTTP request"),
                                                     labels: [("method", l.method), ("route", l.route)], buckets: Self.buckets))
        // The registry hands back the same collectors for the same labels, so a racing second maker stores equal ones.
        // Bounded: routes are patterns and statuses a few dozen, but unmatched methods are client-chosen strings.
        collectors.withLock { if $0.count < 4096 { $0[l] = c } }
        return c
    }

    func setJobs(status: JobStatus, count: Int) {
        registry.makeGauge(descriptor: .init(namespace: "reelsmith", metricName: "jobs", unitName: "",
                                             helpText: "Jobs in the queue, by status"),
                           labels: [("status", status.rawValue)]).set(Double(count))
    }

    func count(_ name: String, help: String, labels: [(String, String)] = []) {
        registry.makeCounter(descriptor: .init(namespace: "reelsmith", metricName: name, unitName: "total", helpText: help),
                             labels: labels).increment()
    }
}

/// Records every request in `APIMetrics`; outermost, so it sees the final status of errors too.
struct MetricsMiddleware: AsyncMiddleware {
    let metrics: APIMetrics
    let routeNames = RouteNames()

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next.respond(to: request)
        } catch {
            response = Problem.from(error, logger: request.logger).response()
        }
        // The route's pattern, not the path: ids would make a label per resource.
        let route = request.route.map(routeNames.name) ?? "unmatched"
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code,
                       duration: ContinuousClock.now - start)
        return response
    }
}

/// Each route's pattern as a label ("/api/jobs/:jobId"), built once per route instead of joined on every request.
final class RouteNames: Sendable {
    private let names = Mutex<[ObjectIdentifier: String]>([:])

    func name(_ route: Route) -> String {
        // Routes live as long as the application, so their identity is a stable key.
        let id = ObjectIdentifier(route)
        if let name = names.withLock({ $0[id] }) { return name }
        let name = "/" + route.path.map(\.description).joined(separator: "/")
        names.withLock { $0[id] = name }
        return name
    }
}
