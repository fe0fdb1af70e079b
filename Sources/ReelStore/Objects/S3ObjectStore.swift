import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReelCore

/// An `ObjectStore` on an S3-compatible bucket, spoken to over AsyncHTTPClient with Signature Version 4.
///
/// Uploads stream from the file (never whole in memory); files over `config.multipartThreshold` go up as a multipart
/// upload, aborted if any step fails. Downloads stream into a temporary file beside the destination and are renamed
/// into place once complete. Errors are `ReelError`s carrying S3's own `Code` and `Message`; the secret key never
/// appears in one.
///
/// Payload signing: PUT and UploadPart send the SHA-256 of the bytes (`x-amz-content-sha256`), computed in a first
/// streaming pass over the file (or the part), rather than `UNSIGNED-PAYLOAD`. S3 then checks the body against the
/// hash, so bytes damaged on the way (plain-HTTP endpoints such as MinIO or moto on a private network have no TLS to
/// catch it) or a file that changes while it uploads are refused instead of stored. The cost is one more sequential
/// read of data that is usually in the page cache (hundreds of MB/s), small next to sending it over the network.
/// Presigned URLs use `UNSIGNED-PAYLOAD`, as they must: the body is not known when the URL is made.
public struct S3ObjectStore: ObjectStore {
    public let config: S3Config
    let client: HTTPClient
    let signer: SigV4Signer

    /// A store on `config`'s bucket. `httpClient` is shared with the rest of the process (and shut down by its owner).
    /// `httpClient` defaults to the process-wide shared client, so callers outside ReelStore need not import AsyncHTTPClient.
    public init(config: S3Config, httpClient: HTTPClient = .shared) {
        self.config = config
        self.client = httpClient
        self.signer = SigV4Signer(accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey,
                                  region: config.region, service: "s3")
    }

    // MARK: ObjectStore

    public func put(_ key: String, fromFile path: String, contentType: String) async throws {
        try ObjectKeys.validate(key)
        let size = try FileIO.size(of: path)
        if size > config.multipartThreshold {
            try await putMultipart(key, fromFile: path, size: size, contentType: contentType)
            return
        }
        let hash = try await runBlocking { try FileIO.sha256Hex(path: path, offset: 0, length: size) }
        let response = try await send(.PUT, key: key, headers: [("content-type", contentType)],
                                      payload: .file(path: path, offset: 0, length: size, sha256: hash), operation: "PUT")
        try await expectSuccess(response, operation: "PUT", key: key)
    }

    public func get(_ key: String, toFile path: String) async throws {
        try ObjectKeys.validate(key)
        try FileIO.makeParentDirectory(of: path)
        var attempt = 1
        while true {
            let temporary = FileIO.temporarySibling(of: path, tag: "get")
            do {
                defer { try? FileManager.default.removeItem(atPath: temporary) }
                try await download(key, to: temporary)
                try FileIO.publish(temporary, as: path)
                return
            } catch let broken as InterruptedDownload {
                // The body broke off mid-way (`send` already retried failures before the answer began): fetch it
                // again from the start.
                guard attempt < config.maxAttempts else { throw broken.error }
                try await backoff(attempt)
                attempt += 1
            }
        }
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        try ObjectKeys.validate(key)
        let response = try await send(.HEAD, key: key, operation: "HEAD")
        await drain(response)
        switch response.status.code {
        case 200..<300:
            let size = response.headers.first(name: "content-length").flatMap(Int64.init) ?? 0
            return ObjectInfo(size: size, contentType: response.headers.first(name: "content-type"))
        case 404:
            return nil
        default:
            throw failure(status: Int(response.status.code), body: nil, operation: "HEAD", key: key)
        }
    }

    public func delete(_ key: String) async throws {
        try ObjectKeys.validate(key)
        let response = try await send(.DELETE, key: key, operation: "DELETE")
        let status = Int(response.status.code)
        if status == 404 {
            let body = await collectText(response)
            // A missing key is fine (S3 answers 204 anyway); a missing bucket is a configuration error.
            if S3XML.error(in: body)?.code == "NoSuchBucket" { throw failure(status: status, body: body, operation: "DELETE", key: key) }
            return
        }
        try await expectSuccess(response, operation: "DELETE", key: key)
    }

