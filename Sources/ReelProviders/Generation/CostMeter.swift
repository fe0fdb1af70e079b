import Foundation
import ReelCore

/// Meters every provider call of a run and holds it to the user's budget.
///
/// A paid call first reserves its estimated price; the reservation is refused, before any request is made, when the
/// money already spent plus every open reservation would pass the budget. When the call ends the reservation is
/// replaced by the call's real ledger entry (or released if nothing was charged). A warning is given once, when
/// spending reaches half the budget.
public actor CostMeter {
    /// An approved, not yet settled, estimate.
    public struct Reservation: Sendable, Hashable {
        let id: Int
        public let amount: Double
    }

    public let budget: Double?
    private let warn: @Sendable (String) -> Void
    private var entries: [CostEntry] = []
    private var open: [Int: Double] = [:]
    private var nextId = 0
    private var warnedHalf = false

    public init(budget: Double?, warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.budget = budget
        self.warn = warn
    }

    /// Every call recorded so far.
    public var ledger: CostLedger { CostLedger(entries: entries.sorted { ($0.at, $0.scene ?? -1) < ($1.at, $1.scene ?? -1) }) }

    public var spent: Double { entries.reduce(0) { $0 + $1.cost } }
    private var committed: Double { spent + open.values.reduce(0, +) }

    /// Approves a call expected to cost `estimate` dollars, or throws `.budgetExceeded` naming it.
    public func reserve(_ estimate: Double, for what: String) throws -> Reservation {
        let amount = max(0, estimate)
        if let budget, amount > 0, committed + amount > budget + 1e-9 {
            throw ReelError(.budgetExceeded, String(format: "the budget of $%.2f would be passed by %@ (about $%.4f; $%.4f spent or committed so far); nothing more was spent", budget, what, amount, committed))
        }
        nextId += 1
        open[nextId] = amount
        return Reservation(id: nextId, amount: amount)
    }

    /// Replaces a reservation by what the call really cost.
    public func settle(_ reservation: Reservation, with entry: CostEntry) {
        open[reservation.id] = nil
        record(entry)
    }

    /// Gives a reservation back (the call was refused before it reached a provider, or was not charged).
    public func release(_ reservation: Reservation) {
        open[reservation.id] = nil
    }

    /// Records a call that needed no reservation (a cache hit, a free model).
    public func record(_ entry: CostEntry) {
        entries.append(entry)
        if let budget, budget > 0, !warnedHalf, spent >= budget / 2 {
            warnedHalf = true
            warn(String(format: "half of the $%.2f budget is spent ($%.4f)", budget, spent))
        }
    }
}
