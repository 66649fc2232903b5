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
