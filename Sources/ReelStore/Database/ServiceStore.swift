import Foundation
import Fluent
import SQLKit
import Crypto
import ReelCore

/// Everything the server and the workers keep: accounts and keys, projects and their scenes and assets, the durable
/// job queue, job events, costs, pipeline checkpoints and the generation-cache index. A cheap value over a
/// `ServiceDatabase`; every method is one short transaction or query, safe from any task and any process.
public struct ServiceStore: Sendable {
    public let database: ServiceDatabase

    public init(database: ServiceDatabase) { self.database = database }

    var db: any Database { get throws { try database.database } }
    var sql: any SQLDatabase { get throws { try database.sql } }

    // MARK: - Helpers

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw ReelError(.internalError, "a stored \(T.self) could not be read", cause: error)
        }
    }

    static func sha256Hex(_ text: String) -> String { ContentHash.sha256(text: text) }

    /// `prefix` + base64url (no padding) of 32 random bytes: 43 characters.
    static func randomToken(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let b64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + b64
    }

    /// Runs `body` as one write transaction. SQLite: `BEGIN IMMEDIATE` on one connection takes the write lock up front
    /// (waiting for other writers with the busy timeout) so the transaction never fails half-way on a lock upgrade.
    /// PostgreSQL: a plain transaction.
    func write<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        if database.isPostgres {
            return try await db.transaction(body)
        }
        return try await db.withConnection { conn in
            let s = conn as! any SQLDatabase
            try await s.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(conn)
                try await s.raw("COMMIT").run()
                return result
            } catch {
                try? await s.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Now, as stored (seconds since 1970), by this process's clock: for times only shown or sorted by.
    static var now: Double { Date().timeIntervalSince1970 }

    /// Now by the database's clock, as SQL giving seconds since 1970: what lease and backoff times are written and
    /// compared with, so that workers whose clocks disagree still agree on when a lease has run out. PostgreSQL: the
    /// transaction's `now()`; SQLite: the clock of the machine that holds its one file (every process on it shares it).
    var clockSQL: String {
        database.isPostgres ? "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)" : "((julianday('now') - 2440587.5) * 86400.0)"
    }

    /// `clockSQL`'s value, read on `sql` (inside the caller's transaction when it has one).
    func databaseNow(on sql: any SQLDatabase) async throws -> Double {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: clockSQL) AS now").first() else {
            throw ReelError(.internalError, "the database did not say what time it is")
        }
        return try row.decode(column: "now", as: Double.self)
    }

    // MARK: - Pagination cursors

    /// Opaque cursor: base64url of "<createdAt bit pattern hex>:<uuid>".
    static func makeCursor(createdAt: Double, id: UUID) -> String {
        let raw = String(createdAt.bitPattern, radix: 16) + ":" + id.uuidString
        return Data(raw.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func parseCursor(_ cursor: String) throws -> (createdAt: Double, id: UUID) {
        var b64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard cursor.count <= 200, let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else {
            throw ReelError(.badInput, "the cursor is not one this server gave out")
        }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let bits = UInt64(parts[0], radix: 16), let id = UUID(uuidString: parts[1]) else {
            throw ReelError(.badInput, "the cursor is not one this server gave out")
        }
        let value = Double(bitPattern: bits)
        guard value.isFinite else { throw ReelError(.badInput, "the cursor is not one this server gave out") }
        return (value, id)
    }

    /// One page of `query`, newest first (ties broken by id), after `cursor`: the rows and the cursor of the next page.
    static func newestFirst<M: Model>(_ query: QueryBuilder<M>, limit: Int, cursor: String?,
                                      createdAt: KeyPath<M, FieldProperty<M, Double>>,
                                      id: KeyPath<M, IDProperty<M, UUID>>) async throws -> (rows: [M], nextCursor: String?) {
        let limit = try checkLimit(limit)
        var q = query
        if let cursor {
            let c = try parseCursor(cursor)
            q = q.group(.or) { or in
                or.filter(createdAt < c.createdAt)
                or.group(.and) { and in and.filter(createdAt == c.createdAt).filter(id < c.id) }
            }
        }
        let rows = try await q.sort(createdAt, .descending).sort(id, .descending).limit(limit + 1).all()
        let next = rows.count > limit ? rows[limit - 1] : nil
        return (Array(rows.prefix(limit)), next.map { makeCursor(createdAt: $0[keyPath: createdAt].wrappedValue, id: $0[keyPath: id].wrappedValue!) })
    }

    static func checkLimit(_ limit: Int) throws -> Int {
        guard limit >= 1 else { throw ReelError(.badInput, "limit must be 1 or more") }
        return min(limit, 200)
    }
}
