import Foundation
import ReelCore
import ReelStore
import Vapor

/// `POST /api/assets/upload`: a client asks to upload straight to storage.
struct DirectUploadInput: Decodable, Sendable {
    var projectId: UUID
    var filename: String
    var contentType: String
    var size: Int64
}

extension APIRoutes {
    func registerAssets(_ api: any RoutesBuilder) {
        // Streamed: the handler reads the body chunk by chunk (no size cap from Vapor; ours applies while reading).
        api.on(.POST, "projects", ":projectId", "assets", body: .stream) { req in try await upload(req) }
        api.get("projects", ":projectId", "assets") { req in try await listAssets(req) }
        api.get("assets", ":assetId") { req in try APIJSON.response(AssetJSON(try await ownedAsset(req))) }
        api.delete("assets", ":assetId") { req in try await deleteAsset(req) }
        api.get("assets", ":assetId", "file") { req in try await assetFile(req) }
        api.post("assets", "upload") { req in try await directUpload(req) }
        api.post("assets", ":assetId", "complete") { req in try await completeUpload(req) }
    }

    func ownedAsset(_ req: Request) async throws -> AssetRecord {
        let id = try req.id("assetId", "the asset")
        guard let asset = try await store.asset(id: id, owner: try req.user.id) else { throw Problem.notFound("the asset") }
        return asset
    }

    var validator: UploadValidator { UploadValidator(probe: services.probe, limits: services.limits) }

    func scratchFile(_ suffix: String) -> String {
        (services.scratch as NSString).appendingPathComponent("upload-\(UUID().uuidString)\(suffix)")
    }

    func upload(_ req: Request) async throws -> Response {
        let user = try req.user
        let project = try await ownedProject(req)
        guard let type = req.headers.contentType, type.type == "multipart", type.subType == "form-data",
              let boundary = type.parameters["boundary"], !boundary.isEmpty, boundary.count <= 200 else {
            throw Problem(.unsupportedMediaType, "unsupported-media-type", "send the file as multipart/form-data in a part named 'file'")
        }
        let caps = MultipartCaps(services.limits)
        // Refused at the body's first bytes (when Vapor hands the request on); without Content-Length (chunked) the
        // same caps hold while reading.
        if let length = req.headers.first(name: .contentLength).flatMap(Int64.init), length > caps.bodyBytes {
            throw Problem(.payloadTooLarge, "too-large", "uploads are limited to \(caps.fileBytes) bytes")
        }
        let temp = scratchFile(".part")
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let receiver = try MultipartFileReceiver(path: temp, boundary: boundary, caps: caps)
        for try await chunk in req.body { try receiver.feed(chunk) }
        let sha256 = try receiver.finish()
        guard receiver.sawFile else { throw Problem.invalid("the multipart body has no part named 'file'") }
        let media = try await validator.validate(path: temp, size: receiver.fileBytes)

        let id = UUID()
        let key = "assets/\(project.id.uuidString.lowercased())/\(id.uuidString.lowercased()).\(media.fileExtension)"
        let record = AssetRecord(id: id, projectId: project.id, ownerId: user.id, kind: media.kind,
                                 filename: receiver.filename ?? "upload", storageKey: key, contentType: media.contentType,
                                 size: receiver.fileBytes, duration: media.duration, width: media.width, height: media.height,
                                 sha256: sha256, status: "ready", createdAt: Date())
        try await services.objects.put(key, fromFile: temp, contentType: media.contentType)
        let stored: AssetRecord
        do {
            stored = try await store.createAsset(record)
        } catch {
            // No row, no object: a failed upload leaves nothing behind.
            try? await services.objects.delete(key)
            throw error
        }
        runtime.metrics.count("uploads", help: "Accepted uploads, by kind", labels: [("kind", media.kind.rawValue)])
        return try APIJSON.response(AssetJSON(stored), status: .created, headers: ["Location": "/api/assets/\(stored.id.uuidString)"])
    }

    func listAssets(_ req: Request) async throws -> Response {
        let user = try req.user
        let project = try await ownedProject(req)
        let (limit, cursor) = try req.pageQuery()
        let page = try await store.assets(projectId: project.id, owner: user.id, limit: limit, cursor: cursor)
        return try APIJSON.response(PageJSON(items: page.items.map(AssetJSON.init), nextCursor: page.nextCursor))
    }

