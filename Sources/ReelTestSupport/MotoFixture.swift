import AsyncHTTPClient
import Foundation
import NIOCore
import ReelCore
import ReelStore

/// A moto S3 server on loopback that tests talk to as they would to S3.
public struct MotoServer: Sendable {
    /// `http://127.0.0.1:PORT`.
    public let endpoint: URL
    public let port: Int
    public let region: String
    public let accessKeyId: String
    public let secretAccessKey: String
    /// True for the server made by `MotoFixture.authenticating()`: it checks every request's signature.
    public let checksSignatures: Bool

    /// A config for a bucket on this server (a fresh, uniquely named one unless `bucket` is given), path style.
    /// The multipart sizes are the store's defaults unless set (tests use small ones, like 5 MiB parts).
    public func config(bucket: String? = nil, multipartThreshold: Int64 = S3Config.defaultMultipartThreshold,
                       partSize: Int64 = S3Config.defaultPartSize, secretAccessKey: String? = nil) -> S3Config {
        S3Config(endpoint: endpoint, bucket: bucket ?? "reel-\(UUID().uuidString.prefix(8).lowercased())", region: region,
                 accessKeyId: accessKeyId, secretAccessKey: secretAccessKey ?? self.secretAccessKey, forcePathStyle: true,
                 multipartThreshold: multipartThreshold, partSize: partSize, requestTimeout: .seconds(60))
    }
}

/// Starts moto's S3 server (`moto_server` from the venv `scripts/python-tools.sh` makes, or `$REELSMITH_MOTO_SERVER`)
/// on a free loopback port, once per test process, and stops it when the process ends.
///
/// A test that needs it FAILS, with the command to run, when moto is not installed: S3 support is not tested by
/// pretending. Moto runs under a small watchdog shell that polls the test process and kills moto within half a
/// second of its end, however it ends (normal exit, crash, kill -9), so no server is left behind.
public enum MotoFixture {
    /// The moto server of this test process. It does not check signatures (moto's default), so presigned URLs and
    /// unsigned requests work against it.
    public static func shared() async throws -> MotoServer { try await sharedServer.value }

    /// A second moto server that checks every request's Signature V4 (with botocore's own signer) against an IAM
    /// user made for it, and its permissions: a wrong secret gets S3's `SignatureDoesNotMatch`. Presigned URLs do not
    /// work against it (moto's checker expects an `Authorization` header).
    public static func authenticating() async throws -> MotoServer { try await authenticatingServer.value }

    /// Where `moto_server` is looked for.
    public static var serverPath: String {
        if let path = ProcessInfo.processInfo.environment["REELSMITH_MOTO_SERVER"], !path.isEmpty { return path }
        return packageRoot.appendingPathComponent(".build/pytools/bin/moto_server").path
    }

