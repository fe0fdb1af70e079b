import Foundation

/// An error every Reelsmith module throws: a stable code, a message for the person who reads it, and the cause for logs.
public struct ReelError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// What kind of failure this is; stable across versions so scripts can match on it.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let badInput = Code(rawValue: "bad-input")
        public static let fileNotFound = Code(rawValue: "file-not-found")
        public static let notAudio = Code(rawValue: "not-audio")
        public static let notMedia = Code(rawValue: "not-media")
        public static let silentAudio = Code(rawValue: "silent-audio")
        public static let audioTooLong = Code(rawValue: "audio-too-long")
        public static let audioTooShort = Code(rawValue: "audio-too-short")
        public static let outputNotWritable = Code(rawValue: "output-not-writable")
        public static let badPlan = Code(rawValue: "bad-plan")
        public static let toolMissing = Code(rawValue: "tool-missing")
        public static let processFailed = Code(rawValue: "process-failed")
        public static let generationFailed = Code(rawValue: "generation-failed")
        public static let renderFailed = Code(rawValue: "render-failed")
        public static let cancelled = Code(rawValue: "cancelled")
        public static let badRegistry = Code(rawValue: "bad-registry")
        public static let unknownRole = Code(rawValue: "unknown-role")
        public static let unknownModel = Code(rawValue: "unknown-model")
        /// The provider refused our credentials (401/403).
        public static let providerAuth = Code(rawValue: "provider-auth")
        /// The provider could not be reached or kept failing (network, 5xx, timeouts) after retries.
        public static let providerUnavailable = Code(rawValue: "provider-unavailable")
        /// The provider answered, but the prediction failed or its answer was unusable (wrong type, garbage, expired).
        public static let providerFailed = Code(rawValue: "provider-failed")
        /// The provider rejected the request as invalid (422 and other 4xx).
        public static let providerRejected = Code(rawValue: "provider-rejected")
        /// The prediction succeeded (and was paid for) but its output could not be fetched or used.
        public static let outputLost = Code(rawValue: "output-lost")
        /// A paid call would pass the budget the user set.
        public static let budgetExceeded = Code(rawValue: "budget-exceeded")
        /// The object store refused our credentials or permissions (S3 403: SignatureDoesNotMatch, AccessDenied, ...).
        public static let storageAuth = Code(rawValue: "storage-auth")
        /// The object store could not be reached or kept failing (connection, timeouts, 5xx, SlowDown) after retries.
        public static let storageUnavailable = Code(rawValue: "storage-unavailable")
        /// The object store answered with an error that is neither of the above (missing bucket, bad request, ...).
        public static let storageFailed = Code(rawValue: "storage-failed")
        public static let internalError = Code(rawValue: "internal")
    }

    public var code: Code
    public var message: String
    /// The underlying error, for logs; never shown as the message.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// True when the fault lies with what the user gave us (exit code 2), false when the work itself failed (exit 1).
    public var isUserInput: Bool {
        switch code {
        case .badInput, .fileNotFound, .notAudio, .notMedia, .silentAudio, .audioTooLong, .audioTooShort,
             .outputNotWritable, .badPlan, .badRegistry, .unknownRole, .unknownModel:
            return true
        default:
            return false
        }
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}