    func deleteAsset(_ req: Request) async throws -> Response {
        let id = try req.id("assetId", "the asset")
        guard let deleted = try await store.deleteAsset(id: id, owner: try req.user.id) else { throw Problem.notFound("the asset") }
        do { try await services.objects.delete(deleted.storageKey) } catch {
            req.logger.warning("could not delete object \(deleted.storageKey) of deleted asset \(id): \(error)")
        }
        return Response(status: .noContent)
    }

    func assetFile(_ req: Request) async throws -> Response {
        let asset = try await ownedAsset(req)
        guard asset.status == "ready" else { throw Problem.conflict("the asset's upload has not been completed") }
        return try await serveObject(asset.storageKey, contentType: asset.contentType, req: req)
    }

    /// Serves a stored object: from disk with range requests, or a 302 to a presigned GET on S3.
    func serveObject(_ key: String, contentType: String, req: Request) async throws -> Response {
        if let local = services.localObjects {
            guard let url = local.fileURL(for: key), FileManager.default.fileExists(atPath: url.path) else {
                throw Problem.notFound("the file")
            }
            let parts = contentType.split(separator: "/", maxSplits: 1).map(String.init)
            let mediaType = parts.count == 2 ? HTTPMediaType(type: parts[0], subType: parts[1]) : nil
            // An empty Range header is no range at all.
            if req.headers.first(name: .range)?.isEmpty == true { req.headers.remove(name: .range) }
            if let range = req.headers.first(name: .range) {
                // One range only, as the OpenAPI document says: `bytes=FIRST-[LAST]` or `bytes=-SUFFIX`.
                guard range.wholeMatch(of: /bytes=([0-9]{1,15}-[0-9]{0,15}|-[0-9]{1,15})/) != nil, req.headers.range != nil else {
                    throw Problem.badRequest("the Range header must be one range: bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX")
                }
            }
            let response: Response
            do {
                response = try await req.fileio.asyncStreamFile(at: url.path, mediaType: mediaType)
            } catch let abort as Abort where abort.status == .badRequest {
                throw Problem(.rangeNotSatisfiable, "bad-range", "the requested range is outside the file",
                              headers: ["Content-Range": "bytes */\(Self.fileSize(url.path))"])
            }
            // Stored media is validated, but a browser must still never sniff it into something executable.
            response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
            response.headers.replaceOrAdd(name: "Content-Security-Policy", value: "sandbox")
            response.headers.replaceOrAdd(name: .cacheControl, value: "private, max-age=300")
            return response
        }
        guard try await services.objects.head(key) != nil else { throw Problem.notFound("the file") }
        guard let url = try await services.objects.presignedGet(key, expires: services.limits.presignExpiry) else {
            throw Problem.notFound("the file")
        }
        return Response(status: .found, headers: ["Location": url.absoluteString, "Cache-Control": "no-store"])
    }

    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    func directUpload(_ req: Request) async throws -> Response {
        let user = try req.user
        let input = try APIJSON.decode(DirectUploadInput.self, from: req)
        guard let project = try await store.project(id: input.projectId, owner: user.id) else { throw Problem.notFound("the project") }
        guard services.directUploads else {
            throw Problem.conflict("this server stores files on its own disk: upload with POST /api/projects/{id}/assets")
        }
        guard !input.filename.isEmpty, TextLimits.length(input.filename) <= 255, !input.filename.unicodeScalars.contains("\u{0}") else {
            throw Problem.invalid("'filename' must be 1 to 255 characters without NUL")
        }
        let type = input.contentType.lowercased()
        let kind: AssetKind
        if type.hasPrefix("audio/") { kind = .audio } else if type.hasPrefix("image/") { kind = .image }
        else if type.hasPrefix("video/") { kind = .video }
        else { throw Problem.invalid("'contentType' must be an audio/*, image/* or video/* type") }
        guard type.count <= 100, type.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw Problem.invalid("'contentType' is not a valid media type")
        }
        guard input.size >= 1 else { throw Problem.invalid("'size' must be at least 1 byte") }
        let max = services.limits.maxBytes(kind)
        guard input.size <= max else { throw Problem(.payloadTooLarge, "too-large", "\(kind.rawValue) uploads are limited to \(max) bytes") }

