import Foundation
import ReelCore

/// Where and how to reach an S3-compatible bucket (AWS S3, MinIO, moto, ...), read from `S3_*` variables.
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

    /// The S3 settings of an environment (CONTRACTS.md): nil when `S3_BUCKET` is unset or empty and no other S3
    /// setting that only makes sense with a bucket is given.
    ///
    /// - `S3_BUCKET` (required for S3), `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY` (both required with a bucket).
    /// - `S3_ENDPOINT`: `http(s)://host[:port][/base]`; default `https://s3.<region>.amazonaws.com`.
    /// - `S3_REGION`: default `us-east-1`.
    /// - `S3_FORCE_PATH_STYLE`: `true`/`false` (also `1`/`0`, `yes`/`no`); default true with a custom endpoint,
    ///   false for AWS.
    ///
    /// Throws `ReelError(.badInput)` naming what is missing or wrong when the settings are partial: an endpoint or
    /// keys without a bucket (which would silently fall back to local files), a bucket without both keys, a malformed
    /// endpoint, bucket name or flag. Messages never contain the secret.
    public static func fromEnvironment(_ env: [String: String]) throws -> S3Config? {
        func value(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        guard let bucket = value("S3_BUCKET") else {
            let stray = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"].filter { value($0) != nil }
            if !stray.isEmpty {
                throw ReelError(.badInput, "S3 storage is partly configured: \(stray.joined(separator: ", ")) "
                    + "\(stray.count == 1 ? "is" : "are") set but S3_BUCKET is not; set S3_BUCKET too, or unset them "
                    + "to store objects in the data directory")
            }
            return nil
        }
        let missing = ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"].filter { value($0) == nil }
        if !missing.isEmpty {
            throw ReelError(.badInput, "S3_BUCKET is set but \(missing.joined(separator: " and ")) "
                + "\(missing.count == 1 ? "is" : "are") not; S3 storage needs both keys")
        }
        let region = value("S3_REGION") ?? "us-east-1"
        guard region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw ReelError(.badInput, "S3_REGION '\(region)' is not a region name (like us-east-1)")
        }

        let endpoint: URL
        let customEndpoint = value("S3_ENDPOINT")
        if let raw = customEndpoint {
            guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil else {
                throw ReelError(.badInput, "S3_ENDPOINT '\(raw)' is not an http(s) URL like http://127.0.0.1:9000")
            }
            endpoint = url
        } else {
            endpoint = URL(string: "https://s3.\(region).amazonaws.com")!
        }

        var pathStyle = customEndpoint != nil
        if let flag = value("S3_FORCE_PATH_STYLE") {
            switch flag.lowercased() {
            case "true", "1", "yes", "on": pathStyle = true
            case "false", "0", "no", "off": pathStyle = false
            default: throw ReelError(.badInput, "S3_FORCE_PATH_STYLE must be true or false, not '\(flag)'")
            }
        }
        try validateBucket(bucket, pathStyle: pathStyle)
        return S3Config(endpoint: endpoint, bucket: bucket, region: region, accessKeyId: value("S3_ACCESS_KEY_ID")!,
                        secretAccessKey: value("S3_SECRET_ACCESS_KEY")!, forcePathStyle: pathStyle)
    }

    /// Bucket names go into host names (virtual-hosted style) or the path: S3's rules, 3 to 63 of `a-z 0-9 . -`,
    /// starting and ending with a letter or digit. Path style also allows upper case and `_` (older and
    /// S3-compatible servers accept them).
    static func validateBucket(_ bucket: String, pathStyle: Bool) throws {
        func allowed(_ c: Character) -> Bool {
            guard c.isASCII else { return false }
            if c.isNumber || c == "." || c == "-" { return true }
            if pathStyle { return c.isLetter || c == "_" }
            return c.isLowercase
        }
        func alphanumeric(_ c: Character?) -> Bool { c.map { $0.isASCII && ($0.isLetter || $0.isNumber) } ?? false }
        let edges = alphanumeric(bucket.first) && alphanumeric(bucket.last)
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ allowed($0) }), edges else {
            throw ReelError(.badInput, "S3_BUCKET '\(bucket)' is not a valid bucket name (3-63 characters of a-z, 0-9, "
                + "'.' and '-'\(pathStyle ? "" : "; upper case and '_' need S3_FORCE_PATH_STYLE=true")))")
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
