import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReelCore
import ReelMedia

/// A complete HTTP answer whose body was small enough to hold in memory.
public struct ProviderResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders, body: Data) {
        self.status = status; self.headers = headers; self.body = body
    }

    /// The first value of a header (case-insensitive).
    public func header(_ name: String) -> String? { headers.first(name: name) }
}

/// A file written by `ProviderHTTP.download`.
public struct DownloadedFile: Sendable, Hashable {
    /// Where the file now is (the requested path, with an extension added from the content type if it had none).
    public var path: String
    public var bytes: Int64
    public var contentType: String?
}

/// What went wrong below the level of a provider's protocol. The clients turn these into `ReelError`s; the texts name
/// hosts, paths and sizes, never headers or bodies (which may hold credentials).
public enum ProviderHTTPError: Error, Sendable, CustomStringConvertible {
    /// The connection failed or dropped: the request may or may not have reached the server.
    case transport(String)
    /// No complete answer within the time allowed.
    case timedOut(seconds: Double)
    /// The answer was bigger than allowed.
    case bodyTooLarge(limit: Int64)
    /// The connection closed before `Content-Length` bytes arrived.
    case truncated(expected: Int64, received: Int64)
    /// A web page (HTML) or a JSON document arrived where media was expected.
    case webPage(contentType: String)
    /// A download answered with a status other than 2xx.
    case status(Int)
    /// The file arrived complete but ffprobe does not see the expected kind of media in it.
    case notMedia(String)

    public var description: String {
        switch self {
        case .transport(let why): return "the connection failed (\(why))"
        case .timedOut(let s): return "no answer within \(Self.seconds(s))"
        case .bodyTooLarge(let limit): return "the answer was larger than \(limit >> 20) MiB"
        case .truncated(let expected, let received): return "the answer was cut short (\(received) of \(expected) bytes)"
        case .webPage: return "the provider sent a web page instead of a media file"
        case .status(let s): return "HTTP \(s)"
        case .notMedia(let why): return why
        }
    }

    static func seconds(_ s: Double) -> String { s >= 1 ? "\(Int(s.rounded())) s" : String(format: "%.2f s", s) }

    /// Worth trying again: the failure says nothing about the request itself.
    public var isTransient: Bool {
        switch self {
        case .transport, .timedOut, .truncated: return true
        case .status(let s): return s == 429 || s >= 500
        case .bodyTooLarge, .webPage, .notMedia: return false
        }
    }
}

/// The HTTP layer every model-server client shares: one `HTTPClient`, bounded bodies, streamed downloads that are
/// checked (length, content type, ffprobe) before they appear at their path, and request lines when `logsRequests`
/// (the `debug` setting, `REELSMITH_DEBUG=1`).
public struct ProviderHTTP: Sendable {
    public let client: HTTPClient
    /// The largest body `send` accepts unless told otherwise (JSON answers).
    public var maxBodyBytes: Int
    public var probe: MediaProbe
    /// Print one line per request to standard error (method, path, status, milliseconds; no headers, no bodies).
    public var logsRequests: Bool

    public init(client: HTTPClient = .shared, maxBodyBytes: Int = 16 << 20, probe: MediaProbe = MediaProbe(),
                logsRequests: Bool = false) {
        self.client = client; self.maxBodyBytes = maxBodyBytes; self.probe = probe; self.logsRequests = logsRequests
    }

    /// Sends `request` and collects the whole answer. Throws `ProviderHTTPError` for transport failures, timeouts and
    /// bodies over `maxBytes` (default `maxBodyBytes`); any HTTP status is returned, not thrown.
    public func send(_ request: HTTPClientRequest, timeout: Duration, maxBytes: Int? = nil) async throws -> ProviderResponse {
        let limit = maxBytes ?? maxBodyBytes
        let started = ContinuousClock.now
        let response: ProviderResponse
        do {
            response = try await withTimeout(timeout) { try await collect(request, timeout: timeout, limit: limit) }
        } catch {
            log(request.method.rawValue, request.url, status: nil, since: started)
            throw error
        }
        log(request.method.rawValue, request.url, status: response.status, since: started)
        return response
    }

    private func collect(_ request: HTTPClientRequest, timeout: Duration, limit: Int) async throws -> ProviderResponse {
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
        if let length = response.headers.first(name: "content-length").flatMap(Int64.init), length > Int64(limit) {
            throw ProviderHTTPError.bodyTooLarge(limit: Int64(limit))
        }
        let buffer: ByteBuffer
        do { buffer = try await response.body.collect(upTo: limit) }
        catch is NIOTooManyBytesError { throw ProviderHTTPError.bodyTooLarge(limit: Int64(limit)) }
        return ProviderResponse(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
    }

    /// Streams `url` into a temporary file beside `path`, checks it and renames it into place.
    ///
    /// Checks: a 2xx status (else `.status`), no HTML/JSON when media is expected (`.webPage`), as many bytes as
    /// `Content-Length` announced (`.truncated`), at most `maxBytes`, and, when `expecting` is a media kind, that
    /// ffprobe finds that kind of media in the file (`.notMedia`). If `path` has no extension one is added from the
    /// content type. Nothing is left at `path` (nor beside it) when a check fails.
    public func download(url: String, to path: String, expecting kind: OutputKind?, headers: HTTPHeaders = [:],
                         maxBytes: Int64 = 4 << 30, timeout: Duration = .seconds(600)) async throws -> DownloadedFile {
        var get = HTTPClientRequest(url: url)
        get.method = .GET
        get.headers = headers
        let request = get
        let started = ContinuousClock.now
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".download-\(UUID().uuidString.prefix(12))-\((path as NSString).lastPathComponent)")
        defer { try? FileManager.default.removeItem(atPath: temporary) }

        let received: Int64, contentType: String?
        do {
            (received, contentType) = try await withTimeout(timeout) {
                try await stream(request, to: temporary, expecting: kind, maxBytes: maxBytes, headTimeout: min(timeout.seconds, 120))
            }
        } catch {
            var status: Int? = nil
            if case ProviderHTTPError.status(let s)? = error as? ProviderHTTPError { status = s }
            log("GET", url, status: status, since: started)
            throw error
        }
        log("GET", url, status: 200, since: started)

        var final = path
        if (path as NSString).pathExtension.isEmpty, let ext = MediaType.fileExtension(forMIME: contentType, kind: kind) {
            final = path + "." + ext
        }
        if let kind, kind != .text { try await check(temporary, is: kind) }
        guard rename(temporary, final) == 0 else {
            throw ReelError(.outputNotWritable, "cannot move the download into '\(final)' (\(String(cString: strerror(errno))))")
        }
        return DownloadedFile(path: final, bytes: received, contentType: contentType)
    }

