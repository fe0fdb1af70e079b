import Foundation
import ReelCore
@testable import ReelStore

extension S3Config {
    /// The tests' way to describe S3 settings: a dictionary of the `S3_*` variables (CONTRACTS.md), handed to
    /// `validated` as the CLI's configuration does after reading them (`ReelCLI/ConfigurationLoader.swift`).
    static func fromEnvironment(_ env: [String: String]) throws -> S3Config? {
        let names: [Setting: String] = [.endpoint: "S3_ENDPOINT", .bucket: "S3_BUCKET", .region: "S3_REGION",
                                        .accessKeyId: "S3_ACCESS_KEY_ID", .secretAccessKey: "S3_SECRET_ACCESS_KEY",
                                        .forcePathStyle: "S3_FORCE_PATH_STYLE"]
        var pathStyle: Bool?
        if let flag = env["S3_FORCE_PATH_STYLE"] {
            switch flag.lowercased() {
            case "true", "1", "yes", "on": pathStyle = true
            case "false", "0", "no", "off": pathStyle = false
            default: throw ReelError(.badInput, "S3_FORCE_PATH_STYLE must be true or false, not '\(flag)'")
            }
        }
        return try validated(endpoint: env["S3_ENDPOINT"], bucket: env["S3_BUCKET"], region: env["S3_REGION"],
                             accessKeyId: env["S3_ACCESS_KEY_ID"], secretAccessKey: env["S3_SECRET_ACCESS_KEY"],
                             forcePathStyle: pathStyle, name: { names[$0]! })
    }
}
