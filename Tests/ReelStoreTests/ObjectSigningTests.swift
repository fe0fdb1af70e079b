import AsyncHTTPClient
import Foundation
import ReelCore
@testable import ReelStore
import Testing

/// Signature Version 4 against AWS's documented examples (S3 API reference, "Signature Calculations for the
/// Authorization Header" and "Authenticating Requests: Using Query Parameters"), and the S3 settings.
@Suite struct ObjectStoreSigningTests {
    static let example = SigV4Signer(accessKeyId: "AKIAIOSFODNN7EXAMPLE",
                                     secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let exampleDate = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let host = "examplebucket.s3.amazonaws.com"

    static func authorization(_ headers: [(String, String)]) -> String? { headers.first { $0.0 == "authorization" }?.1 }

    @Test func getObjectExample() {
        let headers = Self.example.sign(method: "GET", host: Self.host, path: "/test.txt", headers: [("Range", "bytes=0-9")],
                                        payloadHash: SigV4Signer.emptyPayloadHash, date: Self.exampleDate)
        #expect(Self.authorization(headers) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
        #expect(headers.contains { $0 == ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash) })
    }

    @Test func putObjectExample() {
        let body = Data("Welcome to Amazon S3.".utf8)
        #expect(SigV4Signer.sha256Hex(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let headers = Self.example.sign(method: "PUT", host: Self.host, path: SigV4Signer.encodePath("/test$file.text"),
                                        headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                        payloadHash: SigV4Signer.sha256Hex(body), date: Self.exampleDate)
        #expect(Self.authorization(headers)?.hasSuffix(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
            + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    @Test func queryExamples() {
        let lifecycle = Self.example.sign(method: "GET", host: Self.host, path: "/", query: [("lifecycle", "")],
                                          payloadHash: SigV4Signer.emptyPayloadHash, date: Self.exampleDate)
        #expect(Self.authorization(lifecycle)?.hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
        // Parameters given out of order are sorted.
        let list = Self.example.sign(method: "GET", host: Self.host, path: "/", query: [("prefix", "J"), ("max-keys", "2")],
                                     payloadHash: SigV4Signer.emptyPayloadHash, date: Self.exampleDate)
        #expect(Self.authorization(list)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func presignedURLExample() {
        let query = Self.example.presignedQuery(method: "GET", host: Self.host, path: "/test.txt", expires: 86_400, date: Self.exampleDate)
        #expect(query == "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b/ü~.-_*", encodeSlash: false) == "a%20b/%C3%BC~.-_%2A")
        #expect(SigV4Signer.uriEncode("a/b+c=", encodeSlash: true) == "a%2Fb%2Bc%3D")
    }

    @Test func secretNeverPrinted() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        #expect(!"\(Self.example)".contains(secret))
        #expect(!String(reflecting: Self.example).contains(secret))
        let config = S3Config(endpoint: URL(string: "http://127.0.0.1:9000")!, bucket: "media", accessKeyId: "AKID",
                              secretAccessKey: secret)
        #expect(!"\(config)".contains(secret))
        #expect(!String(reflecting: config).contains(secret))
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains(secret))
        let store = S3ObjectStore(config: config, httpClient: HTTPClient.shared)
        #expect(!"\(store)".contains(secret))
        #expect(!String(reflecting: store).contains(secret))
    }

    @Test func s3ErrorDocuments() {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>AccessDenied</Code><Message>Access &amp; &quot;denied&quot; &lt;here&gt;</Message>
            <RequestId>4442587FB7D0A2F9</RequestId></Error>
            """
        let parsed = S3XML.error(in: body)
        #expect(parsed?.code == "AccessDenied")
        #expect(parsed?.message == "Access & \"denied\" <here>")
        #expect(S3XML.error(in: "<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>") == nil)
        #expect(S3XML.values(of: "UploadId", in: "<U><UploadId>a</UploadId></U><U><UploadId>b&amp;c</UploadId></U>") == ["a", "b&c"])
        #expect(S3XML.escape("\"e\"&<>") == "&quot;e&quot;&amp;&lt;&gt;")
    }

    // MARK: addressing

    @Test func pathAndVirtualHostedStyle() async throws {
        let client = HTTPClient.shared
        var config = S3Config(endpoint: URL(string: "http://127.0.0.1:9000")!, bucket: "media", accessKeyId: "AKID",
                              secretAccessKey: "s3cr3t-value")
        let pathStyle = S3ObjectStore(config: config, httpClient: client).target(key: "assets/p/a.mp4")
        #expect(pathStyle.origin == "http://127.0.0.1:9000")
        #expect(pathStyle.host == "127.0.0.1:9000")
        #expect(pathStyle.path == "/media/assets/p/a.mp4")

        config.endpoint = URL(string: "https://s3.eu-west-1.amazonaws.com")!
        config.region = "eu-west-1"
        config.forcePathStyle = false
        let virtual = S3ObjectStore(config: config, httpClient: client)
        let target = virtual.target(key: "assets/p/a.mp4")
        #expect(target.origin == "https://media.s3.eu-west-1.amazonaws.com")
        #expect(target.host == "media.s3.eu-west-1.amazonaws.com")
        #expect(target.path == "/assets/p/a.mp4")
        #expect(virtual.target(key: nil).path == "/")

        let url = try #require(try await virtual.presignedPut("assets/p/a.mp4", contentType: "video/mp4", contentLength: 1234, expires: .seconds(600)))
        let text = url.absoluteString
        #expect(text.hasPrefix("https://media.s3.eu-west-1.amazonaws.com/assets/p/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&"))
        #expect(text.contains("X-Amz-Expires=600&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature="))
        #expect(text.contains("%2Feu-west-1%2Fs3%2Faws4_request"))
        #expect(!text.contains("s3cr3t-value"))
        // S3's range: one second to seven days.
        let long = try #require(try await virtual.presignedGet("a.mp4", expires: .seconds(30 * 86_400)))
        #expect(long.absoluteString.contains("X-Amz-Expires=604800&X-Amz-SignedHeaders=host&"))
    }

    @Test func s3StoreRejectsUnsafeKeys() async throws {
        let config = S3Config(endpoint: URL(string: "http://127.0.0.1:9")!, bucket: "media", accessKeyId: "AKID", secretAccessKey: "x")
        let store = S3ObjectStore(config: config, httpClient: HTTPClient.shared)
        for key in ["", "/etc/passwd", "../up", "a b", "a/../b"] {
            let error = await #expect(throws: ReelError.self) { try await store.head(key) }
            #expect(error?.code == .badInput)
            await #expect(throws: ReelError.self) { _ = try await store.presignedGet(key, expires: .seconds(60)) }
        }
    }

    // MARK: environment

    @Test func environmentWithoutBucketIsNil() throws {
        #expect(try S3Config.fromEnvironment([:]) == nil)
        #expect(try S3Config.fromEnvironment(["S3_BUCKET": "  ", "S3_REGION": "eu-west-1"]) == nil)
    }

    @Test func environmentComplete() throws {
        let custom = try #require(try S3Config.fromEnvironment([
            "S3_ENDPOINT": "http://127.0.0.1:9000", "S3_BUCKET": "reel-media", "S3_ACCESS_KEY_ID": "AKID",
            "S3_SECRET_ACCESS_KEY": "very-secret", "S3_REGION": "eu-central-1",
        ]))
        #expect(custom.endpoint.absoluteString == "http://127.0.0.1:9000")
        #expect(custom.bucket == "reel-media" && custom.region == "eu-central-1" && custom.accessKeyId == "AKID")
        #expect(custom.secretAccessKey == "very-secret")
        #expect(custom.forcePathStyle, "custom endpoints default to path style")
        #expect(custom.multipartThreshold == 64 << 20 && custom.partSize == 16 << 20)

        let aws = try #require(try S3Config.fromEnvironment([
            "S3_BUCKET": "reel-media", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret",
        ]))
        #expect(aws.endpoint.absoluteString == "https://s3.us-east-1.amazonaws.com")
        #expect(!aws.forcePathStyle)

        let forced = try #require(try S3Config.fromEnvironment([
            "S3_BUCKET": "Reel_Media", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret",
            "S3_FORCE_PATH_STYLE": "true",
        ]))
        #expect(forced.forcePathStyle)
        let virtual = try #require(try S3Config.fromEnvironment([
            "S3_ENDPOINT": "https://minio.example:9000", "S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID",
            "S3_SECRET_ACCESS_KEY": "very-secret", "S3_FORCE_PATH_STYLE": "false",
        ]))
        #expect(!virtual.forcePathStyle)
    }

    @Test(arguments: [
        (["S3_ENDPOINT": "http://127.0.0.1:9000", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret"], "S3_BUCKET"),
        (["S3_SECRET_ACCESS_KEY": "very-secret"], "S3_BUCKET"),
        (["S3_BUCKET": "media", "S3_SECRET_ACCESS_KEY": "very-secret"], "S3_ACCESS_KEY_ID"),
        (["S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID"], "S3_SECRET_ACCESS_KEY"),
        (["S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret", "S3_ENDPOINT": "ftp://x"], "S3_ENDPOINT"),
        (["S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret", "S3_ENDPOINT": "http://x",
          "S3_FORCE_PATH_STYLE": "maybe"], "S3_FORCE_PATH_STYLE"),
        (["S3_BUCKET": "Bad_Bucket", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret"], "S3_BUCKET"),
        (["S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID", "S3_SECRET_ACCESS_KEY": "very-secret", "S3_REGION": "us east"], "S3_REGION"),
    ])
    func partialEnvironmentIsABadInput(env: [String: String], names: String) throws {
        let error = #expect(throws: ReelError.self) { try S3Config.fromEnvironment(env) }
        #expect(error?.code == .badInput)
        #expect(error?.message.contains(names) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("very-secret") == false)
    }
}
