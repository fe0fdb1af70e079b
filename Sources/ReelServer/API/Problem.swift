import Foundation
import ReelCore
import Synchronization
import Vapor

/// An RFC 9457 problem: the only shape of an error answer (CONTRACTS.md), with the headers it needs.
struct Problem: Error, Sendable {
    var status: HTTPResponseStatus
    /// A short stable slug; the `type` is `urn:reelsmith:problem:<slug>`.
    var slug: String
    var title: String
    var detail: String
    var headers: HTTPHeaders = [:]

    init(_ status: HTTPResponseStatus, _ slug: String, _ detail: String, title: String? = nil, headers: HTTPHeaders = [:]) {
        self.status = status; self.slug = slug; self.detail = detail
        self.title = title ?? status.reasonPhrase
        self.headers = headers
    }

    static func notFound(_ what: String) -> Problem { Problem(.notFound, "not-found", "\(what) was not found") }
    static func badRequest(_ detail: String) -> Problem { Problem(.badRequest, "bad-request", detail) }
    static func invalid(_ detail: String) -> Problem { Problem(.unprocessableEntity, "validation-failed", detail) }
    static func conflict(_ detail: String) -> Problem { Problem(.conflict, "conflict", detail) }
    static let unauthorized = Problem(.unauthorized, "unauthorized",
                                      "send a valid API key as 'Authorization: Bearer KEY' or sign in with POST /api/session",
                                      headers: ["WWW-Authenticate": "Bearer realm=\"reelsmith\""])

    struct Body: Codable, Sendable { var type: String; var title: String; var status: Int; var detail: String }

    func response() -> Response {
        var headers = self.headers
        headers.replaceOrAdd(name: .contentType, value: "application/problem+json")
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        let body = Body(type: "urn:reelsmith:problem:\(slug)", title: title, status: Int(status.code), detail: detail)
        let data = (try? APIJSON.encoder.encode(body)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(data: data))
    }

    /// The problem for any error: user faults are 4xx, only real server faults 5xx, and no internals leak.
    static func from(_ error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as ReelError:
            return from(error, logger: logger)
        case let error as DecodingError:
            return .badRequest("the request body is not the JSON this endpoint takes: \(describe(error))")
        case let abort as any AbortError:
            let status = abort.status
            if status.code >= 500 { logger.error("server error: \(String(reflecting: error))") }
            switch status {
            case .notFound: return Problem(.notFound, "not-found", "no such resource")
            case .payloadTooLarge: return Problem(.payloadTooLarge, "too-large", "the request body is too large")
            case .unsupportedMediaType: return Problem(.unsupportedMediaType, "unsupported-media-type", "this endpoint does not take that content type")
            default:
                // Vapor's own reasons are safe, short texts ("Invalid range", "Missing parameter"); ours are too.
                let detail = status.code >= 500 ? "the server could not answer; try again later" : abort.reason
                return Problem(status, status.code >= 500 ? "server-error" : "bad-request", detail)
            }
        default:
            logger.error("unexpected error: \(String(reflecting: error))")
            return Problem(.internalServerError, "server-error", "the server could not answer; try again later")
        }
    }

    private static func from(_ error: ReelError, logger: Logger) -> Problem {
        let slug = error.code.rawValue
        switch error.code {
        case .badInput, .badPlan, .unknownModel, .unknownRole, .badRegistry:
            return Problem(error.code == .badInput ? .badRequest : .unprocessableEntity, slug, error.message)
        case .fileNotFound:
            return Problem(.notFound, slug, error.message)
        case .notAudio, .notMedia:
            return Problem(.unsupportedMediaType, slug, error.message)
        case .silentAudio, .audioTooLong, .audioTooShort:
            return Problem(.unprocessableEntity, slug, error.message)
        case .outputNotWritable:
            // The CLI's user picked the output path; on the server it is our disk that failed.
            logger.error("server fault [\(error.code)]: \(error.message)")
            return Problem(.internalServerError, slug, "the server could not write the file; try again later")
        case .budgetExceeded:
            return Problem(.paymentRequired, slug, error.message)
        case .cancelled:
            return Problem(.conflict, slug, error.message)
        case .providerUnavailable, .storageUnavailable:
            logger.warning("\(error.code): \(error.message)")
            return Problem(.serviceUnavailable, slug, "a service the server depends on could not be reached; try again later",
                           headers: ["Retry-After": "5"])
        default:
            if error.isUserInput { return Problem(.unprocessableEntity, slug, error.message) }
            logger.error("server fault [\(error.code)]: \(error.message) cause: \(error.cause.map { String(reflecting: $0) } ?? "-")")
            // The message of a server fault may name paths or hosts: the client gets the code only.
            return Problem(.internalServerError, slug, "the server failed (\(error.code.rawValue)); try again later")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at '\(p)'"
        }
        switch error {
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "malformed JSON" : "invalid value\(path(c))"
        case .keyNotFound(let key, let c): return "missing field '\(key.stringValue)'\(path(c))"
        case .typeMismatch(_, let c): return "wrong type\(path(c))"
        case .valueNotFound(_, let c): return "missing value\(path(c))"
        @unknown default: return "malformed JSON"
        }
    }
}

/// Turns every error into `application/problem+json`: replaces Vapor's own error middleware.
struct ProblemMiddleware: AsyncMiddleware {
    let routes: RouteIndex

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            var problem = Problem.from(error, logger: request.logger)
            // Vapor answers 404 for a known path with another method (or routes `GET /api/assets/upload` to
            // `GET /api/assets/{assetId}`): the right answer is 405 with `Allow`.
            if problem.status == .notFound {
                let allowed = routes.methods(forPath: request.url.path)
                if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                    problem = Problem(.methodNotAllowed, "method-not-allowed",
                                      "\(request.method.rawValue) is not allowed here; allowed: \(allowed.joined(separator: ", "))",
                                      headers: ["Allow": allowed.joined(separator: ", ")])
                }
            }
            // A 413 is answered before the body was read: the connection is closed so the rest is neither read nor held.
            return problem.status == .payloadTooLarge ? problem.closingResponse() : problem.response()
        }
    }
}

/// The registered route patterns, to tell "no such path" (404) from "not with this method" (405).
final class RouteIndex: Sendable {
    /// Each pattern's components (nil for a parameter) and its method.
    private let patterns = Mutex<[(components: [String?], method: String)]>([])

    func load(_ routes: [Route]) {
        let list = routes.map { route in
            (route.path.map { component -> String? in
                if case .constant(let text) = component { return text }
                return nil
            }, route.method.rawValue)
        }
        patterns.withLock { $0 = list }
    }

    func methods(forPath path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let all = patterns.withLock { $0 }
        let matching = all.filter { p in
            p.components.count == parts.count && zip(p.components, parts).allSatisfy { $0.0 == nil || $0.0 == $0.1 }
        }
        // `/api/assets/upload` also fits `/api/assets/{assetId}`: the pattern with the most literal parts names the resource.
        let best = matching.map { $0.components.compactMap { $0 }.count }.max() ?? 0
        return Set(matching.filter { $0.components.compactMap { $0 }.count == best }.map(\.method)).sorted()
    }
}
