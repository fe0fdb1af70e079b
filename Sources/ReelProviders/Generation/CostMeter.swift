import Foundation
import ReelCore

/// Meters every provider call of a run and holds it to the run's budget and, through a `SpendLedger`, to the user's
/// budget shared with their other runs.
///
/// A paid call first reserves its estimated price; the reservation is refused, before any request is made, when the
/// money already spent plus every open reservation would pass the budget (this run's here, the user's in the ledger).
/// When the call ends the reservation is replaced by the call's real ledger entry (or released if nothing was
/// charged). A warning is given once, when spending reaches half the budget.
public actor CostMeter {
    /// An approved, not yet settled, estimate.
    public struct Reservation: Sendable, Hashable {
        let id: Int
        public let amount: Double
    }

    public let budget: Double?
    private let warn: @Sendable (String) -> Void
    private var ledgerOfUser: (any SpendLedger)?
    /// Every call in the order it was recorded, with the ledger hold its cost settles (if any).
    private var recorded: [(entry: CostEntry, hold: SpendHold?)] = []
    private var open: [Int: Double] = [:]
    private var holds: [Int: SpendHold] = [:]
    private var nextId = 0
    private var warnedHalf = false

    public init(budget: Double?, ledger: (any SpendLedger)? = nil, warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.budget = budget
        self.ledgerOfUser = ledger
        self.warn = warn
    }

    /// Holds every later paid call also to `ledger` (the user's budget shared with their other runs). A service worker
    /// sets it once, before the run starts.
    public func holdSpending(in ledger: any SpendLedger) { ledgerOfUser = ledger }

    /// Every call recorded so far.
    public var ledger: CostLedger {
        CostLedger(entries: recorded.map(\.entry).sorted { ($0.at, $0.scene ?? -1) < ($1.at, $1.scene ?? -1) })
    }

    /// Calls recorded after the first `count`, in the order they were recorded, and the ledger holds their costs settle
    /// (which are closed once those entries are stored).
    public func recorded(after count: Int) -> (entries: [CostEntry], holds: [SpendHold]) {
        guard count < recorded.count else { return ([], []) }
        let new = recorded[max(0, count)...]
        return (new.map(\.entry), new.compactMap(\.hold))
    }

    /// How many calls are recorded.
    public var recordedCount: Int { recorded.count }

    public var spent: Double { recorded.reduce(0) { $0 + $1.entry.cost } }
    private var committed: Double { spent + open.values.reduce(0, +) }

    /// Approves a call expected to cost `estimate` dollars, or throws `.budgetExceeded` naming it (this run's budget
    /// first, then the user's through the ledger).
    public func reserve(_ estimate: Double, for what: String) async throws -> Reservation {
        let amount = max(0, estimate)
        if let budget, amount > 0, committed + amount > budget + 1e-9 {
            throw ReelError(.budgetExceeded, String(format: "the budget of $%.2f would be passed by %@ (about $%.4f; $%.4f spent or committed so far); nothing more was spent", budget, what, amount, committed))
        }
        nextId += 1
        let id = nextId
        // Held here before the ledger is asked, so a call reserving meanwhile (the actor is re-entered) counts it.
        open[id] = amount
        if let ledgerOfUser, amount > 0 {
            do { holds[id] = try await ledgerOfUser.reserve(amount, for: what) } catch {
                open[id] = nil
                throw error
            }
        }
        return Reservation(id: id, amount: amount)
    }

    /// Replaces a reservation by what the call really cost.
    public func settle(_ reservation: Reservation, with entry: CostEntry) async {
        // Counted at its real cost while the ledger is settled: a call reserving meanwhile (the actor is re-entered)
        // must see it. The entry is recorded only after the ledger's hold is settled, so storing it (which closes the
        // hold) cannot come first.
        open[reservation.id] = entry.cost
        let hold = holds.removeValue(forKey: reservation.id)
        if let hold, let ledgerOfUser {
            // A hold that cannot be settled keeps counting its estimate until the entry is stored, which closes it.
            try? await ledgerOfUser.settle(hold, cost: entry.cost)
        }
        // Both in one step: no await between them.
        open[reservation.id] = nil
        append(entry, hold: hold)
    }

    /// Gives a reservation back (the call was refused before it reached a provider, or was not charged).
    public func release(_ reservation: Reservation) async {
        open[reservation.id] = nil
        if let hold = holds.removeValue(forKey: reservation.id), let ledgerOfUser {
            // One that cannot be released goes when the job ends.
            try? await ledgerOfUser.release(hold)
        }
    }

    /// Records a call that needed no reservation (a cache hit, a free model).
    public func record(_ entry: CostEntry) {
        append(entry, hold: nil)
    }

    private func append(_ entry: CostEntry, hold: SpendHold?) {
        recorded.append((entry, hold))
        if let budget, budget > 0, !warnedHalf, spent >= budget / 2 {
            warnedHalf = true
            warn(String(format: "half of the $%.2f budget is spent ($%.4f)", budget, spent))
        }
    }
}
