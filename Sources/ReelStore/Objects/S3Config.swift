import Foundation
import ReelCore

/// Where and how to reach an S3-compatible bucket (AWS S3, MinIO, moto, ...), made from the `S3_*` settings.
public struct S3Config: Sendable {
    /// Scheme, host, optional port and optional base path; no bucket in it.
    public var endpoint: URL
    public var bucket: String
    public var region: String
    public var accessKeyId: String
    /// Kept out of `description` and `customMirror`, so printing a config never shows it.
    public var secretAccessKey: String
    /// `http://host/bucket/key` instead of `http://bucket.host/key`. Custom endpoints (MinIO, moto) need it.
    public var forcePathStyle: Bool
    /// Files larger than this go up as a multipart upload.
    public var multipartThreshold: Int64
    /// Size of each part but the last. S3 refuses parts under 5 MiB (except the last) when completing the upload.
    public var partSize: Int64
    /// Parts in flight at once (each streams from the file, so memory stays small).
    public var partConcurrency: Int
    /// Longest wait for the answer to a request without a large body. It also bounds how long an unreachable
    /// endpoint takes to fail (AsyncHTTPClient keeps retrying the connection until the request's deadline).
    public var requestTimeout: Duration
    /// Uploads get `requestTimeout` plus their size at this rate (bytes per second) to send their body: a 16 MiB
    /// part may take 60 s + 64 s before it counts as stuck.
    public var minimumUploadRate: Int64
    /// Attempts for a request that failed for a passing reason (connection lost, 5xx, SlowDown).
    public var maxAttempts: Int

    public static let defaultMultipartThreshold: Int64 = 64 << 20
    public static let defaultPartSize: Int64 = 16 << 20
    /// S3's smallest part (all parts but the last).
    public static let minimumPartSize: Int64 = 5 << 20

    public init(endpoint: URL, bucket: String, region: String = "us-east-1", accessKeyId: String, secretAccessKey: String,
                forcePathStyle: Bool = true, multipartThreshold: Int64 = S3Config.defaultMultipartThreshold,
                partSize: Int64 = S3Config.defaultPartSize, partConcurrency: Int = 4,
                requestTimeout: Duration = .seconds(60), minimumUploadRate: Int64 = 256 << 10, maxAttempts: Int = 3) {
        self.endpoint = endpoint; self.bucket = bucket; self.region = region; self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey; self.forcePathStyle = forcePathStyle
        self.multipartThreshold = multipartThreshold; self.partSize = partSize; self.partConcurrency = partConcurrency
        self.requestTimeout = requestTimeout; self.minimumUploadRate = minimumUploadRate; self.maxAttempts = maxAttempts
    }

    /// One S3 setting, for messages: the caller says how each is named where the user set it (environment variable,
    /// configuration file key).
    public enum Setting: Sendable, CaseIterable {
        case endpoint, bucket, region, accessKeyId, secretAccessKey, forcePathStyle
    }

