import ArgumentParser
import Foundation
import ReelCore
import ReelMedia
import ReelProviders

/// `reelsmith models`: the registry in effect, with prices and fallbacks.
struct Models: ConfiguredCommand, JSONReporting {
    static let configuration = CommandConfiguration(
        abstract: "Print the model registry: which model fills each role, its price and its fallbacks.",
        discussion: "Set REELSMITH_REGISTRY to a JSON file of the same shape (`reelsmith models --json`) to override roles.")

    @Argument(help: "Show only this role (image.fast, video.draft, ...) or model (owner/name).")
    var name: String?

    @Flag(help: "Print the registry in effect as one JSON object (a starting point for an override file).")
    var json = false

    func run(config: Configuration) async throws {
        var registry = try RegistryLoader.load(userFile: config.providers.registryPath).registry
        if let name {
            if let role = Role(rawValue: name) {
                registry.roles = registry.roles.filter { $0.key == role.rawValue }
            } else if name.contains("/") || name.contains(":") {
                _ = try registry.entry(named: name)
                registry.roles = registry.roles.compactMapValues { chain in
                    let hits = chain.filter { $0.model == name || $0.label == name }
                    return hits.isEmpty ? nil : hits
                }
            } else {
                _ = try Role.named(name)
            }
        }
        if json { try printJSON(registry); return }
        for role in Role.allCases {
            guard let chain = registry.roles[role.rawValue] else { continue }
            for (i, e) in chain.enumerated() {
                let label = i == 0 ? role.rawValue : "  fallback \(i)"
                print("\(label.padding(toLength: 18, withPad: " ", startingAt: 0)) \(e.provider.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(e.model.padding(toLength: 40, withPad: " ", startingAt: 0)) \(Self.price(e.price))\(Self.capabilities(e))")
            }
        }
    }

    static func price(_ p: Pricing) -> String {
        if p.unit == "token" {
            return String(format: "$%.2f / $%.2f per 1M tokens in/out", p.inputPerMillion ?? 0, p.outputPerMillion ?? 0)
        }
        var text = p.unit == "character" ? String(format: "$%.6g per character", p.usd) : String(format: "$%.4g per %@", p.usd, p.unit)
        if let by = p.byResolution, by.count > 1 {
            text += " (" + by.sorted { $0.value < $1.value }.map { String(format: "%@ $%.4g", $0.key, $0.value) }.joined(separator: ", ") + ")"
        }
        return text
    }

    static func capabilities(_ e: ModelEntry) -> String {
        let c = e.capabilities
        var parts: [String] = []
        if c.firstFrame == true { parts.append(c.lastFrame == true ? "first+last frame" : "first frame") }
        if let d = c.durations { parts.append("clips " + d.map { String(format: "%g", $0) }.joined(separator: "/") + " s") }
        if let r = c.durationRange, r.count == 2 { parts.append(String(format: "clips %g-%g s", r[0], r[1])) }
        return parts.isEmpty ? "" : "  [" + parts.joined(separator: ", ") + "]"
    }
}

/// `reelsmith doctor`: what this machine and its settings give Reelsmith, and which provider fills each role and why.
struct Doctor: ConfiguredCommand, JSONReporting {
    static let configuration = CommandConfiguration(
        abstract: "Check the tools, print the settings in effect (secrets redacted) and say which provider fills each role, and why.")

    @Flag(help: "Use only offline providers (shows what --offline would do).")
    var offline = false

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    struct Tool: Encodable { var name: String; var found: Bool; var version: String? }
    struct Report: Encodable {
        var version: String
        var dataDirectory: String
        var tools: [Tool]
        var configuration: Settings
        var roles: [RoleAssignment]
    }
    /// The settings in effect: each one's value (secrets redacted) and its source (`default`, `file`, `env`).
    struct Settings: Encodable {
        var file: String?
        var settings: [ConfigurationEntry]
        func encode(to encoder: any Encoder) throws {
            enum Key: String, CodingKey { case file, settings }
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(file, forKey: .file)   // null rather than absent without a file
            try c.encode(settings, forKey: .settings)
        }
    }

    func run(config: Configuration) async throws {
        let setup = try ProviderSetup.make(settings: config.providers(offline: offline), http: config.providerHTTP)
        var tools: [Tool] = []
        for tool in ["ffmpeg", "ffprobe"] {
            let out = try? await SubprocessRunner().run(tool, ["-hide_banner", "-version"], stdoutLimit: 64 * 1024)
            let first = out.flatMap { String(decoding: $0.stdout, as: UTF8.self).split(separator: "\n").first.map(String.init) }
            tools.append(Tool(name: tool, found: first != nil, version: first))
        }
        let report = Report(version: ReelVersion.current, dataDirectory: config.dataDirectory, tools: tools,
                            configuration: Settings(file: config.file, settings: config.report), roles: setup.assignments)
        let missing = tools.contains { !$0.found }
        if json {
            try printJSON(report)
            // The report is the one JSON object on standard output; the exit code still says a tool is missing.
            if missing { throw ExitCode(1) }
            return
        }
        print("reelsmith \(report.version), data directory \(report.dataDirectory)")
        for t in tools { print("\(t.found ? "ok     " : "MISSING") \(t.name)\(t.version.map { ": " + $0 } ?? "")") }
        print("settings " + (config.file.map { "from \($0) (REELSMITH_CONFIG) and the environment" } ?? "from the environment (no REELSMITH_CONFIG file)")
              + "; secrets redacted:")
        for e in config.report {
            print("  \(e.key.padding(toLength: 32, withPad: " ", startingAt: 0)) \((e.value ?? "-").padding(toLength: 34, withPad: " ", startingAt: 0)) \(e.source.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(e.env)")
        }
        for a in setup.assignments {
            let fallbacks = a.fallbacks.isEmpty ? "" : " (then \(a.fallbacks.joined(separator: ", ")))"
            print("\(a.role.padding(toLength: 18, withPad: " ", startingAt: 0)) \(a.provider):\(a.model)\(fallbacks) — \(a.reason)")
        }
        if missing { throw ReelError(.toolMissing, "ffmpeg and ffprobe are needed; install the ffmpeg package") }
    }
}
