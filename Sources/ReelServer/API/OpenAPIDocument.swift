import Foundation
import ReelCore

/// The OpenAPI 3.1 document of the API (served at `/openapi.json`): the contract the route tests check against
/// (every registered route is in it, every path in it is registered). Built from Swift values so shared pieces
/// (problem answers, parameters) are written once; the numbers match the validation in the handlers.
enum OpenAPIDocument {
    static let json: String = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(document)) ?? Data("{}".utf8), as: UTF8.self)
    }()

    static var document: JSONValue {
        [
            "openapi": "3.1.0",
            "info": [
                "title": "Reelsmith API",
                "version": "1.0.0",
                "description": .string(description),
            ],
            "servers": [["url": "/"]],
            "security": [["bearerAuth": []], ["sessionCookie": []]],
            "tags": .array(tags.map { ["name": .string($0.0), "description": .string($0.1)] }),
            "paths": .object(paths),
            "components": [
                "securitySchemes": [
                    "bearerAuth": ["type": "http", "scheme": "bearer",
                                   "description": "An API key (`rs_…`), from `reelsmith users add NAME` or `POST /api/keys`."],
                    "sessionCookie": ["type": "apiKey", "in": "cookie", "name": "reelsmith_session",
                                      "description": "The HttpOnly cookie `POST /api/session` sets (web UI)."],
                ],
                "schemas": .object(schemas),
                "parameters": .object(parameters),
                "headers": [
                    "RetryAfter": ["description": "Seconds to wait before trying again.",
                                   "schema": ["type": "integer", "minimum": 0]],
                ],
            ],
        ]
    }

    static let description = """
        Make music videos as a service: create a project from a brief, upload a song and images, start a generation, \
        follow it live (Server-Sent Events or WebSocket), regenerate single scenes, download the result.

        Conventions: JSON keys are camelCase, dates ISO 8601, ids UUIDs. Every error is `application/problem+json` \
        (`type`, `title`, `status`, `detail`). Lists take `?limit=` (1–100) and `?cursor=` and answer \
        `{"items": [...], "nextCursor": ...}`. Requests that start paid work accept an `Idempotency-Key` header: \
        the same key within 24 hours answers the same job. Each user (all of its keys and sessions together) may make a \
        limited number of requests per minute, run a limited number of jobs and keep a limited number of live event \
        streams open at once (429 with `Retry-After`); sign-ins and failed authentications are limited per client \
        address (429); a user's spending budget answers 402 when used up.
        """

    static let tags: [(String, String)] = [
        ("projects", "Projects and their briefs"), ("scenes", "The scenes of a project's plan"),
        ("assets", "Songs, images and videos a project uses"), ("jobs", "Generations: the durable job queue"),
        ("events", "Live progress"), ("accounts", "Sessions and API keys"), ("operations", "Health, metrics, this document"),
    ]

    // MARK: - Building blocks

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func param(_ name: String) -> JSONValue { ["$ref": .string("#/components/parameters/\(name)")] }
    static func nullable(_ schema: JSONValue) -> JSONValue { ["oneOf": [schema, ["type": "null"]]] }
    static func nullable(_ type: String, format: String? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": [.string(type), "null"]]
        if let format { o["format"] = .string(format) }
        return .object(o)
    }
    static let uuid: JSONValue = ["type": "string", "format": "uuid"]
    static let dateTime: JSONValue = ["type": "string", "format": "date-time"]

    /// No NUL anywhere; at least one character that is not whitespace (Python's `\s`, which the fuzzer uses).
    static let nonBlankPattern = "^[^\\x00]*[^\\x00\\x09-\\x0d\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    static let noNulPattern = "^[^\\x00]*$"

    static func object(_ properties: [String: JSONValue], required: [String] = [], closed: Bool = false,
                       description: String? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
        if closed { o["additionalProperties"] = false }
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func page(_ item: String) -> JSONValue {
        object(["items": ["type": "array", "items": ref(item)], "nextCursor": nullable("string")],
               required: ["items", "nextCursor"])
    }

    static func json(_ schema: JSONValue, _ description: String, headers: [String: JSONValue] = [:]) -> JSONValue {
        var o: [String: JSONValue] = ["description": .string(description), "content": ["application/json": ["schema": schema]]]
        if !headers.isEmpty { o["headers"] = .object(headers) }
        return .object(o)
    }

    static func problem(_ description: String, retryAfter: Bool = false) -> JSONValue {
        var o: [String: JSONValue] = ["description": .string(description),
                                      "content": ["application/problem+json": ["schema": ref("Problem")]]]
        if retryAfter { o["headers"] = ["Retry-After": ["$ref": "#/components/headers/RetryAfter"]] }
        return .object(o)
    }

    static func body(_ schema: JSONValue, required: Bool = true) -> JSONValue {
        ["required": .bool(required), "content": ["application/json": ["schema": schema]]]
    }

    /// One operation. Every authenticated one may answer 401 and 429 (rate limit); every one may answer 400.
    static func op(_ id: String, _ tag: String, _ summary: String, parameters: [JSONValue] = [], body: JSONValue? = nil,
                   responses: [String: JSONValue], auth: Bool = true, description: String? = nil) -> JSONValue {
        var r = responses
        r["400"] = r["400"] ?? problem("The request is malformed (bad JSON, bad query, bad header).")
        if auth {
            r["401"] = problem("No valid API key or session: missing, wrong or revoked.")
            r["429"] = r["429"] ?? problem("Too many requests a minute for this user, or too many failed authentications from this address.", retryAfter: true)
        }
        if body != nil { r["413"] = r["413"] ?? problem("The request body is too large.") }
        var o: [String: JSONValue] = ["operationId": .string(id), "tags": [.string(tag)], "summary": .string(summary),
                                      "responses": .object(r)]
        if !parameters.isEmpty { o["parameters"] = .array(parameters) }
        if let body { o["requestBody"] = body }
        if !auth { o["security"] = [] }
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static let notFound = problem("No such resource, or it belongs to another user.")
    static let invalid = problem("The request is well-formed but its values are not acceptable.")
    static let conflict = problem("The resource is not in a state that allows this.")
    /// One event of the `text/event-stream` (each event is checked against this, as OpenAPI 3.2's `itemSchema` does).
    static var serverSentEvent: JSONValue {
        object(["id": ["type": "string", "pattern": "^[0-9]+$", "description": "The Event's id: resume after it."],
                "event": ["type": "string", "enum": .array(JobEventType.allCases.map { .string($0.rawValue) })],
                "data": ["type": "string", "contentMediaType": "application/json", "contentSchema": ref("Event"),
                         "description": "The Event as JSON."],
                "retry": ["type": "integer", "minimum": 0]],
               required: ["id", "event", "data"], description: "One Server-Sent Event.")
    }
    static let tooManyStreams = problem("Too many requests a minute, or too many live event streams open for this user.",
                                        retryAfter: true)
    static let staleSession = problem("A browser session signed in too long ago (5 minutes by default): sign in again or send the key itself.")

    // MARK: - Paths

    static var paths: [String: JSONValue] {
        let project = param("projectId"), job = param("jobId"), asset = param("assetId"), scene = param("sceneId"), key = param("keyId")
        let paging = [param("limit"), param("cursor")]
        let jobAccepted = json(ref("Job"), "The job (queued; or the same job again for a repeated Idempotency-Key).",
                               headers: ["Location": ["description": "The job's URL.", "schema": ["type": "string"]]])
        let paidWork: [String: JSONValue] = [
            "202": jobAccepted, "404": notFound, "422": invalid,
            "402": problem("The user's spending budget is used up."),
            "429": problem("Too many requests a minute, or too many jobs queued or running at once.", retryAfter: true),
        ]
        let media: [String: JSONValue] = [
            "200": ["description": "The whole file.", "content": ["*/*": ["schema": ["type": "string", "format": "binary"]]]],
            "206": ["description": "The requested byte range (`Range: bytes=…`).",
                    "content": ["*/*": ["schema": ["type": "string", "format": "binary"]]]],
            "302": ["description": "Redirect to a presigned URL on S3-compatible storage.",
                    "headers": ["Location": ["schema": ["type": "string"]]]],
            "304": ["description": "Not modified (`If-None-Match`)."],
            "404": notFound,
            "416": problem("The range is outside the file."),
        ]
        var mediaOfJob = media
        mediaOfJob["409"] = problem("The job has not succeeded (yet).")
        var mediaOfAsset = media
        mediaOfAsset["409"] = problem("The asset's direct upload has not been completed.")

        return [
            "/api/session": [
                "post": op("createSession", "accounts", "Exchange an API key for an HttpOnly session cookie",
                           body: body(object(["key": ["type": "string", "minLength": 1, "maxLength": 256]], required: ["key"])),
                           responses: ["201": json(ref("Session"), "Signed in; `Set-Cookie: reelsmith_session=…; HttpOnly`."),
                                       "401": problem("The key is wrong or revoked."),
                                       "429": problem("Too many sign-ins or failed authentications from this address.",
                                                      retryAfter: true)],
                           auth: false,
                           description: "The session belongs to the key: revoking or rotating the key ends it. A session may create or rotate keys only within 5 minutes (by default) of its sign-in."),
                "delete": op("deleteSession", "accounts", "Sign out: end the cookie's session and clear the cookie",
                             responses: ["204": ["description": "Signed out (also when there was no session)."]], auth: false),
            ],
            "/api/projects": [
                "post": op("createProject", "projects", "Create a project from a brief",
                           body: body(ref("ProjectCreate")),
                           responses: ["201": json(ref("Project"), "The new project."), "422": invalid]),
                "get": op("listProjects", "projects", "List your projects, newest first", parameters: paging,
                          responses: ["200": json(ref("ProjectPage"), "A page of projects.")]),
            ],
            "/api/projects/{projectId}": [
                "get": op("getProject", "projects", "Get a project", parameters: [project],
                          responses: ["200": json(ref("Project"), "The project."), "404": notFound]),
                "patch": op("updateProject", "projects", "Change a project's brief (fields left out keep their values)",
                            parameters: [project], body: body(ref("ProjectUpdate")),
                            responses: ["200": json(ref("Project"), "The changed project."), "404": notFound, "422": invalid]),
                "delete": op("deleteProject", "projects", "Delete a project with its scenes, assets, jobs and stored files",
                             parameters: [project],
                             responses: ["204": ["description": "Deleted."], "404": notFound,
                                         "409": problem("A running job of the project is still stopping after being canceled.", retryAfter: true)]),
            ],
            "/api/projects/{projectId}/scenes": [
                "get": op("listScenes", "scenes", "The scenes of the project's plan, in order", parameters: [project],
                          responses: ["200": json(ref("ScenePage"), "Every scene (one page)."), "404": notFound]),
            ],
            "/api/projects/{projectId}/scenes/{sceneId}": [
                "patch": op("updateScene", "scenes", "Change a scene's prompt or duration, or lock it",
                            parameters: [project, scene], body: body(ref("SceneUpdate")),
                            responses: ["200": json(ref("Scene"), "The changed scene."), "404": notFound, "422": invalid]),
            ],
            "/api/projects/{projectId}/scenes/{sceneId}/regenerate": [
                "post": op("regenerateScene", "scenes", "Make one scene again and compose the video with the others as they were",
                           parameters: [project, scene, param("idempotencyKey")], body: body(ref("GenerateRequest"), required: false),
                           responses: paidWork),
            ],
            "/api/projects/{projectId}/generate": [
                "post": op("generate", "jobs", "Start making the project's video (its settings, its song and media)",
                           parameters: [project, param("idempotencyKey")], body: body(ref("GenerateRequest"), required: false),
                           responses: paidWork),
            ],
            "/api/projects/{projectId}/jobs": [
                "get": op("listProjectJobs", "jobs", "The project's jobs, newest first", parameters: [project] + paging,
                          responses: ["200": json(ref("JobPage"), "A page of jobs."), "404": notFound]),
            ],
            "/api/projects/{projectId}/costs": [
                "get": op("getCosts", "projects", "What the project's generations cost, by scene, model and kind",
                          parameters: [project], responses: ["200": json(ref("Costs"), "The costs."), "404": notFound]),
            ],
            "/api/projects/{projectId}/storyboard.png": [
                "get": op("getStoryboard", "projects",
                          "The project's plan drawn as a storyboard: one frame per scene with its time, prompt, reason and transition (nothing is generated or paid for)",
                          parameters: [project],
                          responses: ["200": ["description": "The storyboard.", "content": ["image/png": ["schema": ["type": "string", "format": "binary"]]]],
                                      "404": notFound]),
            ],
            "/api/projects/{projectId}/assets": [
                "post": op("uploadAsset", "assets", "Upload a song, image or video (streamed; validated by content)",
                           parameters: [project],
                           body: ["required": true, "content": ["multipart/form-data": [
                               "schema": object(["file": ["type": "string", "format": "binary",
                                                          "description": "The file. Its kind is judged by its content, not its name."]],
                                                required: ["file"]),
                               "encoding": ["file": ["contentType": "application/octet-stream"]],
                           ]]],
                           responses: ["201": json(ref("Asset"), "The stored asset."), "404": notFound,
                                       "413": problem("The file, the body, a part's headers or the number of parts is over its limit (checked while streaming, with or without Content-Length)."),
                                       "415": problem("Not multipart, or the file is not an accepted audio, image or video file."),
                                       "422": problem("The file is outside the limits (duration, resolution), empty, or missing.")]),
                "get": op("listAssets", "assets", "The project's assets, newest first", parameters: [project] + paging,
                          responses: ["200": json(ref("AssetPage"), "A page of assets."), "404": notFound]),
            ],
            "/api/assets/upload": [
                "post": op("createDirectUpload", "assets", "Ask for a presigned URL to upload straight to S3-compatible storage",
                           body: body(ref("DirectUploadRequest")),
                           responses: ["201": json(ref("DirectUpload"), "PUT exactly `size` bytes to `uploadUrl` with `headers` (type and length are signed), then complete it."),
                                       "404": notFound, "409": problem("This server stores files on its disk: use the multipart upload."),
                                       "413": problem("The declared size is larger than the limit for its kind."), "422": invalid]),
            ],
            "/api/assets/{assetId}": [
                "get": op("getAsset", "assets", "Get an asset", parameters: [asset],
                          responses: ["200": json(ref("Asset"), "The asset."), "404": notFound]),
                "delete": op("deleteAsset", "assets", "Delete an asset and its stored file", parameters: [asset],
                             responses: ["204": ["description": "Deleted."], "404": notFound]),
            ],
            "/api/assets/{assetId}/complete": [
                "post": op("completeDirectUpload", "assets", "Validate a direct upload; the asset becomes ready or is deleted",
                           parameters: [asset],
                           responses: ["200": json(ref("Asset"), "The ready asset."), "404": notFound,
                                       "409": problem("Nothing has been uploaded yet."),
                                       "413": problem("The file is larger than the limit for its kind (the upload is deleted)."),
                                       "415": problem("The file is not an accepted media file (the upload is deleted)."),
                                       "422": problem("The file is not the declared length, outside the limits, or not of the declared kind (the upload is deleted).")]),
            ],
            "/api/assets/{assetId}/file": [
                "get": op("getAssetFile", "assets", "Download an asset's file (range requests, or a redirect on S3)",
                          parameters: [asset, param("range")], responses: mediaOfAsset),
            ],
            "/api/jobs/{jobId}": [
                "get": op("getJob", "jobs", "Get a job", parameters: [job],
                          responses: ["200": json(ref("Job"), "The job."), "404": notFound]),
            ],
            "/api/jobs/{jobId}/status": [
                "get": op("getJobStatus", "jobs", "Get a job (same as GET /api/jobs/{jobId})", parameters: [job],
                          responses: ["200": json(ref("Job"), "The job."), "404": notFound]),
            ],
            "/api/jobs/{jobId}/result": [
                "get": op("getJobResult", "jobs", "Links to the finished video, its manifest and a thumbnail", parameters: [job],
                          responses: ["200": json(ref("JobResult"), "The links (they serve range requests)."), "404": notFound,
                                      "409": problem("The job has not succeeded (yet).")]),
            ],
            "/api/jobs/{jobId}/video": [
                "get": op("getJobVideo", "jobs", "The finished video (MP4)", parameters: [job, param("range")], responses: mediaOfJob),
            ],
            "/api/jobs/{jobId}/manifest": [
                "get": op("getJobManifest", "jobs", "The finished video's manifest (JSON)", parameters: [job, param("range")],
                          responses: mediaOfJob),
            ],
            "/api/jobs/{jobId}/thumbnail": [
                "get": op("getJobThumbnail", "jobs", "A still of the finished video", parameters: [job, param("range")],
                          responses: mediaOfJob),
            ],
            "/api/jobs/{jobId}/cancel": [
                "post": op("cancelJob", "jobs", "Cancel a job (queued: at once; running: at its next check)", parameters: [job],
                           responses: ["202": json(ref("Job"), "The job, canceled or about to be."), "404": notFound,
                                       "409": problem("The job has already finished.")]),
            ],
            "/api/jobs/{jobId}/retry": [
                "post": op("retryJob", "jobs", "Run a failed or canceled job again as a new job (its `retryOf` is this one)",
                           parameters: [job, param("idempotencyKey")],
                           responses: paidWork.merging(["409": problem("Only a failed or canceled job can be retried.")]) { $1 }),
            ],
            "/api/projects/{projectId}/events": [
                "get": op("projectEvents", "events", "Live progress of the project's jobs as Server-Sent Events",
                          parameters: [project, param("lastEventId"), param("after")],
                          responses: ["200": ["description": "A `text/event-stream`: `id:`, `event:` (the event type) and `data:` (an Event as JSON) per event, and `:` heartbeat comments. The server ends it after its maximum lifetime (1 h by default) or when its key or session is revoked or ended; resume with `Last-Event-ID`.",
                                              "content": ["text/event-stream": ["schema": serverSentEvent]]],
                                      "404": notFound, "429": tooManyStreams],
                          description: "Resume after the last event seen with `Last-Event-ID` (browsers send it on reconnect) or `?after=`."),
            ],
            "/ws/projects/{projectId}": [
                "get": op("projectEventsWebSocket", "events", "Live progress of the project's jobs over a WebSocket",
                          parameters: [project, param("after")],
                          responses: ["101": ["description": "Switching to the WebSocket protocol; each text message is an Event as JSON."],
                                      "404": notFound, "429": tooManyStreams,
                                      "426": problem("Not a WebSocket handshake.")],
                          description: "Accepts the `Authorization` header or the session cookie. Resume with `?after=EVENT_ID`."),
            ],
            "/api/keys": [
                "get": op("listKeys", "accounts", "Your API keys (the secrets are never shown again)",
                          responses: ["200": json(ref("KeyPage"), "Every key, revoked ones included.")]),
                "post": op("createKey", "accounts", "Make a new API key (its secret is shown once, in this answer)",
                           responses: ["201": json(ref("KeyWithSecret"), "The new key."), "403": staleSession]),
            ],
            "/api/keys/{keyId}/rotate": [
                "post": op("rotateKey", "accounts", "Revoke a key and make a new one in its place", parameters: [key],
                           responses: ["201": json(ref("KeyWithSecret"), "The new key."), "404": notFound, "403": staleSession],
                           description: "The old key's sessions and live streams end with it."),
            ],
            "/api/keys/{keyId}": [
                "delete": op("revokeKey", "accounts", "Revoke a key", parameters: [key],
                             responses: ["204": ["description": "Revoked."], "404": notFound],
                             description: "The key's sessions and live streams end with it."),
            ],
            "/api/sessions": [
                "get": op("listSessions", "accounts", "Your live browser sessions, newest first (never their tokens)",
                          parameters: paging, responses: ["200": json(ref("ActiveSessionPage"), "A page of sessions.")]),
            ],
            "/api/sessions/{sessionId}": [
                "delete": op("endSession", "accounts", "End one of your sessions (and its live streams)",
                             parameters: [param("sessionId")],
                             responses: ["204": ["description": "Ended."], "404": notFound]),
            ],
            "/healthz": [
                "get": op("health", "operations", "The process is up",
                          responses: ["200": json(ref("Status"), "Up.")], auth: false),
            ],
            "/readyz": [
                "get": op("ready", "operations", "The process can serve: its database answers",
                          responses: ["200": json(ref("Status"), "Ready."), "503": problem("The database does not answer.")],
                          auth: false),
            ],
            "/metrics": [
                "get": op("metrics", "operations", "Prometheus metrics (text exposition format)",
                          responses: ["200": ["description": "Request counts and latency by route and status, jobs by status.",
                                              "content": ["text/plain": ["schema": ["type": "string"]]]]],
                          auth: false),
            ],
            "/openapi.json": [
                "get": op("openapi", "operations", "This document",
                          responses: ["200": json(["type": "object"], "The OpenAPI 3.1 document.")], auth: false),
            ],
            "/docs": [
                "get": op("docs", "operations", "A readable reference of this document (HTML, works offline)",
                          responses: ["200": ["description": "The page.", "content": ["text/html": ["schema": ["type": "string"]]]]],
                          auth: false),
            ],
        ]
    }

    // MARK: - Parameters

    static var parameters: [String: JSONValue] {
        func id(_ name: String, _ what: String) -> JSONValue {
            ["name": .string(name), "in": "path", "required": true, "description": .string("The \(what)'s id."), "schema": uuid]
        }
        return [
            "projectId": id("projectId", "project"), "jobId": id("jobId", "job"), "assetId": id("assetId", "asset"),
            "sceneId": id("sceneId", "scene"), "keyId": id("keyId", "API key"), "sessionId": id("sessionId", "session"),
            "limit": ["name": "limit", "in": "query", "required": false, "description": "Items per page (default 20).",
                      "schema": ["type": "integer", "minimum": 1, "maximum": 100]],
            "cursor": ["name": "cursor", "in": "query", "required": false,
                       "description": "`nextCursor` of the previous page. Only cursors this server gave out are accepted (others: 400).",
                       "schema": ["type": "string", "minLength": 1, "maxLength": 200]],
            "idempotencyKey": ["name": "Idempotency-Key", "in": "header", "required": false,
                               "description": "Repeat a request safely: the same key within 24 hours answers the same job.",
                               "schema": ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"]],
            "lastEventId": ["name": "Last-Event-ID", "in": "header", "required": false,
                            "description": "Resume after this event id.",
                            "schema": ["type": "string", "pattern": "^[0-9]{1,18}$"]],
            "after": ["name": "after", "in": "query", "required": false, "description": "Resume after this event id.",
                      "schema": ["type": "integer", "minimum": 0, "maximum": 999_999_999_999]],
            "range": ["name": "Range", "in": "header", "required": false,
                      "description": "A single byte range: `bytes=0-1023`, `bytes=1024-` or `bytes=-500` (answered with 206).",
                      "schema": ["type": "string", "pattern": "^bytes=([0-9]{1,15}-[0-9]{0,15}|-[0-9]{1,15})$"]],
        ]
    }

    // MARK: - Schemas

    static var schemas: [String: JSONValue] {
        let category: JSONValue = ["type": "string", "enum": .array(ReelCore.Category.allCases.map { .string($0.rawValue) })]
        let aspect: JSONValue = ["type": "string", "enum": .array(AspectRatio.allCases.map { .string($0.rawValue) })]
        let preset: JSONValue = ["type": "string", "enum": .array(Preset.allCases.map { .string($0.rawValue) })]
        let mode: JSONValue = ["type": "string", "enum": .array(Mode.allCases.map { .string($0.rawValue) })]
        let stageValues: [JSONValue] = Stage.allCases.map { .string($0.rawValue) }
        let briefInput: [String: JSONValue] = [
            "name": ["type": "string", "minLength": 1, "maxLength": .number(Double(TextLimits.name)), "pattern": .string(nonBlankPattern),
                     "description": "Defaults to the start of the prompt."],
            "prompt": ["type": "string", "minLength": 1, "maxLength": .number(Double(TextLimits.prompt)),
                       "pattern": .string(nonBlankPattern), "description": "What the video should show and feel like."],
            "category": category,
            "duration": ["type": "number", "minimum": 1, "maximum": 600,
                         "description": "Seconds of video; left out, the song's length."],
            "aspectRatio": aspect,
            "style": ["type": "string", "maxLength": .number(Double(TextLimits.shortText)), "pattern": .string(noNulPattern)],
            "mood": ["type": "string", "maxLength": .number(Double(TextLimits.shortText)), "pattern": .string(noNulPattern)],
            "preset": preset,
            "mode": mode,
            "seed": ["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991],
        ]
        var update = briefInput
        update["audioAssetId"] = ["type": "string", "format": "uuid",
                                  "description": "The project's song: a ready audio asset of this project (default: the newest)."]
        return [
            "Problem": object(["type": ["type": "string"], "title": ["type": "string"], "status": ["type": "integer"],
                               "detail": ["type": "string"]],
                              required: ["type", "title", "status", "detail"],
                              description: "An error (RFC 9457 problem details)."),
            "Status": object(["status": ["type": "string"]], required: ["status"]),
            "Session": object(["userId": uuid, "name": ["type": "string"], "expiresAt": dateTime],
                              required: ["userId", "name", "expiresAt"]),
            "ProjectCreate": object(briefInput, required: ["prompt"]),
            "ProjectUpdate": object(update),
            "Project": object([
                "id": uuid, "name": ["type": "string"], "prompt": ["type": "string"], "category": category,
                "duration": nullable("number"), "aspectRatio": aspect, "style": nullable("string"), "mood": nullable("string"),
                "preset": preset, "mode": mode, "seed": nullable("integer"), "audioAssetId": nullable("string", format: "uuid"),
                "plan": ["type": ["object", "null"], "description": "The plan of the last generation (scenes, cuts), once made."],
                "createdAt": dateTime, "updatedAt": dateTime,
            ], required: ["id", "name", "prompt", "category", "duration", "aspectRatio", "style", "mood", "preset", "mode",
                          "seed", "audioAssetId", "plan", "createdAt", "updatedAt"]),
            "ProjectPage": page("Project"),
            "Scene": object([
                "id": uuid, "projectId": uuid, "index": ["type": "integer", "minimum": 0], "start": ["type": "number"],
                "end": ["type": "number"], "duration": ["type": "number"], "prompt": ["type": "string"],
                "locked": ["type": "boolean", "description": "A locked scene is kept as it is by later generations."],
                "variant": ["type": "integer", "description": "Bumped by every regeneration of the scene."],
            ], required: ["id", "projectId", "index", "start", "end", "duration", "prompt", "locked", "variant"]),
            "ScenePage": page("Scene"),
            "SceneUpdate": object([
                "prompt": ["type": "string", "minLength": 1, "maxLength": .number(Double(TextLimits.prompt)),
                           "pattern": .string(nonBlankPattern)],
                "duration": ["type": "number", "minimum": 0.5, "maximum": 600],
                "locked": ["type": "boolean"],
            ]),
            "GenerateRequest": object([
                "budget": ["type": "number", "minimum": 0, "maximum": 1_000_000,
                           "description": "Spending limit for this job in USD (the user's remaining budget caps it too)."],
            ]),
            "Asset": object([
                "id": uuid, "projectId": uuid, "kind": ["type": "string", "enum": ["audio", "image", "video"]],
                "filename": ["type": "string", "description": "The uploaded file's name, for display only."],
                "contentType": ["type": "string"], "size": ["type": "integer", "minimum": 0],
                "duration": nullable("number"), "width": nullable("integer"), "height": nullable("integer"),
                "sha256": nullable("string"), "status": ["type": "string", "enum": ["pending", "ready"]],
                "createdAt": dateTime, "url": ["type": "string", "description": "Where the file is served."],
            ], required: ["id", "projectId", "kind", "filename", "contentType", "size", "duration", "width", "height",
                          "sha256", "status", "createdAt", "url"]),
            "AssetPage": page("Asset"),
            "DirectUploadRequest": object([
                "projectId": uuid,
                "filename": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": .string(noNulPattern)],
                "contentType": ["type": "string", "pattern": "^(audio|image|video)/[\\x21-\\x7e]{1,90}$"],
                "size": ["type": "integer", "minimum": 1, "maximum": 1_099_511_627_776,
                         "description": "Bytes; each kind has its own limit (413 above it)."],
            ], required: ["projectId", "filename", "contentType", "size"]),
            "DirectUpload": object([
                "assetId": uuid, "uploadUrl": ["type": "string"], "method": ["type": "string", "enum": ["PUT"]],
                "headers": ["type": "object", "additionalProperties": ["type": "string"]], "expiresAt": dateTime,
            ], required: ["assetId", "uploadUrl", "method", "headers", "expiresAt"]),
            "JobError": object(["code": ["type": "string"], "message": ["type": "string"]], required: ["code", "message"]),
            "Job": object([
                "id": uuid, "projectId": uuid,
                "kind": ["type": "string", "enum": .array(JobKind.allCases.map { .string($0.rawValue) })],
                "status": ["type": "string", "enum": .array(JobStatus.allCases.map { .string($0.rawValue) })],
                "stage": ["type": ["string", "null"], "enum": .array(stageValues + [.null])],
                "progress": ["type": "number", "minimum": 0, "maximum": 100],
                "etaSeconds": ["type": ["number", "null"], "minimum": 0],
                "error": nullable(ref("JobError")),
                "createdAt": dateTime, "startedAt": nullable("string", format: "date-time"),
                "finishedAt": nullable("string", format: "date-time"), "retryOf": nullable("string", format: "uuid"),
            ], required: ["id", "projectId", "kind", "status", "stage", "progress", "etaSeconds", "error", "createdAt",
                          "startedAt", "finishedAt", "retryOf"], closed: true,
               description: "A job (CONTRACTS.md): exactly these keys."),
            "JobPage": page("Job"),
            "JobResult": object(["videoUrl": ["type": "string"], "manifestUrl": ["type": "string"], "thumbnailUrl": ["type": "string"]],
                                required: ["videoUrl", "manifestUrl", "thumbnailUrl"]),
            "CostEntry": object([
                "role": ["type": "string"], "provider": ["type": "string"], "model": ["type": "string"],
                "scene": nullable("integer"), "kind": nullable("string"), "units": ["type": "number"], "unit": ["type": "string"],
                "unitPrice": ["type": "number"], "cost": ["type": "number"], "cacheHit": ["type": "boolean"],
                "status": nullable("string"), "predictionId": nullable("string"), "at": dateTime,
            ], required: ["role", "provider", "model", "scene", "kind", "units", "unit", "unitPrice", "cost", "cacheHit",
                          "status", "predictionId", "at"]),
            "Costs": object([
                "currency": ["type": "string", "enum": ["USD"]], "total": ["type": "number"],
                "byScene": ["type": "array", "items": object(["scene": ["type": "integer"], "cost": ["type": "number"]],
                                                             required: ["scene", "cost"])],
                "byModel": ["type": "array", "items": object(["provider": ["type": "string"], "model": ["type": "string"],
                                                              "cost": ["type": "number"]], required: ["provider", "model", "cost"])],
                "byKind": ["type": "array", "items": object(["kind": ["type": "string"], "cost": ["type": "number"]],
                                                            required: ["kind", "cost"])],
                "entries": ["type": "array", "items": ref("CostEntry")],
            ], required: ["currency", "total", "byScene", "byModel", "byKind", "entries"]),
            "Key": object([
                "id": uuid, "prefix": ["type": "string", "description": "The key's first characters, to recognise it."],
                "createdAt": dateTime, "revokedAt": nullable("string", format: "date-time"),
                "lastUsedAt": nullable("string", format: "date-time"),
            ], required: ["id", "prefix", "createdAt", "revokedAt", "lastUsedAt"]),
            "KeyWithSecret": ["allOf": [ref("Key"), object(["key": ["type": "string", "description": "The secret: shown only here."]],
                                                           required: ["key"])]],
            "KeyPage": page("Key"),
            "ActiveSession": object([
                "id": uuid, "keyId": ["type": "string", "format": "uuid", "description": "The key that signed the session in."],
                "createdAt": dateTime, "expiresAt": dateTime, "lastUsedAt": nullable("string", format: "date-time"),
                "current": ["type": "boolean", "description": "True for the session of this request's cookie."],
            ], required: ["id", "keyId", "createdAt", "expiresAt", "lastUsedAt", "current"]),
            "ActiveSessionPage": page("ActiveSession"),
            "Event": object([
                "id": ["type": "integer", "description": "Grows with every event; resume after the last one seen."],
                "jobId": uuid, "projectId": uuid,
                "type": ["type": "string", "enum": .array(JobEventType.allCases.map { .string($0.rawValue) })],
                "at": dateTime,
                "data": ["type": "object", "description": "stage, scene, progress (0–100), message, error, attempt, reusedScenes"],
            ], required: ["id", "jobId", "projectId", "type", "at", "data"]),
        ]
    }
}
