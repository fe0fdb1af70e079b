import Foundation
import ReelCore

/// How a `JobWorker` claims, renews, polls and drains; defaults suit production. The CLI's configuration sets them
/// (`leaseSeconds`, `pollSeconds`, `drainSeconds`; README, "Configuration"), tests shorten them.
public struct WorkerSettings: Sendable {
    /// The name the worker holds leases under (unique per worker: host, process and a random suffix).
    public var name: String
    /// How long a claim lasts without renewal; another worker may take the job once it has passed.
    public var lease: Duration
    /// How long the worker waits before asking for work again when the queue was empty.
    public var pollInterval: Duration
    /// After `drain()`, the longest the current job keeps running before its lease is released.
    public var drainGrace: Duration
    /// Where each job's inputs and outputs are made (one folder per job, removed afterwards).
    public var scratchRoot: String
    /// The longest video a job makes, in seconds, whatever asks for the length (the project's duration, its prompt,
    /// its song, a stored plan): longer asks are cut to it, with a warning.
    public var maxVideoSeconds: Double
    /// Texts that job errors and events must never show users (the data directory, bucket and host names); the
    /// scratch folder is always hidden.
    public var privateTexts: [String]

    public init(name: String = WorkerSettings.defaultName(), lease: Duration = .seconds(30), pollInterval: Duration = .milliseconds(500),
                drainGrace: Duration = .seconds(20),
                scratchRoot: String = (NSTemporaryDirectory() as NSString).appendingPathComponent("reelsmith-work"),
                maxVideoSeconds: Double = 600, privateTexts: [String] = []) {
        self.name = name; self.lease = lease; self.pollInterval = pollInterval; self.drainGrace = drainGrace; self.scratchRoot = scratchRoot
        self.maxVideoSeconds = maxVideoSeconds; self.privateTexts = privateTexts
    }

    /// `host-pid-xxxxxx`.
    public static func defaultName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// Leases are renewed (and cancel requests noticed) every third of the lease, and at least every 2 s.
    var renewInterval: Duration { min(lease / 3, .seconds(2)) }
}