    private func stream(_ request: HTTPClientRequest, to temporary: String, expecting kind: OutputKind?, maxBytes: Int64,
                        headTimeout: Double) async throws -> (Int64, String?) {
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(headTimeout * 1e9)))
        guard (200..<300).contains(Int(response.status.code)) else { throw ProviderHTTPError.status(Int(response.status.code)) }
        let type = response.headers.first(name: "content-type")
        if let kind, kind != .text, let type, Self.isDocument(type) { throw ProviderHTTPError.webPage(contentType: type) }
        // Decompressed bodies do not match Content-Length; media files are not served compressed in practice.
        let encoded = response.headers.first(name: "content-encoding").map { $0.lowercased() != "identity" } ?? false
        let announced = encoded ? nil : response.headers.first(name: "content-length").flatMap(Int64.init)
        if let announced, announced > maxBytes { throw ProviderHTTPError.bodyTooLarge(limit: maxBytes) }

        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw ReelError(.outputNotWritable, "cannot write '\(temporary)'")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        defer { try? handle.close() }
        var count: Int64 = 0
        do {
            // Chunks are written as they arrive (blocking writes of one network chunk each), so a large video is
            // never held whole in memory.
            for try await chunk in response.body {
                count += Int64(chunk.readableBytes)
                if count > maxBytes { throw ProviderHTTPError.bodyTooLarge(limit: maxBytes) }
                try chunk.withUnsafeReadableBytes { try handle.write(contentsOf: $0) }
            }
        } catch let error as ProviderHTTPError {
            throw error
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            if let announced { throw ProviderHTTPError.truncated(expected: announced, received: count) }
            throw ProviderHTTPError.transport(Self.describe(error))
        }
        if let announced, announced != count { throw ProviderHTTPError.truncated(expected: announced, received: count) }
        return (count, type)
    }

    /// Checks with ffprobe that `path` holds `kind`: a video stream for video, a still picture for an image (an image
    /// format or a one-frame video), an audio stream for audio.
    public func check(_ path: String, is kind: OutputKind) async throws {
        let info: MediaInfo
        do { info = try await probe.probe(path) }
        catch let error as ReelError {
            if let refused = error.cause as? RefusedMedia { throw ProviderHTTPError.notMedia("the file is \(refused.what), not plain \(kind.rawValue)") }
            throw ProviderHTTPError.notMedia("the file is not \(kind.rawValue) (\(error.message))")
        }
        let ok: Bool
        switch kind {
        case .video: ok = info.video != nil && !info.isImage
        case .image: ok = info.video != nil && (info.isImage || (info.video?.frameCount ?? 1) <= 1)
        case .audio: ok = info.audio != nil
        case .text: ok = true
        }
        if !ok {
            let found = info.streams.map(\.kind).joined(separator: "+")
            throw ProviderHTTPError.notMedia("the file is not \(kind == .image ? "an image" : kind.rawValue) (ffprobe sees \(found.isEmpty ? "no streams" : found) in \(info.formatName))")
        }
    }

    static func isDocument(_ contentType: String) -> Bool {
        let t = contentType.lowercased()
        return t.hasPrefix("text/html") || t.hasPrefix("application/json") || t.hasPrefix("application/problem+json")
            || t.hasPrefix("application/xhtml")
    }

    /// A transport error as text, without anything from the request (AHC and NIO errors name codes and addresses).
    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        if let e = error as? ProviderHTTPError { return e.description }
        return String(describing: type(of: error)) + ": " + String(String(describing: error).prefix(200))
    }

    func log(_ method: String, _ url: String, status: Int?, since start: ContinuousClock.Instant) {
        guard logsRequests else { return }
        let ms = Int(((ContinuousClock.now - start).seconds * 1000).rounded())
        let path = URL(string: url)?.path ?? "?"
        FileHandle.standardError.write(Data("reelsmith: http: \(method) \(path) \(status.map(String.init) ?? "failed") \(ms) ms\n".utf8))
    }

    /// Runs `operation`, and cancels it and throws `.timedOut` if it takes longer than `timeout`. AHC's own deadline
    /// only covers the wait for the response head; this bounds the body too.
    func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                do { return try await operation() }
                catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                    throw ProviderHTTPError.timedOut(seconds: timeout.seconds)
                } catch let error as ProviderHTTPError { throw error }
                catch let error as ReelError { throw error }
                catch {
                    if Task.isCancelled || error is CancellationError { throw CancellationError() }
                    throw ProviderHTTPError.transport(Self.describe(error))
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                try Task.checkCancellation()
                throw ProviderHTTPError.timedOut(seconds: timeout.seconds)
            }
            return value
        }
    }
}