    public func presignedGet(_ key: String, expires: Duration) async throws -> URL? {
        try ObjectKeys.validate(key)
        return presignedURL(method: "GET", key: key, headers: [], expires: expires)
    }

    /// The client must send `Content-Type: contentType` and `Content-Length: contentLength` exactly (both are signed,
    /// so S3 refuses a body of any other length: the URL cannot store more than was declared).
    public func presignedPut(_ key: String, contentType: String, contentLength: Int64, expires: Duration) async throws -> URL? {
        try ObjectKeys.validate(key)
        guard contentLength >= 0 else { throw ReelError(.badInput, "a presigned upload needs a length of 0 bytes or more") }
        return presignedURL(method: "PUT", key: key,
                            headers: [("content-type", contentType), ("content-length", String(contentLength))], expires: expires)
    }

    /// ListObjectsV2 over `prefix`, page by page (1000 keys each).
    public func keys(under prefix: String, writtenBefore date: Date) async throws -> [String] {
        var found: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(.GET, key: nil, query: query, operation: "ListObjectsV2")
            let body = await collectText(response, limit: 16 << 20)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw failure(status: Int(response.status.code), body: body, operation: "ListObjectsV2", key: nil)
            }
            for entry in S3XML.values(of: "Contents", in: body) {
                guard let key = S3XML.value(of: "Key", in: entry),
                      let written = S3XML.value(of: "LastModified", in: entry).flatMap(S3XML.date) else { continue }
                if written < date { found.append(key) }
            }
            token = S3XML.value(of: "IsTruncated", in: body) == "true" ? S3XML.value(of: "NextContinuationToken", in: body) : nil
        } while token != nil
        return found
    }

    /// Makes the bucket if it does not exist yet (first start, tests). An existing bucket of ours is left as it is.
    public func ensureBucket() async throws {
        let head = try await send(.HEAD, key: nil, operation: "HEAD")
        await drain(head)
        switch head.status.code {
        case 200..<300: return
        case 404: break
        default: throw failure(status: Int(head.status.code), body: nil, operation: "HEAD", key: nil)
        }
        var payload = Payload.empty
        if config.region != "us-east-1" {
            let xml = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
                + S3XML.escape(config.region) + "</LocationConstraint></CreateBucketConfiguration>"
            payload = .data(Data(xml.utf8))
        }
        let create = try await send(.PUT, key: nil, headers: payload.isEmpty ? [] : [("content-type", "application/xml")],
                                    payload: payload, operation: "CreateBucket")
        let status = Int(create.status.code)
        if (200..<300).contains(status) { await drain(create); return }
        let body = await collectText(create)
        if S3XML.error(in: body)?.code == "BucketAlreadyOwnedByYou" { return }
        throw failure(status: status, body: body, operation: "CreateBucket", key: nil)
    }

    // MARK: multipart upload

    func putMultipart(_ key: String, fromFile path: String, size: Int64, contentType: String) async throws {
        // S3 allows at most 10,000 parts: very large files get larger parts.
        let partSize = max(config.partSize, (size + 9_999) / 10_000, 1)
        let count = Int((size + partSize - 1) / partSize)
        let uploadId = try await createMultipartUpload(key, contentType: contentType)
        do {
            let etags = try await uploadParts(key, uploadId: uploadId, path: path, size: size, partSize: partSize, count: count)
            try await completeMultipartUpload(key, uploadId: uploadId, etags: etags)
        } catch {
            // Parts of an unfinished upload are kept (and billed) until aborted. The abort runs in a task of its own
            // so that it still goes out when the failure is this task's cancellation.
            let store = self
            await Task.detached { await store.abortMultipartUpload(key, uploadId: uploadId) }.value
            throw error
        }
    }

    func createMultipartUpload(_ key: String, contentType: String) async throws -> String {
        let response = try await send(.POST, key: key, query: [("uploads", "")], headers: [("content-type", contentType)],
                                      operation: "create multipart upload")
        let body = await collectText(response)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw failure(status: Int(response.status.code), body: body, operation: "create multipart upload", key: key)
        }
        guard let uploadId = S3XML.value(of: "UploadId", in: body), !uploadId.isEmpty else {
            throw ReelError(.storageFailed, "S3 create multipart upload of '\(key)' answered without an UploadId")
        }
        return uploadId
    }

    /// Uploads parts `1...count`, `config.partConcurrency` at a time; returns their ETags in part order.
    func uploadParts(_ key: String, uploadId: String, path: String, size: Int64, partSize: Int64, count: Int) async throws -> [String] {
        let width = max(1, config.partConcurrency)
        return try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var etags = [String](repeating: "", count: count)
            var next = 1
            func start(_ number: Int) {
                let offset = Int64(number - 1) * partSize
                let length = min(partSize, size - offset)
                group.addTask {
                    (number, try await self.uploadPart(key, uploadId: uploadId, number: number, path: path, offset: offset, length: length))
                }
            }
            while next <= min(count, width) { start(next); next += 1 }
            while let (number, etag) = try await group.next() {
                etags[number - 1] = etag
                if next <= count { start(next); next += 1 }
            }
            return etags
        }
    }

    func uploadPart(_ key: String, uploadId: String, number: Int, path: String, offset: Int64, length: Int64) async throws -> String {
        let operation = "upload part \(number)"
        let hash = try await runBlocking { try FileIO.sha256Hex(path: path, offset: offset, length: length) }
        let response = try await send(.PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)],
                                      payload: .file(path: path, offset: offset, length: length, sha256: hash), operation: operation)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw failure(status: status, body: await collectText(response), operation: operation, key: key)
        }
        await drain(response)
        guard let etag = response.headers.first(name: "etag"), !etag.isEmpty else {
            throw ReelError(.storageFailed, "S3 \(operation) of '\(key)' answered without an ETag")
        }
        return etag
    }

    func completeMultipartUpload(_ key: String, uploadId: String, etags: [String]) async throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let operation = "complete multipart upload"
        let response = try await send(.POST, key: key, query: [("uploadId", uploadId)], headers: [("content-type", "application/xml")],
                                      payload: .data(Data(xml.utf8)), operation: operation)
        let status = Int(response.status.code)
        let body = await collectText(response)
        // S3 may answer 200 and still fail: the error is then in the body (sent after a keep-alive pause).
        guard (200..<300).contains(status), S3XML.error(in: body) == nil else {
            throw failure(status: status, body: body, operation: operation, key: key)
        }
    }

    /// Best effort: a failed abort leaves parts that a bucket lifecycle rule (or a later abort) removes.
    func abortMultipartUpload(_ key: String, uploadId: String) async {
        guard let response = try? await send(.DELETE, key: key, query: [("uploadId", uploadId)], operation: "abort multipart upload")
        else { return }
        await drain(response)
    }

    /// Upload ids of the bucket's unfinished multipart uploads (for tests and clean-up).
    func pendingMultipartUploads() async throws -> [String] {
        try await unfinishedMultipartUploads().map(\.uploadId)
    }

    /// The bucket's unfinished multipart uploads (the first 1000: a sweep that finds more takes the rest next time).
    func unfinishedMultipartUploads() async throws -> [(key: String, uploadId: String, initiated: Date?)] {
        let response = try await send(.GET, key: nil, query: [("uploads", "")], operation: "ListMultipartUploads")
        let body = await collectText(response, limit: 4 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw failure(status: Int(response.status.code), body: body, operation: "ListMultipartUploads", key: nil)
        }
        return S3XML.values(of: "Upload", in: body).compactMap { entry in
            guard let key = S3XML.value(of: "Key", in: entry), let id = S3XML.value(of: "UploadId", in: entry) else { return nil }
            return (key, id, S3XML.value(of: "Initiated", in: entry).flatMap(S3XML.date))
        }
    }

    /// Aborts the multipart uploads started before `date` that a crash left unfinished (S3 keeps and bills their
    /// parts until then). One whose start S3 does not say is left alone.
    @discardableResult
    public func removeUnfinishedWrites(startedBefore date: Date) async throws -> Int {
        var aborted = 0
        for upload in try await unfinishedMultipartUploads() {
            guard let initiated = upload.initiated, initiated < date, (try? ObjectKeys.validate(upload.key)) != nil else { continue }
            await abortMultipartUpload(upload.key, uploadId: upload.uploadId)
            aborted += 1
        }
        return aborted
    }

    // MARK: download

    func download(_ key: String, to temporary: String) async throws {
        let response = try await send(.GET, key: key, operation: "GET")
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = await collectText(response)
            if status == 404, S3XML.error(in: body)?.code != "NoSuchBucket" {
                throw ReelError(.fileNotFound, "no object '\(key)' in bucket '\(config.bucket)'")
            }
            throw failure(status: status, body: body, operation: "GET", key: key)
        }
        let announced = response.headers.first(name: "content-length").flatMap(Int64.init)
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw ReelError(.outputNotWritable, "cannot write '\(temporary)'")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        defer { try? handle.close() }
        var received: Int64 = 0
        // One network chunk at a time: a large video never sits whole in memory.
        var chunks = response.body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do {
                next = try await chunks.next()
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                throw InterruptedDownload(error: ReelError(.storageUnavailable,
                    "S3 GET '\(key)' broke off after \(received) bytes (\(Self.describe(error)))"))
            }
            guard let chunk = next else { break }
            received += Int64(chunk.readableBytes)
            do {
                try chunk.withUnsafeReadableBytes { try handle.write(contentsOf: $0) }
            } catch {
                throw ReelError(.outputNotWritable, "cannot write '\(temporary)' (\(error.localizedDescription))")
            }
        }
        if let announced, announced != received {
            throw InterruptedDownload(error: ReelError(.storageUnavailable,
                "S3 GET '\(key)' was cut short (\(received) of \(announced) bytes)"))
        }
    }

    /// A download whose body stopped before its end: worth starting again.
    struct InterruptedDownload: Error { var error: ReelError }

    // MARK: requests

    enum Payload: Sendable {
        case empty
        case data(Data)
        /// `length` bytes of the file from `offset`, whose SHA-256 is `sha256` (hex).
        case file(path: String, offset: Int64, length: Int64, sha256: String)

        var isEmpty: Bool { if case .empty = self { return true } else { return false } }
        var sha256: String {
            switch self {
            case .empty: return SigV4Signer.emptyPayloadHash
            case .data(let data): return SigV4Signer.sha256Hex(data)
            case .file(_, _, _, let hash): return hash
            }
        }
        var body: HTTPClientRequest.Body? {
            switch self {
            case .empty: return nil
            case .data(let data): return .bytes(ByteBuffer(bytes: data))
            case .file(let path, let offset, let length, _):
                return .stream(FileChunks(path: path, offset: offset, length: length), length: .known(length))
            }
        }
    }

    /// Where a request goes: the URL prefix (scheme and host), the `Host` header and the encoded path.
    struct Target {
        var origin: String
        var host: String
        var path: String
    }

    func target(key: String?) -> Target {
        let scheme = (config.endpoint.scheme ?? "https").lowercased()
        var host = config.endpoint.host ?? ""
        if host.contains(":") { host = "[\(host)]" }  // IPv6 literal
        if let port = config.endpoint.port, port != (scheme == "https" ? 443 : 80) { host += ":\(port)" }
        var base = config.endpoint.path
        while base.hasSuffix("/") { base.removeLast() }
        let path: String
        if config.forcePathStyle {
            path = base + "/" + config.bucket + (key.map { "/" + $0 } ?? "")
        } else {
            host = config.bucket + "." + host
            path = base + "/" + (key ?? "")
        }
        return Target(origin: "\(scheme)://\(host)", host: host, path: SigV4Signer.encodePath(path))
    }

    func presignedURL(method: String, key: String, headers: [(String, String)], expires: Duration) -> URL? {
        // S3 accepts 1 second to 7 days.
        let seconds = min(max(Int(expires.components.seconds), 1), 604_800)
        let target = target(key: key)
        let query = signer.presignedQuery(method: method, host: target.host, path: target.path, headers: headers, expires: seconds)
        return URL(string: target.origin + target.path + "?" + query)
    }

    /// Signs and sends one request, trying again (with a fresh signature and body) after a connection failure or a
    /// 500/502/503/504 answer, up to `config.maxAttempts` times. Returns the answer whatever its status; its body is
    /// not read yet.
    func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
              payload: Payload = .empty, operation: String) async throws -> HTTPClientResponse {
        let target = target(key: key)
        let queryString = SigV4Signer.canonicalQuery(query)
        let url = target.origin + target.path + (query.isEmpty ? "" : "?" + queryString)
        var nanoseconds = Int64(config.requestTimeout.components.seconds) * 1_000_000_000
            + config.requestTimeout.components.attoseconds / 1_000_000_000
        if case .file(_, _, let length, _) = payload {
            nanoseconds += length * 1_000_000_000 / max(config.minimumUploadRate, 1)
        }
        let timeout = TimeAmount.nanoseconds(nanoseconds)
        var attempt = 1
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            let signed = signer.sign(method: method.rawValue, host: target.host, path: target.path, query: query,
                                     headers: headers, payloadHash: payload.sha256)
            request.headers.add(name: "host", value: target.host)
            for (name, value) in headers + signed { request.headers.add(name: name, value: value) }
            request.body = payload.body
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: timeout)
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                if error is ReelError { throw error }  // from reading the file
                guard attempt < config.maxAttempts else {
                    throw ReelError(.storageUnavailable, scrub("S3 \(operation)\(Self.quoted(key)) failed: cannot reach "
                        + "\(target.origin) (\(Self.describe(error)))"))
                }
                try await backoff(attempt)
                attempt += 1
                continue
            }
            if [500, 502, 503, 504].contains(Int(response.status.code)) && attempt < config.maxAttempts {
                await drain(response)
                try await backoff(attempt)
                attempt += 1
                continue
            }
            return response
        }
    }

    func backoff(_ attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(200 << min(attempt - 1, 5)))
    }

    func expectSuccess(_ response: HTTPClientResponse, operation: String, key: String?) async throws {
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw failure(status: status, body: await collectText(response), operation: operation, key: key)
        }
        await drain(response)
    }

    /// Reads an answer's (small) body as text; an unreadable body reads as empty.
    func collectText(_ response: HTTPClientResponse, limit: Int = 256 << 10) async -> String {
        guard let buffer = try? await response.body.collect(upTo: limit) else { return "" }
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    /// Reads and drops the rest of a body, so that the connection can serve the next request.
    func drain(_ response: HTTPClientResponse) async {
        do { for try await _ in response.body {} } catch {}
    }

    /// A `ReelError` for a failed S3 answer: S3's Code and Message, the operation, the key and the bucket, and a hint
    /// for the usual configuration mistakes.
    func failure(status: Int, body: String?, operation: String, key: String?) -> ReelError {
        let parsed = body.flatMap { S3XML.error(in: $0) }
        let code: ReelError.Code
        switch (status, parsed?.code) {
        case (_, "NoSuchKey"): code = .fileNotFound
        case (_, "SlowDown"), (500..., _): code = .storageUnavailable
        case (_, "SignatureDoesNotMatch"), (_, "InvalidAccessKeyId"), (_, "AccessDenied"), (_, "RequestTimeTooSkewed"),
             (_, "ExpiredToken"), (_, "InvalidToken"), (401, _), (403, _): code = .storageAuth
        default: code = .storageFailed
        }
        var message = key.map { "S3 \(operation) '\($0)' in bucket '\(config.bucket)' failed: " }
            ?? "S3 \(operation) of bucket '\(config.bucket)' failed: "
        if let parsed {
            message += parsed.code + (parsed.message.map { ": " + $0 } ?? "") + " (HTTP \(status))"
        } else {
            message += "HTTP \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)"
        }
        switch parsed?.code {
        case "SignatureDoesNotMatch": message += "; check S3_SECRET_ACCESS_KEY, and that S3_REGION is the bucket's region"
        case "InvalidAccessKeyId": message += "; check S3_ACCESS_KEY_ID"
        case "AccessDenied": message += "; the access key lacks permission on this bucket"
        case "NoSuchBucket": message += "; check S3_BUCKET (or create the bucket)"
        case "RequestTimeTooSkewed": message += "; this machine's clock is off"
        case nil where status == 403: message += " (no details in the answer); check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"
        default: break
        }
        return ReelError(code, scrub(message))
    }

    /// Belt and braces: S3 never echoes the secret, but a message must not carry it whatever the server sends.
    func scrub(_ text: String) -> String {
        config.secretAccessKey.isEmpty ? text : text.replacingOccurrences(of: config.secretAccessKey, with: "[secret]")
    }

    static func quoted(_ key: String?) -> String { key.map { " '\($0)'" } ?? "" }

    /// A transport error in a few words (AsyncHTTPClient and NIO errors name no headers or bodies).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return String(describing: error) }
        return String(describing: error).prefix(200).description
    }
}
