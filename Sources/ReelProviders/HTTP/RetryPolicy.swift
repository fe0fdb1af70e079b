import Foundation

/// How often and how patiently a request is tried again: exponential backoff with full jitter, honouring `Retry-After`.
///
/// This only says *when*; *whether* a request may be repeated is the caller's decision (a prediction create on
/// Replicate is not idempotent, so the Replicate client checks whether it was created before repeating it).
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in total, the first included.
    public var maxAttempts: Int
    /// The backoff's first ceiling, in seconds; doubles per attempt.
    public var baseDelay: Double
    /// The backoff's largest ceiling, in seconds.
    public var maxDelay: Double
    /// The longest `Retry-After` honoured, in seconds (a server asking for more is waited on this long, then retried).
    public var retryAfterCap: Double

    public init(maxAttempts: Int = 5, baseDelay: Double = 0.5, maxDelay: Double = 30, retryAfterCap: Double = 60) {
        self.maxAttempts = max(1, maxAttempts); self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(self.baseDelay, maxDelay); self.retryAfterCap = max(0, retryAfterCap)
    }

    /// Seconds to wait after failed attempt number `attempt` (1-based): `Retry-After` when the server sent one
    /// (seconds or an HTTP date, capped), otherwise a random time in `0 ... min(maxDelay, baseDelay × 2^(attempt−1))`.
    public func delay(afterAttempt attempt: Int, retryAfter: String? = nil, now: Date = Date()) -> Double {
        if let retryAfter, let seconds = Self.parseRetryAfter(retryAfter, now: now) {
            return min(retryAfterCap, max(0, seconds))
        }
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(max(0, attempt - 1))))
        return ceiling > 0 ? Double.random(in: 0...ceiling) : 0
    }

    /// Sleeps for `delay(afterAttempt:retryAfter:)`; throws `CancellationError` if the task is cancelled meanwhile.
    public func sleep(afterAttempt attempt: Int, retryAfter: String? = nil) async throws {
        let seconds = delay(afterAttempt: attempt, retryAfter: retryAfter)
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) } else { try Task.checkCancellation() }
    }

    /// `Retry-After` as seconds from `now`: delta-seconds (`"5"`, `"1.5"`) or an HTTP date (RFC 9110 IMF-fixdate, and the
    /// obsolete RFC 850 and asctime forms).
    public static func parseRetryAfter(_ value: String, now: Date = Date()) -> Double? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(text), seconds.isFinite { return max(0, seconds) }
        return parseHTTPDate(text).map { max(0, $0.timeIntervalSince(now)) }
    }

    /// An HTTP date: RFC 9110 IMF-fixdate, or the obsolete RFC 850 and asctime forms.
    public static func parseHTTPDate(_ value: String) -> Date? {
        let text = value.trimmingCharacters(in: .whitespaces)
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let date = f.date(from: text) { return date }
        }
        return nil
    }
}