        let id = UUID()
        // The client uploads to a staging key; `complete` copies what it validated to the asset's own key. The presigned
        // URL stays valid until it expires, so a second upload after validation must never reach what workers read.
        let key = StagingKeys.key(project: project.id, asset: id, kind: kind)
        let expiry = services.limits.presignExpiry
        // The length is signed too: the URL stores exactly the declared number of bytes or nothing.
        guard let url = try await services.objects.presignedPut(key, contentType: type, contentLength: input.size, expires: expiry) else {
            throw Problem.conflict("this server's storage cannot take direct uploads: upload with POST /api/projects/{id}/assets")
        }
        let record = AssetRecord(id: id, projectId: project.id, ownerId: user.id, kind: kind,
                                 filename: MultipartFileReceiver.displayName(input.filename), storageKey: key, contentType: type,
                                 size: input.size, duration: nil, width: nil, height: nil, sha256: nil, status: "pending",
                                 createdAt: Date())
        let stored = try await store.createAsset(record)
        let expiresAt = Date().addingTimeInterval(Double(expiry.components.seconds))
        return try APIJSON.response(DirectUploadJSON(assetId: stored.id, uploadUrl: url.absoluteString, method: "PUT",
                                                     headers: ["Content-Type": type, "Content-Length": String(input.size)],
                                                     expiresAt: expiresAt),
                                    status: .created)
    }

    /// Validates a direct upload and stores what it validated. The staging object is downloaded once; that file is
    /// checked (its length against the declared one, then its content) and those same bytes are put under the
    /// asset's own key. A second PUT to the still-valid URL only ever reaches the staging key, which nothing reads.
    func completeUpload(_ req: Request) async throws -> Response {
        let user = try req.user
        let asset = try await ownedAsset(req)
        if asset.status == "ready" { return try APIJSON.response(AssetJSON(asset)) }
        guard let info = try await services.objects.head(asset.storageKey) else {
            throw Problem.conflict("nothing has been uploaded to this asset's URL yet")
        }
        /// Rejecting removes the object and the row: nothing is left behind.
        func reject(_ problem: Problem) async throws -> Never {
            try? await services.objects.delete(asset.storageKey)
            _ = try? await store.deletePendingAsset(id: asset.id, owner: user.id)
            throw problem
        }
        func wrongLength(_ size: Int64) -> Problem {
            Problem.invalid("the upload is \(size) bytes but \(asset.size) were declared")
        }
        // S3 itself refuses a PUT of another length (it is signed); a store that does not is caught before the download.
        if info.size != asset.size { try await reject(wrongLength(info.size)) }
        let temp = scratchFile(".download")
        defer { try? FileManager.default.removeItem(atPath: temp) }
        do {
            try await services.objects.get(asset.storageKey, toFile: temp)
        } catch let error as ReelError where error.code == .fileNotFound {
            throw Problem.conflict("nothing has been uploaded to this asset's URL yet")
        }
        // What was downloaded, not what a HEAD said a moment before: the object may have been replaced in between.
        let size = Self.fileSize(temp)
        if size != asset.size { try await reject(wrongLength(size)) }
        let media: ValidatedMedia
        do {
            media = try await validator.validate(path: temp, size: size)
        } catch let problem as Problem {
            try await reject(problem)
        }
        guard media.kind == asset.kind else {
            try await reject(Problem.invalid("the upload was declared as \(asset.kind.rawValue) but is \(media.kind.rawValue)"))
        }
        let sha256 = try ContentHash.sha256(fileAt: temp)
        // A key of this attempt's own: two completions racing (each with what it downloaded) never write one object.
        let attempt = UUID().uuidString.prefix(8).lowercased()
        let validatedKey = "assets/\(asset.projectId.uuidString.lowercased())/\(asset.id.uuidString.lowercased())-\(attempt).\(media.fileExtension)"
        try await services.objects.put(validatedKey, fromFile: temp, contentType: media.contentType)
        var ready = asset
        ready.storageKey = validatedKey
        ready.contentType = media.contentType
        ready.size = size
        ready.duration = media.duration
        ready.width = media.width
        ready.height = media.height
        ready.sha256 = sha256
        ready.status = "ready"
        guard try await store.completePendingAsset(ready) else {
            // Completed by a concurrent request (whose record and object stand), or swept as stale meanwhile.
            try? await services.objects.delete(validatedKey)
            if let current = try await store.asset(id: asset.id, owner: user.id), current.status == "ready" {
                return try APIJSON.response(AssetJSON(current))
            }
            throw Problem.notFound("the asset")
        }
        try? await services.objects.delete(asset.storageKey)
        return try APIJSON.response(AssetJSON(ready))
    }
}

struct DirectUploadJSON: Encodable, Sendable {
    var assetId: UUID
    var uploadUrl: String
    var method: String
    var headers: [String: String]
    var expiresAt: Date
}