    private static let sharedServer = Task { try await start(checkingSignatures: false) }
    private static let authenticatingServer = Task { try await start(checkingSignatures: true) }

    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }

    // MARK: starting

    static func start(checkingSignatures: Bool) async throws -> MotoServer {
        let moto = serverPath
        guard FileManager.default.isExecutableFile(atPath: moto) else {
            throw ReelError(.toolMissing, "moto_server is not installed at \(moto): run scripts/python-tools.sh "
                + "(it makes .build/pytools with the pinned moto[server]), or set REELSMITH_MOTO_SERVER")
        }
        // Port 0: moto binds a port the kernel picks and prints it. Picking a "free" port first and passing it
        // was racy when two test processes start at once: the other process's moto could take the port, and the
        // readiness probe would then talk to (and the tests use) a server the other process owns and kills.
        let (server, port) = try await launch(moto)
        guard checkingSignatures else {
            return MotoServer(endpoint: URL(string: "http://127.0.0.1:\(port)")!, port: port, region: "us-east-1",
                              accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-test-secret",
                              checksSignatures: false)
        }
        return try await enableAuthentication(port: port, process: server)
    }

    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs moto under a watchdog shell on a port of the kernel's choosing; returns once it answers HTTP there.
    static func launch(_ moto: String) async throws -> (ChildProcess, Int) {
        let log = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-moto-\(getpid())-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        // SIGKILL, not SIGTERM: processes spawned from the test runner's threads inherit a signal mask that blocks
        // SIGTERM, so moto would not hear it. The log goes with moto: nothing is left in the temporary folder.
        let watchdog = """
            "$1" -H 127.0.0.1 -p 0 &
            child=$!
            while kill -0 "$2" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
            kill -KILL $child 2>/dev/null
            wait $child
            rm -f "$3"
            """
        // The shell's output (moto's log, with the port it took) goes to `log` through the shell's own redirect.
        let process = try ChildProcess("/bin/sh", ["-c", "exec >\"$3\" 2>&1\n" + watchdog, "moto-watchdog", moto, String(getpid()), log],
                                       environment: ["PYTHONUNBUFFERED": "1"], captureOutput: false)

        let client = HTTPClient.shared
        // Generous: on a loaded 2-core CI machine moto's first import (boto3, werkzeug, ...) can take many seconds.
        let deadline = ContinuousClock.now + .seconds(90)
        var port: Int?
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if !process.isRunning {
                throw LaunchError(description: "moto_server exited at start (log \(log)): \(text.suffix(800))")
            }
            if port == nil { port = announcedPort(in: text) }
            if let port {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/moto-api/")
                request.method = .GET
                if let response = try? await client.execute(request, timeout: .seconds(2)) {
                    _ = try? await response.body.collect(upTo: 4 << 20)
                    return (process, port)
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        // The watchdog still ends moto when the test process ends.
        throw ReelError(.processFailed, "moto_server did not answer within 90 s (log \(log))")
    }

    /// The port in moto's (werkzeug's) "Running on http://127.0.0.1:PORT" line.
    static func announcedPort(in log: String) -> Int? {
        guard let range = log.range(of: "Running on http://127.0.0.1:") else { return nil }
        let digits = log[range.upperBound...].prefix { $0.isNumber }
        guard let port = Int(digits), port > 0, port < 65536 else { return nil }
        return port
    }

    // MARK: signature checking

    /// Makes an IAM user with an access key allowed `s3:*`, then turns on moto's request authentication
    /// (`/moto-api/reset-auth` with 0 unauthenticated requests left): from then on every request is checked.
    static func enableAuthentication(port: Int, process: ChildProcess) async throws -> MotoServer {
        let base = "http://127.0.0.1:\(port)"
        let user = "reelsmith-tests"
        _ = try await iam(base, ["Action": "CreateUser", "UserName": user])
        let created = try await iam(base, ["Action": "CreateAccessKey", "UserName": user])
        guard let keyId = xmlValue("AccessKeyId", in: created), let secret = xmlValue("SecretAccessKey", in: created) else {
            throw ReelError(.processFailed, "moto's IAM CreateAccessKey answered without a key: \(created.prefix(300))")
        }
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        _ = try await iam(base, ["Action": "PutUserPolicy", "UserName": user, "PolicyName": "s3-all", "PolicyDocument": policy])

        var reset = HTTPClientRequest(url: base + "/moto-api/reset-auth")
        reset.method = .POST
        reset.body = .bytes(ByteBuffer(string: "0"))
        let response = try await HTTPClient.shared.execute(reset, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else {
            throw ReelError(.processFailed, "moto's reset-auth answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        return MotoServer(endpoint: URL(string: base)!, port: port, region: "us-east-1", accessKeyId: keyId,
                          secretAccessKey: secret, checksSignatures: true)
    }

    /// One IAM query-API call (form POST, signed for service `iam`; moto routes on the signature's scope).
    static func iam(_ base: String, _ parameters: [String: String]) async throws -> String {
        var fields = parameters
        fields["Version"] = "2010-05-08"
        let form = fields.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(SigV4Signer.uriEncode($0.value, encodeSlash: true))" }
            .joined(separator: "&")
        let data = Data(form.utf8)
        let host = String(base.dropFirst("http://".count))
        let signer = SigV4Signer(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-bootstrap", region: "us-east-1",
                                 service: "iam")
        let contentType = "application/x-www-form-urlencoded; charset=utf-8"
        var request = HTTPClientRequest(url: base + "/")
        request.method = .POST
        request.headers.add(name: "content-type", value: contentType)
        for (name, value) in signer.sign(method: "POST", host: host, path: "/", headers: [("content-type", contentType)],
                                         payloadHash: SigV4Signer.sha256Hex(data)) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status.code == 200 else {
            throw ReelError(.processFailed, "moto's IAM \(parameters["Action"] ?? "") answered \(response.status.code): \(text.prefix(300))")
        }
        return text
    }

    static func xmlValue(_ tag: String, in text: String) -> String? {
        guard let start = text.range(of: "<\(tag)>"), let end = text.range(of: "</\(tag)>", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
