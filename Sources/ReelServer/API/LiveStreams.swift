import Foundation
import ReelStore
import Synchronization

/// The open live streams (SSE and WebSocket) of one application: at most a set number per user, ended at once when the
/// key they run on is revoked or rotated (or their session ended) through this server, and all together at shutdown.
final class LiveStreams: Sendable {
    /// Whose credential a stream runs on.
    struct Owner: Sendable, Equatable {
        var userId: UUID
        /// The API key of the request, or the key that signed its session in.
        var keyId: UUID
        var sessionId: UUID?
    }

    private struct Stream {
        var owner: Owner
        /// Nil while reserved: the answer that starts the stream has not been written yet.
        var bell: AsyncStream<Void>.Continuation?
        var reservedAt: ContinuousClock.Instant
    }
    private struct State { var streams: [UUID: Stream] = [:]; var closed = false }
    private let state = Mutex(State())

    /// A reservation whose stream never started (its client left before the answer was written) stops counting after
    /// this long.
    private static let unclaimedReservation: Duration = .seconds(30)

    /// Reserves a place for a stream of `owner`; nil when the owner's user already has `limit` streams open (or about to
    /// open). The reservation is taken before answering, so the N+1th stream gets a 429 rather than a stream.
    func reserve(_ owner: Owner, limit: Int) -> UUID? {
        let now = ContinuousClock.now
        return state.withLock { s in
            var open = 0
            for (id, stream) in s.streams where stream.owner.userId == owner.userId {
                if stream.bell == nil, stream.reservedAt.duration(to: now) >= Self.unclaimedReservation {
                    s.streams[id] = nil
                } else {
                    open += 1
                }
            }
            guard open < limit else { return nil }
            let id = UUID()
            s.streams[id] = Stream(owner: owner, bell: nil, reservedAt: now)
            return id
        }
    }

    /// The doorbell of a reserved stream: rings at once, on a store wakeup and every `poll` seconds; ends when the stream
    /// is closed (`close`, its key revoked or session ended here, shutdown) or its reservation is gone.
    func open(_ id: UUID, store: ServiceStore, poll: Double) -> AsyncStream<Void> {
        let (bell, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let accepted = state.withLock { s -> Bool in
            guard !s.closed, s.streams[id] != nil else { return false }
            s.streams[id]?.bell = continuation
            return true
        }
        guard accepted else { continuation.finish(); return bell }
        let wakeups = Task {
            for await _ in store.eventWakeups() { continuation.yield() }
        }
        let ticks = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(poll))
                continuation.yield()
            }
        }
        continuation.onTermination = { _ in wakeups.cancel(); ticks.cancel() }
        continuation.yield()   // the first read happens at once
        return bell
    }

    /// Ends one stream (or drops its reservation).
    func close(_ id: UUID) {
        let stream = state.withLock { $0.streams.removeValue(forKey: id) }
        stream?.bell?.finish()
    }

    /// Ends every stream running on the key: its own requests' and those of the sessions it signed in.
    func close(keyId: UUID) { close { $0.keyId == keyId } }

    /// Ends every stream of the session.
    func close(sessionId: UUID) { close { $0.sessionId == sessionId } }

    /// Streams open or reserved for the user.
    func count(userId: UUID) -> Int {
        state.withLock { s in s.streams.values.filter { $0.owner.userId == userId }.count }
    }

    func closeAll() {
        let all = state.withLock { s -> [Stream] in
            s.closed = true
            defer { s.streams = [:] }
            return Array(s.streams.values)
        }
        for stream in all { stream.bell?.finish() }
    }

    private func close(where matches: (Owner) -> Bool) {
        let ended = state.withLock { s -> [Stream] in
            let ids = s.streams.filter { matches($0.value.owner) }.map(\.key)
            return ids.compactMap { s.streams.removeValue(forKey: $0) }
        }
        for stream in ended { stream.bell?.finish() }
    }
}
