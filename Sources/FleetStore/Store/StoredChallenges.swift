/// Live challenges in the store, so that every node's responder can answer the CA whichever
/// node placed the order: HTTP-01 token → key authorization, TLS-ALPN-01 name → key authorization.
public struct StoredChallenges {
    public enum Kind: String, Sendable {
        case http01 = "http-01"
        case tlsALPN01 = "tls-alpn-01"
    }

    let connection: PostgresConnection

    public init(_ store: FleetStore) { connection = store.connection }

    /// The longest a challenge may stay; a CA validates within minutes.
    public static let maxLifetime = 3600

    /// Publishes a challenge for `lifetime` seconds (1…3600), replacing one with the same token.
    public func put(_ kind: Kind, token: String, keyAuthorization: String, lifetime: Int) throws {
        guard (1...255).contains(token.utf8.count), (1...1024).contains(keyAuthorization.utf8.count) else {
            throw FleetStoreError(.corruptRow, "a challenge token must be 1-255 bytes and its key authorization 1-1024 bytes")
        }
        try connection.execute("""
            INSERT INTO acme_challenges (kind, token, key_authorization, expires_at)
            VALUES ($1, $2, $3, now() + make_interval(secs => $4))
            ON CONFLICT (kind, token) DO UPDATE SET key_authorization = excluded.key_authorization, expires_at = excluded.expires_at
            """, [.text(kind.rawValue), .text(token), .text(keyAuthorization), .int(min(max(lifetime, 1), Self.maxLifetime))])
    }

    /// The key authorization of a live (not expired) challenge, or nil.
    public func keyAuthorization(_ kind: Kind, token: String) throws -> String? {
        guard (1...255).contains(token.utf8.count), !token.utf8.contains(0) else { return nil }
        return try connection.execute("""
            SELECT key_authorization FROM acme_challenges WHERE kind = $1 AND token = $2 AND expires_at > now()
            """, [.text(kind.rawValue), .text(token)]).first?.string(0)
    }

    /// One live challenge as `live(limit:)` reads it; `millisecondsLeft` until it expires.
    public struct Live: Sendable, Equatable {
        public var kind: Kind
        public var token: String
        public var keyAuthorization: String
        public var millisecondsLeft: Int
    }

    /// The live (not expired) challenges, at most `limit` of them, those expiring last first
    /// (the newest presented); rows of a kind this acme does not know are left out.
    public func live(limit: Int) throws -> [Live] {
        try connection.execute("""
            SELECT kind, token, key_authorization, (extract(epoch FROM expires_at - now()) * 1000)::bigint FROM acme_challenges
            WHERE expires_at > now() ORDER BY expires_at DESC LIMIT $1
            """, [.int(max(0, limit))]).compactMap { row in
            guard let kind = row.string(0).flatMap(Kind.init(rawValue:)), let token = row.string(1),
                  let keyAuthorization = row.string(2), let milliseconds = row.int(3) else { return nil }
            return Live(kind: kind, token: token, keyAuthorization: keyAuthorization, millisecondsLeft: milliseconds)
        }
    }

    public func remove(_ kind: Kind, token: String) throws {
        try connection.execute("DELETE FROM acme_challenges WHERE kind = $1 AND token = $2", [.text(kind.rawValue), .text(token)])
    }

    /// Removes expired challenges; returns how many.
    @discardableResult
    public func removeExpired() throws -> Int {
        try connection.execute("WITH gone AS (DELETE FROM acme_challenges WHERE expires_at <= now() RETURNING 1) SELECT count(*) FROM gone").first?.int(0) ?? 0
    }
}
