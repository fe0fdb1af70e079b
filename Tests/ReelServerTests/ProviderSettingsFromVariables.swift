import Foundation
import ReelProviders

extension ProviderSettings {
    /// The tests' way to describe providers: a dictionary of the variables CONTRACTS.md names (the CLI reads them
    /// through its configuration, `ReelCLI/ConfigurationLoader.swift`).
    static func from(environment env: [String: String], offline: Bool) -> ProviderSettings {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        var s = ProviderSettings()
        s.offline = offline
        s.registryPath = value("REELSMITH_REGISTRY")
        s.replicateToken = value("REPLICATE_API_TOKEN")
        s.replicateBaseURL = value("REPLICATE_BASE_URL") ?? s.replicateBaseURL
        s.cogURL = value("COG_URL")
        s.openAIKey = value("OPENAI_API_KEY"); s.openAIBaseURL = value("OPENAI_BASE_URL"); s.openAIModel = value("OPENAI_MODEL")
        s.anthropicKey = value("ANTHROPIC_API_KEY"); s.anthropicBaseURL = value("ANTHROPIC_BASE_URL"); s.anthropicModel = value("ANTHROPIC_MODEL")
        return s
    }
}
