import Crypto
import Foundation
import ReelCore

/// AWS Signature Version 4 (header and query-string auth) on swift-crypto's SHA-256 and HMAC-SHA256.
///
/// Written by hand because the package mirror has no S3 SDK. It follows the S3 flavour of the algorithm: the path is
/// used as given (already URI-encoded once, never normalised or encoded twice), every query parameter is encoded with
/// `uriEncode`, and the payload hash is a header (`x-amz-content-sha256`) that is signed too.
public struct SigV4Signer: Sendable {
    public var accessKeyId: String
    /// Kept internal and out of `description` so no log or error can print it.
    let secretAccessKey: String
    public var region: String
    public var service: String

    /// SHA-256 of no bytes, the payload hash of a request without a body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    /// The payload hash of presigned URLs: the body is not known when the URL is made.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let algorithm = "AWS4-HMAC-SHA256"

    public init(accessKeyId: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyId = accessKeyId; self.secretAccessKey = secretAccessKey; self.region = region; self.service = service
    }

    /// The headers to add to a request so that it is signed: `x-amz-date`, `x-amz-content-sha256` and `authorization`.
    ///
    /// - Parameters:
    ///   - host: the `Host` header the request will carry (with `:port` when the port is not the scheme's default).
    ///   - path: the URI-encoded path, exactly as it goes on the request line (`SigV4Signer.encodePath`).
    ///   - query: query parameters, not yet encoded (`uploads` with an empty value for `?uploads`).
    ///   - headers: other headers to sign (`content-type`, `range`, ...); `host` is added here.
    public func sign(method: String, host: String, path: String, query: [(String, String)] = [],
                     headers: [(String, String)] = [], payloadHash: String, date: Date = Date()) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        var all = headers
        all.append(("host", host))
        all.append(("x-amz-date", stamp.full))
        all.append(("x-amz-content-sha256", payloadHash))
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(all)
        let canonical = [method, path, Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(stamp.day)/\(region)/\(service)/aws4_request"
        let signature = self.signature(canonicalRequest: canonical, timestamp: stamp.full, day: stamp.day, scope: scope)
        let authorization = "\(Self.algorithm) Credential=\(accessKeyId)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"
        return [("x-amz-date", stamp.full), ("x-amz-content-sha256", payloadHash), ("authorization", authorization)]
    }

    /// The encoded query string of a presigned URL (query-string auth): the given parameters plus `X-Amz-Algorithm`,
    /// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders` and `X-Amz-Signature`.
    /// `headers` (besides `host`) must then be sent by the client with exactly these values (`content-type` for a PUT).
    public func presignedQuery(method: String, host: String, path: String, query: [(String, String)] = [],
                               headers: [(String, String)] = [], expires: Int, date: Date = Date()) -> String {
        let stamp = Self.timestamp(date)
        let scope = "\(stamp.day)/\(region)/\(service)/aws4_request"
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers + [("host", host)])
        var parameters = query
        parameters.append(("X-Amz-Algorithm", Self.algorithm))
        parameters.append(("X-Amz-Credential", "\(accessKeyId)/\(scope)"))
        parameters.append(("X-Amz-Date", stamp.full))
        parameters.append(("X-Amz-Expires", String(expires)))
        parameters.append(("X-Amz-SignedHeaders", signedHeaders))
        let canonicalQuery = Self.canonicalQuery(parameters)
        let canonical = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, Self.unsignedPayload]
            .joined(separator: "\n")
        let signature = self.signature(canonicalRequest: canonical, timestamp: stamp.full, day: stamp.day, scope: scope)
        return canonicalQuery + "&X-Amz-Signature=" + signature
    }

    func signature(canonicalRequest: String, timestamp: String, day: String, scope: String) -> String {
        let stringToSign = [Self.algorithm, timestamp, scope, ContentHash.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return ContentHash.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    // MARK: canonical forms

    /// Sorted `name=value` pairs, both encoded (`/` too), joined with `&`.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.0, encodeSlash: true), uriEncode(pair.1, encodeSlash: true))
        }
        // Plain code-unit order (all ASCII after encoding), as SigV4 asks.
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// Lower-case names, trimmed values with inner runs of spaces collapsed, sorted by name; repeated names joined
    /// with commas. Returns the canonical header block (each line ending in a newline) and the signed-header list.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.trimmingCharacters(in: .whitespaces)
                .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(trimmed)
        }
        let names = merged.keys.sorted()
        let block = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    /// RFC 3986 encoding as SigV4 wants it: every byte except `A-Z a-z 0-9 - . _ ~` (and `/` when `encodeSlash` is
    /// false) becomes `%XY` with upper-case hex.
    public static func uriEncode(_ string: String, encodeSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            if isUnreserved(byte) || (byte == 0x2F && !encodeSlash) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// `A-Z a-z 0-9 - . _ ~`.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
    }

    /// An object path (`/bucket/key` or `/key`) encoded once for both the request line and the signature.
    public static func encodePath(_ path: String) -> String { uriEncode(path, encodeSlash: false) }

    /// Hex SHA-256 of bytes held in memory (small bodies: XML documents, forms).
    public static func sha256Hex(_ data: Data) -> String { ContentHash.sha256(data) }

    /// `20130524T000000Z` and `20130524` in UTC, without a DateFormatter (not thread-safe on every platform).
    static func timestamp(_ date: Date) -> (full: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d%02d%02d", c.year!, c.month!, c.day!)
        return (day + String(format: "T%02d%02d%02dZ", c.hour!, c.minute!, c.second!), day)
    }
}

extension SigV4Signer: CustomStringConvertible, CustomReflectable {
    /// Names the key id and scope, never the secret.
    public var description: String { "SigV4Signer(accessKeyId: \(accessKeyId), region: \(region), service: \(service))" }
    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyId": accessKeyId, "region": region, "service": service])
    }
}
