import Foundation

/// Money held back for one paid call until the call ends: `amount` USD of the user's budget that no other call, in
/// this job or another, may use meanwhile.
public struct SpendHold: Sendable, Hashable {
    public let id: UUID
    public let amount: Double
    public init(id: UUID, amount: Double) { self.id = id; self.amount = amount }
}

/// A user's budget as every one of their running jobs sees it, so that jobs running at once cannot together spend more
/// than it. A run's `CostMeter` asks it before each paid call; the service keeps it in its database (one transaction
/// per hold, serialised per user), so it holds across workers and machines.
///
/// A hold lasts until the call is settled (its real cost then counts instead, until the ledger entry that records it
/// is stored) or released (nothing was charged).
public protocol SpendLedger: Sendable {
    /// Holds `amount` USD for a call described by `what`. Throws `ReelError(.budgetExceeded)` when the user's recorded
    /// spending plus every open hold plus `amount` would pass their budget; nothing is held then.
    func reserve(_ amount: Double, for what: String) async throws -> SpendHold
    /// The call ended and cost `cost` USD: the hold now counts that much until its cost entry is recorded.
    func settle(_ hold: SpendHold, cost: Double) async throws
    /// The call ended without a charge: the hold is given back.
    func release(_ hold: SpendHold) async throws
}
