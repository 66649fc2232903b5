import Base

/// The PostgreSQL store of a fleet of mail front-ends: lineages with every version, accounts,
/// ARI state and live challenges, shared by every node. Opened with `--store URL` and, when
/// private keys are encrypted at rest, `--store-key FILE`.
public final class FleetStore {
    public let connection: PostgresConnection
    let key: StoreKey?
    /// The schema version found when the store was opened (nil: acme created the tables).
    public private(set) var foundSchemaVersion: Int?

    public init(connection: PostgresConnection, key: StoreKey?) {
        self.connection = connection
        self.key = key
    }

    /// Connects, reads the key file, and creates or migrates the tables (refusing a newer
    /// schema); with `migrate` false, a store that is not at this acme's schema is refused instead.
    public static func open(url: String, keyFile: String?, migrate: Bool = true, limits: PostgresConnection.Limits = .init()) throws -> FleetStore {
        let storeURL = try StoreURL(url)
        // The key file first: a bad one is the user's to fix before any connection is tried.
        let key = try keyFile.map(StoreKey.init(file:))
        let connection = try PostgresConnection(url: storeURL, limits: limits)
        let found: Int?
        if migrate {
            found = try StoreSchema.migrate(connection)
        } else {
            try StoreSchema.requireCurrent(connection)
            found = StoreSchema.latest
        }
        let store = FleetStore(connection: connection, key: key)
        store.foundSchemaVersion = found
        return store
    }

    public var url: StoreURL { connection.url }

    // MARK: - Encryption mode

    /// The sealed key check: present once keys have been written encrypted.
    func keyCheck() throws -> [UInt8]? {
        try setting("key_check")
    }

    /// Before writing private keys: with a key, the store must be encrypted with it (or hold no
    /// unencrypted key yet, and becomes encrypted); without one, the store must not be encrypted.
    func prepareForWritingKeys() throws {
        let check = try keyCheck()
        switch (check, key) {
        case (let check?, let key?):
            _ = try key.open(check, for: .keyCheck, what: "the store's key check")
        case (_?, nil):
            throw FleetStoreError(.keyRequired, "the private keys in the store \(url.redacted) are encrypted; give \(SettingName.storeKey) (the key file every node has)")
        case (nil, let key?):
            let plain = try connection.execute("""
                SELECT (SELECT count(*) FROM acme_versions WHERE NOT privkey_sealed) + (SELECT count(*) FROM acme_accounts WHERE NOT key_sealed)
                """).first?.int(0) ?? 0
            guard plain == 0 else {
                throw FleetStoreError(.keyRequired, "the store \(url.redacted) already holds \(plain) unencrypted private keys; leave out \(SettingName.storeKey), or export the store and import it into a new database with \(SettingName.storeKey)")
            }
            try setSetting("key_check", try key.seal(Array("acme store key check".utf8), for: .keyCheck))
        case (nil, nil):
            return
        }
    }

    /// Before reading private keys: an encrypted store needs the right key.
    func prepareForReadingKeys() throws {
        if let check = try keyCheck() {
            guard let key else {
                throw FleetStoreError(.keyRequired, "the private keys in the store \(url.redacted) are encrypted; give \(SettingName.storeKey) (the key file every node has)")
            }
            _ = try key.open(check, for: .keyCheck, what: "the store's key check")
        }
    }

    /// `bytes` as stored: sealed when a key is given.
    func sealIfKeyed(_ bytes: [UInt8], for binding: StoreKey.Binding) throws -> (bytes: [UInt8], sealed: Bool) {
        guard let key else { return (bytes, false) }
        return (try key.seal(bytes, for: binding), true)
    }

    func openIfSealed(_ bytes: [UInt8], sealed: Bool, for binding: StoreKey.Binding, what: String) throws -> [UInt8] {
        guard sealed else { return bytes }
        guard let key else {
            throw FleetStoreError(.keyRequired, "\(what) in the store \(url.redacted) is encrypted; give \(SettingName.storeKey) (the key file every node has)")
        }
        return try key.open(bytes, for: binding, what: what)
    }

    // MARK: - Settings

    func setting(_ name: String) throws -> [UInt8]? {
        try connection.execute("SELECT value FROM acme_settings WHERE key = $1", [.text(name)]).first?.bytes(0)
    }

    func setSetting(_ name: String, _ value: [UInt8]) throws {
        try connection.execute("""
            INSERT INTO acme_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, [.text(name), .bytes(value)])
    }

    // MARK: - Status

    /// What `acme store status` prints.
    public struct Status: Sendable {
        public var schemaVersion: Int?
        public var lineages: Int
        public var versions: Int
        public var accounts: Int
        public var challenges: Int
        public var encrypted: Bool
    }

    /// Counts, without creating or migrating anything.
    public static func status(url: String) throws -> Status {
        let connection = try PostgresConnection(url: try StoreURL(url))
        guard let version = try StoreSchema.version(connection) else {
            return Status(schemaVersion: nil, lineages: 0, versions: 0, accounts: 0, challenges: 0, encrypted: false)
        }
        try StoreSchema.requireKnown(version, connection)
        let row = try connection.execute("""
            SELECT (SELECT count(*) FROM acme_lineages), (SELECT count(*) FROM acme_versions), (SELECT count(*) FROM acme_accounts),
                   (SELECT count(*) FROM acme_challenges WHERE expires_at > now()),
                   EXISTS (SELECT 1 FROM acme_settings WHERE key = 'key_check')
            """).first
        return Status(schemaVersion: version, lineages: row?.int(0) ?? 0, versions: row?.int(1) ?? 0, accounts: row?.int(2) ?? 0,
                      challenges: row?.int(3) ?? 0, encrypted: row?.bool(4) ?? false)
    }
}
