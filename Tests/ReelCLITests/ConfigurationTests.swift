import Foundation
import ReelCore
import ReelServer
import ReelStore
import ReelTestSupport
import Testing
@testable import ReelCLI

/// Issue 14, item 8: one configuration read at start-up (defaults < `REELSMITH_CONFIG` file < environment), refused
/// with a clear message when a key or value is wrong, and printed by `doctor` with secrets redacted.
@Suite("configuration (issue 14, item 8)", .serialized)
struct ConfigurationTests {
    /// A scratch folder with `text` written to `config.json`.
    static func file(_ text: String) throws -> (dir: String, path: String) {
        let dir = try Fixtures.temporaryDirectory("config")
        let path = dir + "/config.json"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    static func entry(_ c: Configuration, _ key: String) throws -> ConfigurationEntry {
        try #require(c.report.first { $0.key == key })
    }

    /// The error `load` throws; nil when it loads.
    static func failure(_ env: [String: String]) -> ReelError? {
        do { _ = try Configuration.load(environment: env); return nil } catch { return error as? ReelError }
    }

    @Test func defaultsWorkOnAFreshMachine() throws {
        let c = try Configuration.load(environment: [:])
        #expect(c.file == nil)
        #expect(c.dataDirectory == "data")
        #expect(c.database == .sqlite(path: "data/reelsmith.sqlite"))
        #expect(c.s3 == nil && c.publicURL == nil && !c.debug)
        #expect(c.host == "127.0.0.1" && c.port == 8080)
        #expect(c.worker.lease == .seconds(30) && c.worker.scratchRoot == "data/work" && c.sceneConcurrency == 16)
        #expect(c.limits == ServiceLimits())
        #expect(c.providers.replicateToken == nil && c.providers.replicateBaseURL == "https://api.replicate.com")
        // Every key is read (and so shown by doctor), each once, all from their defaults.
        #expect(c.report.map(\.key) == ConfigurationKey.all.map(\.key))
        #expect(c.report.allSatisfy { $0.source == .default })

        let socket = "postgres+uds://reel@localhost/var/run/postgresql/.s.PGSQL.5432#reels"
        #expect(try Configuration.load(environment: ["DATABASE_URL": socket]).database == .postgres(url: socket))
    }

    @Test func environmentOverridesTheFileWhichOverridesDefaults() throws {
        let (dir, path) = try Self.file("""
            {"dataDirectory": "/srv/reels", "port": 9000, "leaseSeconds": 5, "maxVideoBytes": 1000000, "debug": true,
             "databaseURL": "postgres://reel:pw@db.internal:5432/reels", "s3Bucket": "reel-media", "s3AccessKeyId": "AKID",
             "s3SecretAccessKey": "file-secret", "s3Endpoint": "http://127.0.0.1:9000", "publicURL": null}
            """)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Configuration.load(environment: ["REELSMITH_CONFIG": path, "REELSMITH_PORT": "9100", "REELSMITH_MAX_VIDEO_BYTES": "",
                                                     "REELSMITH_POLL_SECONDS": "0.25"])
        #expect(c.file == path)
        #expect(c.port == 9100)
        #expect(try Self.entry(c, "port").source == .env)
        #expect(c.dataDirectory == "/srv/reels" && c.worker.scratchRoot == "/srv/reels/work")
        #expect(try Self.entry(c, "dataDirectory").source == .file)
        #expect(c.worker.lease == .seconds(5) && c.worker.pollInterval == .milliseconds(250))
        #expect(c.limits.maxVideoBytes == 1_000_000, "an empty variable falls through to the file")
        #expect(c.debug && c.providerHTTP.logsRequests)
        #expect(c.database == .postgres(url: "postgres://reel:pw@db.internal:5432/reels"))
        let s3 = try #require(c.s3)
        #expect(s3.bucket == "reel-media" && s3.secretAccessKey == "file-secret" && s3.forcePathStyle)
        #expect(try Self.entry(c, "publicURL").source == .default)
        #expect(try Self.entry(c, "s3ForcePathStyle").source == .default)
    }

    @Test func theServersLimitsAreSettings() throws {
        let (dir, path) = try Self.file("""
            {"maxVideoSeconds": 120, "trustForwardedFor": true, "eventPageSize": 50, "freshSignInWindowSeconds": 60,
             "maxPartHeaderBytes": 4096, "sweepIntervalSeconds": 30, "dataDirectory": "/srv/reel-data",
             "s3Bucket": "reel-media", "s3AccessKeyId": "AKID", "s3SecretAccessKey": "x", "s3Endpoint": "http://minio.internal:9000"}
            """)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Configuration.load(environment: ["REELSMITH_CONFIG": path, "REELSMITH_MAX_STREAMS_PER_USER": "3",
                                                     "REELSMITH_SIGN_INS_PER_MINUTE": "4", "DATABASE_URL": "postgres://u:p@db.internal/reels"])
        #expect(c.limits.maxVideoSeconds == 120 && c.worker.maxVideoSeconds == 120, "one cap for the API and the worker")
        #expect(c.limits.trustForwardedFor && c.limits.eventPageSize == 50 && c.limits.freshSignInWindow == .seconds(60))
        #expect(c.limits.maxPartHeaderBytes == 4096 && c.limits.sweepInterval == .seconds(30))
        #expect(c.limits.maxStreamsPerUser == 3 && c.limits.signInsPerMinute == 4)
        #expect(Set(c.worker.privateTexts) == ["/srv/reel-data", "reel-media", "minio.internal", "db.internal"])

        for bad in [#"{"eventPageSize": 0}"#, #"{"maxVideoSeconds": -60}"#, #"{"trustForwardedFor": 1}"#] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            let error = try #require(Self.failure(["REELSMITH_CONFIG": path]), "\(bad) was accepted")
            #expect(error.isUserInput && error.message.contains(path))
        }
    }

    @Test func anUnknownKeyStopsStartUpNamingItAndTheFile() throws {
        let (dir, path) = try Self.file(#"{"port": 8081, "maxUploadByte": 10}"#)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = try #require(Self.failure(["REELSMITH_CONFIG": path]))
        #expect(error.isUserInput)
        #expect(error.message.contains("\"maxUploadByte\"") && error.message.contains(path), "\(error.message)")

        let (dir2, typo) = try Self.file(#"{"dataDirectry": "x"}"#)
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let suggested = try #require(Self.failure(["REELSMITH_CONFIG": typo]))
        #expect(suggested.message.contains("did you mean \"dataDirectory\""), "\(suggested.message)")
    }

    @Test(arguments: [
        (#"{"port": "eighty"}"#, "\"port\""),
        (#"{"port": "8080"}"#, "\"port\""),
        (#"{"port": 70000}"#, "\"port\""),
        (#"{"port": 80.5}"#, "\"port\""),
        (#"{"maxVideoBytes": -1}"#, "\"maxVideoBytes\""),
        (#"{"sceneConcurrency": 0}"#, "\"sceneConcurrency\""),
        (#"{"leaseSeconds": -3}"#, "\"leaseSeconds\""),
        (#"{"publicURL": "reels.example.com"}"#, "\"publicURL\""),
        (#"{"replicateBaseURL": "ftp://x"}"#, "\"replicateBaseURL\""),
        (#"{"databaseURL": "mysql://u:p@h/db"}"#, "\"databaseURL\""),
        (#"{"debug": "yes"}"#, "\"debug\""),
        (#"{"dataDirectory": ["a"]}"#, "\"dataDirectory\""),
        (#"{"s3Endpoint": "http://127.0.0.1:9000"}"#, "s3Bucket"),
    ])
    func aBadValueInTheFileStopsStartUpNamingTheKeyAndTheFile(json: String, names: String) throws {
        let (dir, path) = try Self.file(json)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = try #require(Self.failure(["REELSMITH_CONFIG": path]), "\(json) was accepted")
        #expect(error.isUserInput)
        #expect(error.message.contains(names) && error.message.contains(path), "\(error.message)")
        #expect(!error.message.contains("u:p@"), "a URL's password is never quoted")
    }

    @Test(arguments: [
        (["REELSMITH_PORT": "eighty"], "REELSMITH_PORT"),
        (["REELSMITH_PORT": "-1"], "REELSMITH_PORT"),
        (["REELSMITH_MAX_AUDIO_BYTES": "-5"], "REELSMITH_MAX_AUDIO_BYTES"),
        (["REELSMITH_LEASE_SECONDS": "soon"], "REELSMITH_LEASE_SECONDS"),
        (["REELSMITH_DEBUG": "verbose"], "REELSMITH_DEBUG"),
        (["DATABASE_URL": "postgres//reel:hunter2@db"], "DATABASE_URL"),
        (["REELSMITH_PUBLIC_URL": "not a url"], "REELSMITH_PUBLIC_URL"),
        (["S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "AKID"], "S3_SECRET_ACCESS_KEY"),
        (["REELSMITH_IDLE_TIMEOUT_SECONDS": "10", "REELSMITH_HEARTBEAT_SECONDS": "15"], "REELSMITH_IDLE_TIMEOUT_SECONDS"),
    ])
    func aBadEnvironmentVariableStopsStartUpNamingIt(env: [String: String], names: String) throws {
        let error = try #require(Self.failure(env), "\(env) was accepted")
        #expect(error.isUserInput)
        #expect(error.message.contains(names), "\(error.message)")
        #expect(!error.message.contains("hunter2"))
    }

    @Test func anUnreadableOrNonJSONFileStopsStartUpNamingIt() throws {
        let (dir, path) = try Self.file("port = 8080\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let notJSON = try #require(Self.failure(["REELSMITH_CONFIG": path]))
        #expect(notJSON.isUserInput && notJSON.message.contains(path) && notJSON.message.contains("not valid JSON"), "\(notJSON.message)")

        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: path))
        let notObject = try #require(Self.failure(["REELSMITH_CONFIG": path]))
        #expect(notObject.isUserInput && notObject.message.contains(path) && notObject.message.contains("one JSON object"))

        let missing = try #require(Self.failure(["REELSMITH_CONFIG": dir + "/nowhere.json"]))
        #expect(missing.isUserInput && missing.message.contains(dir + "/nowhere.json"))

        let folder = try #require(Self.failure(["REELSMITH_CONFIG": dir]))
        #expect(folder.isUserInput && folder.message.contains(dir))

        if getuid() != 0 {   // root reads anything
            try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o000)
            defer { chmod(path, 0o600) }
            let unreadable = try #require(Self.failure(["REELSMITH_CONFIG": path]))
            #expect(unreadable.isUserInput && unreadable.message.contains(path))
        }
    }

    @Test func theReportRedactsSecretsWhereverTheyCameFrom() throws {
        let (dir, path) = try Self.file("""
            {"replicateApiToken": "r8_from_the_file", "s3Bucket": "reel-media", "s3AccessKeyId": "AKID",
             "s3SecretAccessKey": "s3-secret-from-file", "openAIBaseURL": "http://user:proxy-pass@llm.internal/v1"}
            """)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Configuration.load(environment: ["REELSMITH_CONFIG": path, "ANTHROPIC_API_KEY": "sk-ant-from-env",
                                                     "DATABASE_URL": "postgres://reel:db-password@db.internal:5432/reels"])
        let shown = try String(decoding: ReelJSON.encoder(pretty: false).encode(c.report), as: UTF8.self)
        for secret in ["r8_from_the_file", "s3-secret-from-file", "proxy-pass", "sk-ant-from-env", "db-password"] {
            #expect(!shown.contains(secret), "\(secret) is shown")
        }
        #expect(try Self.entry(c, "databaseURL").value == "postgres://reel:***@db.internal:5432/reels")
        #expect(try Self.entry(c, "replicateApiToken") == ConfigurationEntry(key: "replicateApiToken", env: "REPLICATE_API_TOKEN",
                                                                             value: "<redacted>", source: .file, secret: true))
        #expect(try Self.entry(c, "anthropicApiKey").source == .env)
        #expect(try Self.entry(c, "openAIApiKey").value == nil, "an unset secret shows as unset")
    }

    // MARK: through the binary

    @Test func doctorPrintsTheSettingsWithoutSecrets() async throws {
        let (dir, path) = try Self.file("""
            {"replicateApiToken": "r8_doctor_file_token", "replicateBaseURL": "http://127.0.0.1:9", "port": 9123,
             "s3Bucket": "reel-media", "s3AccessKeyId": "AKID", "s3SecretAccessKey": "doctor-s3-secret", "s3Endpoint": "http://127.0.0.1:9"}
            """)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["REELSMITH_CONFIG": path, "OPENAI_API_KEY": "sk-doctor-env-key", "ANTHROPIC_API_KEY": "", "OPENAI_BASE_URL": "",
                   "COG_URL": "", "REPLICATE_API_TOKEN": "", "DATABASE_URL": "postgres://reel:doctor-db-pass@127.0.0.1:9/reels",
                   "REELSMITH_DATA": dir + "/data"]
        let secrets = ["r8_doctor_file_token", "doctor-s3-secret", "sk-doctor-env-key", "doctor-db-pass"]

        let json = try await ReelsmithProcess.runAsync(["doctor", "--json"], in: dir, environment: env).result
        #expect(json.exitCode == 0, "\(json.stderr)")
        for s in secrets { #expect(!json.stdout.contains(s) && !json.stderr.contains(s), "\(s) printed") }
        let configuration = try #require(try jsonObject(json.stdout)["configuration"] as? [String: Any])
        #expect(configuration["file"] as? String == path)
        let settings = try #require(configuration["settings"] as? [[String: Any]])
        func setting(_ key: String) -> [String: Any]? { settings.first { $0["key"] as? String == key } }
        #expect(setting("port")?["value"] as? String == "9123" && setting("port")?["source"] as? String == "file")
        #expect(setting("openAIApiKey")?["source"] as? String == "env" && setting("openAIApiKey")?["secret"] as? Bool == true)
        #expect(setting("dataDirectory")?["env"] as? String == "REELSMITH_DATA")
        #expect(setting("databaseURL")?["value"] as? String == "postgres://reel:***@127.0.0.1:9/reels")

        let human = try await ReelsmithProcess.runAsync(["doctor"], in: dir, environment: env).result
        #expect(human.exitCode == 0, "\(human.stderr)")
        for s in secrets { #expect(!human.stdout.contains(s) && !human.stderr.contains(s), "\(s) printed") }
        #expect(human.stdout.contains("replicateApiToken") && human.stdout.contains("<redacted>"))
    }

    @Test func aMisspelledVariableIsWarnedAboutNotSilentlyIgnored() async throws {
        let dir = try Fixtures.temporaryDirectory("config-typo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(ConfigurationReader.unknownVariables(in: ["REELSMITH_DAT": "x", "REELSMITH_DATA": "y", "REELSMITH_CONFIG": "",
                                                          "PATH": "/bin"]) == ["REELSMITH_DAT"])
        let run = try await ReelsmithProcess.runAsync(["doctor", "--json"], in: dir,
                                                      environment: ["REELSMITH_DATA": dir + "/data", "REELSMITH_DAT": dir]).result
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(run.stderr.contains("REELSMITH_DAT is not a Reelsmith setting (did you mean REELSMITH_DATA?)"), "\(run.stderr)")
        #expect(try jsonObject(run.stdout)["configuration"] != nil, "standard output still holds only the JSON")
    }

    @Test func debugFromTheFileReachesTheProcessRunner() async throws {
        let (dir, path) = try Self.file(#"{"debug": true}"#)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // doctor runs `ffmpeg -version` through the process runner.
        let env = ["REELSMITH_CONFIG": path, "REELSMITH_DEBUG": "", "REELSMITH_DATA": dir + "/data"]
        let r = try await ReelsmithProcess.runAsync(["doctor", "--offline"], in: dir, environment: env).result
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stderr.contains("reelsmith: run: ffmpeg"), "\(r.stderr)")
        let quiet = try await ReelsmithProcess.runAsync(["doctor", "--offline"], in: dir,
                                                        environment: env.merging(["REELSMITH_DEBUG": "0"]) { $1 }).result
        #expect(quiet.exitCode == 0 && !quiet.stderr.contains("reelsmith: run:"), "the environment overrides the file")
    }

    /// Settings are read in ReelCLI only: no module below it looks a setting up in the environment. (ReelMedia hands
    /// its children a filtered copy of the environment: that passes variables on, it reads no setting.)
    @Test func nothingBelowTheCompositionRootReadsTheEnvironment() throws {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        var readers: [String] = []
        for file in files where !file.hasPrefix("ReelCLI/") && !file.hasPrefix("ReelTestSupport/") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where (line.contains("processInfo.environment") || line.contains("getenv(")) && !line.contains("childEnvironment(from:") {
                readers.append("\(file):\(n + 1)")
            }
        }
        #expect(readers.isEmpty, "settings read outside ReelCLI: \(readers)")
    }

    @Test func aBadSettingStopsTheCommandWithExitTwo() async throws {
        let (dir, path) = try Self.file(#"{"port": "eighty"}"#)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["REELSMITH_CONFIG": path, "REELSMITH_DATA": dir + "/data", "DATABASE_URL": ""]
        let users = try await ReelsmithProcess.runAsync(["users", "list"], in: dir, environment: env).result
        #expect(users.exitCode == 2)
        let line = try #require(users.stderr.split(separator: "\n").last.map(String.init))
        #expect(line.contains("\"port\"") && line.contains(path), "\(users.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "nothing was opened before the settings were read")

        let doctor = try await ReelsmithProcess.runAsync(["doctor", "--json"], in: dir,
                                                         environment: ["REELSMITH_CONFIG": "", "REELSMITH_SCENE_CONCURRENCY": "many"]).result
        #expect(doctor.exitCode == 2)
        let error = try #require(try jsonObject(doctor.stdout)["error"] as? [String: Any])
        #expect((error["message"] as? String)?.contains("REELSMITH_SCENE_CONCURRENCY") == true)
    }
}
