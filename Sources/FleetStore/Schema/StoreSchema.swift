/// The store's tables, created and migrated by acme itself. `acme_schema` holds one row with
/// the schema version; migration N takes version N-1 to N inside one transaction, under a
/// transaction-scoped advisory lock so that two nodes starting at once migrate once.
/// A store whose version is newer than `latest` is refused: an older acme must not write rows
/// whose meaning changed.
public enum StoreSchema {
    /// The schema version this acme writes.
    public static let latest = 1

    /// Migration N (index N-1): the statements that take version N-1 to N. Never edit one that
    /// has shipped; add the next.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE acme_lineages (
                name text PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 255),
                current_version integer NOT NULL CHECK (current_version BETWEEN 1 AND 999999),
                renewal_conf bytea NOT NULL,
                config_dir text NOT NULL,
                readme bytea,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE acme_versions (
                lineage text NOT NULL REFERENCES acme_lineages (name) ON DELETE CASCADE,
                version integer NOT NULL CHECK (version BETWEEN 1 AND 999999),
                cert bytea NOT NULL,
                chain bytea NOT NULL,
                fullchain bytea NOT NULL,
                privkey bytea NOT NULL,
                privkey_sealed boolean NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (lineage, version)
            )
            """,
            """
            CREATE TABLE acme_accounts (
                server_path text NOT NULL,
                id text NOT NULL,
                regr bytea NOT NULL,
                meta bytea NOT NULL,
                private_key bytea NOT NULL,
                key_sealed boolean NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (server_path, id)
            )
            """,
            """
            CREATE TABLE acme_ari (
                lineage text PRIMARY KEY REFERENCES acme_lineages (name) ON DELETE CASCADE,
                cert_id text NOT NULL,
                window_start timestamptz,
                window_end timestamptz,
                explanation_url text,
                next_check timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE acme_challenges (
                kind text NOT NULL CHECK (kind IN ('http-01', 'tls-alpn-01')),
                token text NOT NULL CHECK (octet_length(token) BETWEEN 1 AND 255),
                key_authorization text NOT NULL CHECK (octet_length(key_authorization) <= 1024),
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (kind, token)
            )
            """,
            """
            CREATE TABLE acme_settings (
                key text PRIMARY KEY,
                value bytea NOT NULL
            )
            """,
        ],
    ]

    /// A fixed key for `pg_advisory_xact_lock` around migrations ("acme-sch" in ASCII).
    static let migrationLockKey = 0x61636d652d736368

    /// The store's schema version; nil when acme's tables are not there yet.
    public static func version(_ connection: PostgresConnection) throws -> Int? {
        let exists = try connection.execute("SELECT to_regclass('acme_schema') IS NOT NULL")
        guard exists.first?.bool(0) == true else { return nil }
        guard let row = try connection.execute("SELECT version FROM acme_schema").first, let version = row.int(0) else {
            throw FleetStoreError(.corruptRow, "the store \(connection.url.redacted) has an acme_schema table without its version row; restore the database from a backup")
        }
        return version
    }

    /// Creates or migrates the tables to `latest`; returns the version found (nil: none).
    /// Refuses a store written by a newer acme, changing nothing.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection) throws -> Int? {
        try connection.transaction {
            try connection.execute("SELECT pg_advisory_xact_lock($1)", [.int(migrationLockKey)])
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS acme_schema (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    version integer NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let found = try connection.execute("SELECT version FROM acme_schema").first?.int(0)
            let current = found ?? 0
            try requireKnown(current, connection)
            for version in stride(from: current + 1, through: latest, by: 1) {
                for statement in migrations[version - 1] { try connection.execute(statement) }
            }
            if current < latest {
                try connection.execute("""
                    INSERT INTO acme_schema (singleton, version) VALUES (true, $1)
                    ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, updated_at = now()
                    """, [.int(latest)])
            }
            return found
        }
    }

    /// The store must exist at a version this acme knows (for commands that only read).
    public static func requireCurrent(_ connection: PostgresConnection) throws {
        guard let version = try version(connection) else {
            throw FleetStoreError(.notInitialized, "the store \(connection.url.redacted) has no acme tables; run acme store init (or acme store import) first")
        }
        try requireKnown(version, connection)
        guard version == latest else {
            throw FleetStoreError(.notInitialized, "the store \(connection.url.redacted) is at schema version \(version), this acme writes \(latest); run acme store init to migrate it")
        }
    }

    static func requireKnown(_ version: Int, _ connection: PostgresConnection) throws {
        guard version <= latest else {
            throw FleetStoreError(.newerSchema, "the store \(connection.url.redacted) was written by a newer acme (schema version \(version); this acme knows up to \(latest)); upgrade acme on this node before using the store")
        }
    }
}
