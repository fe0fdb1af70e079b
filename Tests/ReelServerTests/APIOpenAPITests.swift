import Foundation
import ReelCore
@testable import ReelServer
import ReelStore
import Testing
import Vapor

/// The OpenAPI document is the contract: it and the registered routes match exactly. Plus the operational endpoints.
@Suite struct APIOpenAPITests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedPathIsRouted() async throws {
        try await withAPIServer { server in
            let r = try await server.send(.GET, "/openapi.json")
            #expect(r.status == 200)
            let doc = r.json
            #expect(doc["openapi"] == "3.1.0")
            let paths = try #require(doc["paths"]?.objectValue)
            var documented = Set<String>()
            for (path, item) in paths {
                for method in (item.objectValue ?? [:]).keys { documented.insert("\(method.uppercased()) \(path)") }
            }
            var registered = Set<String>()
            for route in server.app.routes.all {
                let path = "/" + route.path.map { component -> String in
                    if case .parameter(let name) = component { return "{\(name)}" }
                    return component.description
                }.joined(separator: "/")
                registered.insert("\(route.method.rawValue) \(path)")
            }
            #expect(registered.subtracting(documented).isEmpty, "routes missing from /openapi.json: \(registered.subtracting(documented).sorted())")
            #expect(documented.subtracting(registered).isEmpty, "documented but not routed: \(documented.subtracting(registered).sorted())")

            // Every $ref points at something that exists, and every operation has an id and answers.
            var refs = Set<String>()
            func collect(_ v: JSONValue) {
                switch v {
                case .object(let o):
                    if let ref = o["$ref"]?.stringValue { refs.insert(ref) }
                    o.values.forEach(collect)
                case .array(let a): a.forEach(collect)
                default: break
                }
            }
            collect(doc)
            #expect(refs.count > 10)
            for ref in refs {
                let parts = ref.split(separator: "/").map(String.init)
                #expect(parts.count == 4 && parts[0] == "#" && doc[parts[1]]?[parts[2]]?[parts[3]] != nil, "dangling $ref \(ref)")
            }
            var ids = Set<String>()
            for (_, item) in paths {
                for (_, op) in item.objectValue ?? [:] {
                    let id = try #require(op["operationId"]?.stringValue)
                    #expect(ids.insert(id).inserted, "duplicate operationId \(id)")
                    #expect(op["responses"]?.objectValue?.isEmpty == false)
                }
            }
        }
    }

    @Test func docsPageIsSelfContained() async throws {
        try await withAPIServer { server in
            let r = try await server.send(.GET, "/docs")
            #expect(r.status == 200)
            #expect(r.contentType.hasPrefix("text/html"))
            #expect(r.text.contains("/openapi.json"))
            #expect(!r.text.contains("http://") && !r.text.contains("https://") && !r.text.contains("//cdn"),
                    "no external resources: the page works offline")
        }
    }

    @Test func healthReadinessAndMetrics() async throws {
        try await withAPIServer { server in
            let (_, key) = try await server.user()
            #expect(try await server.send(.GET, "/healthz").json == ["status": "ok"])
            #expect(try await server.send(.GET, "/readyz").json == ["status": "ready"])
            _ = try await server.send(.GET, "/api/projects", key: key)
            _ = try await server.send(.GET, "/api/projects/\(UUID())", key: key)
            let metrics = try await server.send(.GET, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.contentType.hasPrefix("text/plain"))
            let text = metrics.text
            #expect(text.contains(#"reelsmith_http_requests_total{method="GET",route="/api/projects",status="200"} 1"#), "\(text)")
            #expect(text.contains(#"route="/api/projects/:projectId",status="404""#))
            #expect(text.contains("reelsmith_http_request_duration_seconds_bucket"))
        }
    }
}
