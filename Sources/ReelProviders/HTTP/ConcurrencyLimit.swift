import Foundation

/// An async semaphore: at most `permits` bodies run at once; the others wait in arrival order. A waiter whose task is
/// cancelled leaves the queue and throws `CancellationError` (it never takes a permit).
///
/// Written by hand because neither the standard library nor the project's dependencies offer an async semaphore with
/// cancellable FIFO waiters.
public actor ConcurrencyLimit {
    private var available: Int
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextId: UInt64 = 0
    public let permits: Int

    public init(_ permits: Int) {
        self.permits = max(1, permits)
        available = self.permits
    }

    /// Runs `body` holding a permit; the permit is released however `body` ends.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Takes a permit, waiting in line for one. Pair with `release()`.
    public func acquire() async throws {
        try Task.checkCancellation()
        if available > 0, waiters.isEmpty {
            available -= 1
            return
        }
        let id = nextId
        nextId += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.leave(id) }
        }
    }

    /// Gives a permit back: the longest waiter gets it, else it becomes available.
    public func release() {
        if waiters.isEmpty {
            available = min(permits, available + 1)
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    /// Waiting now (for tests and metrics).
    public var waiting: Int { waiters.count }

    private func leave(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }   // already granted: it releases later
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
