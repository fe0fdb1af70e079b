import Crypto
import Foundation
import ReelCore

/// Checks the signature of a webhook Replicate sent (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`; `../shared/reference/replicate-api.md` §7).
///
/// The signed content is `"<id>.<timestamp>.<raw body>"`, signed with HMAC-SHA256 under the base64 key after
/// `whsec_`; the header lists one or more `v1,<base64 signature>` separated by spaces (several during a key rotation).
/// Comparison is constant-time. A timestamp further than `tolerance` from now is refused, so a captured webhook cannot
/// be replayed later.
public struct WebhookVerifier: Sendable, CustomStringConvertible, CustomReflectable {
    /// The key bytes (kept as `Data`: `SymmetricKey` is not `Sendable`).
    private let keyBytes: Data?
    public let tolerance: TimeInterval

    /// `secret` is the `key` of `GET /v1/webhooks/default/secret` (`whsec_<base64>`).
    public init(secret: String, tolerance: TimeInterval = 300) {
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        let encoded = trimmed.hasPrefix("whsec_") ? String(trimmed.dropFirst(6)) : trimmed
        keyBytes = Data(base64Encoded: encoded).flatMap { $0.isEmpty ? nil : $0 }
        self.tolerance = tolerance
    }

    public var description: String { "WebhookVerifier(tolerance: \(Int(tolerance)) s)" }
    public var customMirror: Mirror { Mirror(self, children: ["tolerance": tolerance]) }

    /// Throws `.badInput` unless one of the signatures is valid for this body and the timestamp is recent.
    public func verify(id: String, timestamp: String, signatureHeader: String, body: Data, now: Date = Date()) throws {
        guard let keyBytes else { throw ReelError(.badInput, "the webhook secret is not a valid whsec_ key") }
        guard !id.isEmpty else { throw ReelError(.badInput, "the webhook has no webhook-id header") }
        let stamp = timestamp.trimmingCharacters(in: .whitespaces)
        guard let seconds = Int64(stamp) else {
            throw ReelError(.badInput, "the webhook's timestamp '\(timestamp.prefix(40))' is not a number of seconds")
        }
        let age = now.timeIntervalSince1970 - Double(seconds)
        guard abs(age) <= tolerance else {
            throw ReelError(.badInput, age > 0 ? "the webhook is too old (sent \(Int(age)) s ago; at most \(Int(tolerance)) s allowed)"
                                              : "the webhook's timestamp is \(Int(-age)) s in the future")
        }
        let key = SymmetricKey(data: keyBytes)
        var signed = Data("\(id).\(stamp).".utf8)
        signed.append(body)
        let candidates = signatureHeader.split(separator: " ").compactMap { entry -> Data? in
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1" else { return nil }
            return Data(base64Encoded: String(parts[1]))
        }
        guard !candidates.isEmpty else { throw ReelError(.badInput, "the webhook has no v1 signature") }
        // `isValidAuthenticationCode` compares in constant time.
        guard candidates.contains(where: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key) }) else {
            throw ReelError(.badInput, "the webhook's signature does not match its body")
        }
    }
}
