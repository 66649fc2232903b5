/// A session-scoped PostgreSQL advisory lock (`pg_try_advisory_lock`): held until released or
/// until the session ends — also when the process holding it is killed, since the server ends
/// the session when its connection closes. So exactly one node renews a lineage, and a renewer
/// killed mid-order leaves the lock to the next node.
public struct AdvisoryLock: Sendable, Equatable, CustomStringConvertible {
    /// The 64-bit key PostgreSQL locks.
    public let key: Int64
    /// What is locked, for messages.
    public let name: String

    /// The lock of lineage `name`: the same key on every node and every acme version (FNV-1a, not
    /// Swift's per-process seeded hash).
    public static func lineage(_ name: String) -> AdvisoryLock {
        AdvisoryLock(key: stableKey("acme:lineage:" + name), name: "lineage \(name)")
    }

    /// The lock of the accounts at one CA directory (registration and key rollover).
    public static func account(serverPath: String) -> AdvisoryLock {
        AdvisoryLock(key: stableKey("acme:account:" + serverPath), name: "account at \(serverPath)")
    }

    public var description: String { "advisory lock of \(name) (\(key))" }

    /// Takes the lock without waiting; false when another session holds it. Taking it again on
    /// the same session succeeds and must be released as many times.
    public func tryAcquire(on connection: PostgresConnection) throws -> Bool {
        try connection.execute("SELECT pg_try_advisory_lock($1)", [.int(Int(key))]).first?.bool(0) == true
    }

    /// Releases the lock; false when this session did not hold it.
    @discardableResult
    public func release(on connection: PostgresConnection) throws -> Bool {
        try connection.execute("SELECT pg_advisory_unlock($1)", [.int(Int(key))]).first?.bool(0) == true
    }

    /// Who holds the lock, for the message of a node that waits for it: "PostgreSQL session
    /// PID from ADDRESS, connected N s ago", or nil when nobody holds it (any more). The
    /// address is shown only to a role allowed to see other sessions (pg_stat_activity).
    public func holder(on connection: PostgresConnection) throws -> String? {
        // A bigint advisory key is kept as classid (high 32 bits) and objid (low 32 bits).
        let rows = try connection.execute("""
            SELECT a.pid, coalesce(host(a.client_addr), 'a local socket'), extract(epoch FROM now() - a.backend_start)::bigint
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = (($1::bigint >> 32) & 4294967295)::bigint::oid AND l.objid = ($1::bigint & 4294967295)::bigint::oid
            """, [.int(Int(key))])
        guard let row = rows.first, let pid = row.int(0) else { return nil }
        return "PostgreSQL session \(pid) from \(row.string(1) ?? "an unknown address"), connected \(row.int(2) ?? 0) s ago"
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes, machines and releases.
    static func stableKey(_ text: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}
