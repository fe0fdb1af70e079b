import Foundation
import ReelCore
import ReelMedia
import ReelStore

/// Everything the HTTP API needs from the rest of the service, handed in by whoever builds the server (CLI, tests).
public struct ServiceContext: Sendable {
    public var store: ServiceStore
    public var objects: any ObjectStore
    /// The same store as `objects` when it is a folder: media is then served from disk with range requests.
    public var localObjects: LocalObjectStore?
    public var limits: ServiceLimits
    /// ffprobe: the judge of what an upload really is.
    public var probe: MediaProbe
    /// Folder for streamed uploads and downloads being validated (created if missing).
    public var scratch: String
    /// Public base URL of the server (`REELSMITH_PUBLIC_URL`); result links are relative paths without it.
    public var publicBaseURL: String?
    /// Pings the database for `/readyz`; nil answers ready whenever the process is up.
    public var readiness: (@Sendable () async throws -> Void)?

    public init(store: ServiceStore, objects: any ObjectStore, localObjects: LocalObjectStore?, limits: ServiceLimits = .init(),
                probe: MediaProbe = MediaProbe(), scratch: String, publicBaseURL: String? = nil,
                readiness: (@Sendable () async throws -> Void)? = nil) {
        self.store = store; self.objects = objects; self.localObjects = localObjects; self.limits = limits
        self.probe = probe; self.scratch = scratch; self.publicBaseURL = publicBaseURL; self.readiness = readiness
    }

    /// True when clients may upload straight to storage (`POST /api/assets/upload`): S3, not a local folder.
    public var directUploads: Bool { localObjects == nil }
}

/// Limits the API enforces on uploads, requests and live streams.
public struct ServiceLimits: Sendable, Equatable {
    /// Largest accepted upload per kind, in bytes.
    public var maxAudioBytes: Int64
    public var maxImageBytes: Int64
    public var maxVideoBytes: Int64
    /// Longest accepted audio or video, in seconds.
    public var maxMediaSeconds: Double
    /// Largest accepted width or height of an image or video, in pixels.
    public var maxDimension: Int
    /// Replaces every user's requests-per-minute limit when set (tests and fuzzing raise it).
    public var requestsPerMinuteOverride: Int?
    /// How long `Retry-After` tells a client to wait when it has too many jobs running, in seconds.
    public var concurrentJobRetryAfter: Int
    /// Interval between SSE heartbeat comments and WebSocket pings, in seconds.
    public var heartbeatSeconds: Double
    /// Interval at which live streams re-read events even without a wakeup (other processes on SQLite), in seconds.
    public var pollSeconds: Double
    /// Lifetime of a browser session cookie.
    public var sessionTTL: Duration
    /// Lifetime of presigned upload and download URLs.
    public var presignExpiry: Duration
    /// Sign-ins (`POST /api/session`) one client address may attempt per minute (429 with `Retry-After` beyond).
    public var signInsPerMinute: Int = 10
    /// Failed authentications (a wrong, revoked or expired key or cookie) one client address may make per minute;
    /// beyond, its credentials are not even looked up (429 with `Retry-After`) until the budget refills.
    public var failedAuthenticationsPerMinute: Int = 100
    /// Take the client address from the last `X-Forwarded-For` entry (set it only behind a proxy that writes one).
    public var trustForwardedFor: Bool = false
    /// A browser session may create or rotate API keys only this long after its sign-in (else 403: sign in again or
    /// send the key itself).
    public var freshSignInWindow: Duration = .seconds(300)
    /// Live event streams (SSE and WebSocket together) one user may have open at once (429 beyond).
    public var maxStreamsPerUser: Int = 16
    /// Events read from the store and sent per page when a stream catches up on a backlog.
    public var eventPageSize: Int = 200
    /// A live stream is closed after this many seconds; the client resumes with `Last-Event-ID` or `?after=`.
    public var maxStreamSeconds: Double = 3600
    /// How often an open stream re-checks that its key (and session) is still live, in seconds: the longest a stream
    /// outlives a revocation made on another server.
    public var streamCredentialCheckSeconds: Double = 5
    /// Multipart uploads (checked while the body streams, with or without `Content-Length`): bytes of one part's
    /// header block, parts per body, bytes of the fields other than `file`, and the body's allowance beyond the
    /// largest file (boundaries, headers, fields).
    public var maxPartHeaderBytes: Int = 16 << 10
    public var maxMultipartParts: Int = 8
    public var maxFormFieldBytes: Int = 64 << 10
    public var multipartOverheadBytes: Int64 = 1 << 20
    /// A direct upload not completed within this time (its row, its staging object) is swept; at least `presignExpiry`.
    public var stagingUploadMaxAge: Duration = .seconds(3600)
    /// A temporary file or write untouched for this long is a crash's leftover (upload scratch; the object store's
    /// unfinished writes: the local folder's hidden partial copies, a bucket's multipart uploads).
    public var leftoverFileMaxAge: Duration = .seconds(3600)
    /// How often the server sweeps stale direct uploads and leftover files (also once at start).
    public var sweepInterval: Duration = .seconds(600)
    /// The longest video a project may ask for, in seconds, by its `duration` or its prompt's words (422 beyond).
    public var maxVideoSeconds: Double = 600
    /// How long `DELETE /api/projects/{id}` waits for the project's running jobs to stop (409 with `Retry-After` after).
    public var projectDeleteWait: Duration = .seconds(30)
    /// A connection that neither sends nor takes a byte for this long is closed (Vapor's `idleTimeout`): bounds a
    /// client that stalls mid-request. Longer than `heartbeatSeconds` (streams write at least that often) and than any
    /// handler's silent work (`projectDeleteWait`).
    public var idleTimeout: Duration = .seconds(60)

    public init(maxAudioBytes: Int64 = 200 << 20, maxImageBytes: Int64 = 25 << 20, maxVideoBytes: Int64 = 1 << 30,
                maxMediaSeconds: Double = 900, maxDimension: Int = 8192, requestsPerMinuteOverride: Int? = nil,
                concurrentJobRetryAfter: Int = 10, heartbeatSeconds: Double = 15, pollSeconds: Double = 1,
                sessionTTL: Duration = .seconds(7 * 24 * 3600), presignExpiry: Duration = .seconds(900)) {
        self.maxAudioBytes = maxAudioBytes; self.maxImageBytes = maxImageBytes; self.maxVideoBytes = maxVideoBytes
        self.maxMediaSeconds = maxMediaSeconds; self.maxDimension = maxDimension
        self.requestsPerMinuteOverride = requestsPerMinuteOverride; self.concurrentJobRetryAfter = concurrentJobRetryAfter
        self.heartbeatSeconds = heartbeatSeconds; self.pollSeconds = pollSeconds; self.sessionTTL = sessionTTL
        self.presignExpiry = presignExpiry
    }

    /// The largest upload of any kind: the cut-off while the kind is not known yet.
    public var maxUploadBytes: Int64 { max(maxAudioBytes, maxImageBytes, maxVideoBytes) }
    /// The largest multipart body: the largest upload plus the multipart allowance.
    public var maxUploadBodyBytes: Int64 { maxUploadBytes + multipartOverheadBytes }

    func maxBytes(_ kind: AssetKind) -> Int64 {
        switch kind {
        case .audio: maxAudioBytes
        case .image: maxImageBytes
        case .video: maxVideoBytes
        }
    }
}