    /// The S3 storage that settings describe (each nil when unset; the caller reads them: `ReelCLI`'s configuration),
    /// or nil when no bucket and no setting that only makes sense with a bucket is given.
    ///
    /// - `bucket` (required for S3), `accessKeyId` and `secretAccessKey` (both required with a bucket).
    /// - `endpoint`: `http(s)://host[:port][/base]`; default `https://s3.<region>.amazonaws.com`.
    /// - `region`: default `us-east-1`.
    /// - `forcePathStyle`: default true with a custom endpoint, false for AWS.
    ///
    /// Throws `ReelError(.badInput)` naming (through `name`) what is missing or wrong when the settings are partial: an
    /// endpoint or keys without a bucket (which would silently fall back to local files), a bucket without both keys, a
    /// malformed endpoint, bucket or region. Messages never contain the secret.
    public static func validated(endpoint customEndpoint: String?, bucket: String?, region: String?, accessKeyId: String?,
                                 secretAccessKey: String?, forcePathStyle: Bool?,
                                 name: (Setting) -> String) throws -> S3Config? {
        func given(_ v: String?) -> String? {
            guard let v = v?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        let customEndpoint = given(customEndpoint), accessKeyId = given(accessKeyId), secretAccessKey = given(secretAccessKey)
        guard let bucket = given(bucket) else {
            let stray = [(Setting.endpoint, customEndpoint), (.accessKeyId, accessKeyId), (.secretAccessKey, secretAccessKey)]
                .filter { $0.1 != nil }.map { name($0.0) }
            if !stray.isEmpty {
                throw ReelError(.badInput, "S3 storage is partly configured: \(stray.joined(separator: ", ")) "
                    + "\(stray.count == 1 ? "is" : "are") set but \(name(.bucket)) is not; set \(name(.bucket)) too, or unset them "
                    + "to store objects in the data directory")
            }
            return nil
        }
        guard let accessKeyId, let secretAccessKey else {
            let missing = [(Setting.accessKeyId, accessKeyId), (.secretAccessKey, secretAccessKey)].filter { $0.1 == nil }.map { name($0.0) }
            throw ReelError(.badInput, "\(name(.bucket)) is set but \(missing.joined(separator: " and ")) "
                + "\(missing.count == 1 ? "is" : "are") not; S3 storage needs both keys")
        }
        let region = given(region) ?? "us-east-1"
        guard region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw ReelError(.badInput, "\(name(.region)) '\(region)' is not a region name (like us-east-1)")
        }

        let endpoint: URL
        if let raw = customEndpoint {
            guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil else {
                throw ReelError(.badInput, "\(name(.endpoint)) '\(raw)' is not an http(s) URL like http://127.0.0.1:9000")
            }
            endpoint = url
        } else {
            endpoint = URL(string: "https://s3.\(region).amazonaws.com")!
        }

        let pathStyle = forcePathStyle ?? (customEndpoint != nil)
        try validateBucket(bucket, pathStyle: pathStyle, name: name)
        return S3Config(endpoint: endpoint, bucket: bucket, region: region, accessKeyId: accessKeyId,
                        secretAccessKey: secretAccessKey, forcePathStyle: pathStyle)
    }

    /// Bucket names go into host names (virtual-hosted style) or the path: S3's rules, 3 to 63 of `a-z 0-9 . -`,
    /// starting and ending with a letter or digit. Path style also allows upper case and `_` (older and
    /// S3-compatible servers accept them).
    static func validateBucket(_ bucket: String, pathStyle: Bool, name: (Setting) -> String) throws {
        func allowed(_ c: Character) -> Bool {
            guard c.isASCII else { return false }
            if c.isNumber || c == "." || c == "-" { return true }
            if pathStyle { return c.isLetter || c == "_" }
            return c.isLowercase
        }
        func alphanumeric(_ c: Character?) -> Bool { c.map { $0.isASCII && ($0.isLetter || $0.isNumber) } ?? false }
        let edges = alphanumeric(bucket.first) && alphanumeric(bucket.last)
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ allowed($0) }), edges else {
            throw ReelError(.badInput, "\(name(.bucket)) '\(bucket)' is not a valid bucket name (3-63 characters of a-z, 0-9, "
                + "'.' and '-'\(pathStyle ? "" : "; upper case and '_' need \(name(.forcePathStyle)) true")))")
        }
    }
}

extension S3Config: CustomStringConvertible, CustomReflectable {
    /// Everything but the secret.
    public var description: String {
        "S3Config(endpoint: \(endpoint.absoluteString), bucket: \(bucket), region: \(region), accessKeyId: \(accessKeyId), "
            + "forcePathStyle: \(forcePathStyle))"
    }
    public var customMirror: Mirror {
        Mirror(self, children: ["endpoint": endpoint, "bucket": bucket, "region": region, "accessKeyId": accessKeyId,
                                "forcePathStyle": forcePathStyle, "multipartThreshold": multipartThreshold,
                                "partSize": partSize])
    }
}
