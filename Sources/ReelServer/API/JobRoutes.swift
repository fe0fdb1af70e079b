import Foundation
import ReelCore
import ReelStore
import Vapor

extension APIRoutes {
    func registerJobs(_ api: any RoutesBuilder) {
        // The polled reads: written without JSONEncoder (same bytes), see `APIJSON.jobResponse`.
        api.get("jobs", ":jobId") { req in try APIJSON.jobResponse(try await ownedJob(req)) }
        api.get("jobs", ":jobId", "status") { req in try APIJSON.jobResponse(try await ownedJob(req)) }
        api.get("projects", ":projectId", "jobs") { req in try await listJobs(req) }
        api.get("jobs", ":jobId", "result") { req in try await result(req) }
        api.post("jobs", ":jobId", "cancel") { req in try await cancel(req) }
        api.post("jobs", ":jobId", "retry") { req in try await retry(req) }
        api.get("jobs", ":jobId", "video") { req in try await jobFile(req, \.video) }
        api.get("jobs", ":jobId", "manifest") { req in try await jobFile(req, \.manifest) }
        api.get("jobs", ":jobId", "thumbnail") { req in try await jobFile(req, \.thumbnail) }
    }

    func ownedJob(_ req: Request) async throws -> JobRecord {
        let id = try req.id("jobId", "the job")
        guard let job = try await store.job(id: id, owner: try req.user.id) else { throw Problem.notFound("the job") }
        return job
    }

    func listJobs(_ req: Request) async throws -> Response {
        let project = try await ownedProject(req)
        let (limit, cursor) = try req.pageQuery()
        let page = try await store.jobs(projectId: project.id, limit: limit, cursor: cursor)
        return try APIJSON.response(PageJSON(items: page.items.map(JobJSON.init), nextCursor: page.nextCursor))
    }

    func result(_ req: Request) async throws -> Response {
        let job = try await ownedJob(req)
        guard job.status == .succeeded, job.result != nil else {
            throw Problem(.conflict, "not-finished", "the job is \(job.status.rawValue): its result exists once it has succeeded")
        }
        let base = "/api/jobs/\(job.id.uuidString)"
        return try APIJSON.response(ResultJSON(videoUrl: link(base + "/video"), manifestUrl: link(base + "/manifest"),
                                               thumbnailUrl: link(base + "/thumbnail")))
    }

    func jobFile(_ req: Request, _ path: KeyPath<JobOutputs, String>) async throws -> Response {
        let job = try await ownedJob(req)
        guard job.status == .succeeded, let outputs = job.result else {
            throw Problem(.conflict, "not-finished", "the job is \(job.status.rawValue): its files exist once it has succeeded")
        }
        let key = outputs[keyPath: path]
        return try await serveObject(key, contentType: Self.contentType(forKey: key), req: req)
    }

    static func contentType(forKey key: String) -> String {
        switch (key as NSString).pathExtension.lowercased() {
        case "mp4": "video/mp4"
        case "webm": "video/webm"
        case "json": "application/json"
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "webp": "image/webp"
        default: "application/octet-stream"
        }
    }

    func cancel(_ req: Request) async throws -> Response {
        let user = try req.user
        let job = try await ownedJob(req)
        guard !job.status.isFinal else {
            throw Problem(.conflict, "already-finished", "the job has already \(job.status.rawValue == "canceled" ? "been canceled" : job.status.rawValue)")
        }
        guard let updated = try await store.cancelJob(id: job.id, owner: user.id) else { throw Problem.notFound("the job") }
        return try APIJSON.response(JobJSON(updated), status: .accepted)
    }

    func retry(_ req: Request) async throws -> Response {
        let user = try req.user
        let old = try await ownedJob(req)
        guard old.status == .failed || old.status == .canceled else {
            throw Problem(.conflict, "not-retryable", "only a failed or canceled job can be retried; this one is \(old.status.rawValue)")
        }
        guard let project = try await store.project(id: old.projectId, owner: user.id) else { throw Problem.notFound("the job's project") }
        let job = JobRecord(projectId: old.projectId, userId: user.id, kind: old.kind, etaSeconds: try await estimate(project),
                            retryOf: old.id, parameters: old.parameters)
        return try await start(job, user: user, req: req)
    }
}

struct ResultJSON: Encodable, Sendable {
    var videoUrl: String
    var manifestUrl: String
    var thumbnailUrl: String
}
