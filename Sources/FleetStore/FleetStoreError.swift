import Base

/// A failure of the PostgreSQL store, as one line naming the store (its URL with the password
/// replaced by `***`), the lineage, account or file involved, and what to do.
public typealias FleetStoreError = ModuleError<FleetStoreModule>
public enum FleetStoreModule {}

extension ErrorCode where Domain == FleetStoreError {
    /// `--store` (or `ACME_STORE`) is not a connection string libpq can read, or one whose password libpq would split into host, port or database.
    public static var invalidURL: Self { Self("fleet.invalidURL", .usage) }
    /// The database server cannot be reached, refused the login, or the connection broke.
    public static var unreachable: Self { Self("fleet.unreachable", .network) }
    /// A statement ran into `statement_timeout` or `lock_timeout`.
    public static var timeout: Self { Self("fleet.timeout", .network) }
    /// The server refused a statement (permissions, constraint, syntax).
    public static var queryFailed: Self { Self("fleet.queryFailed", .localState) }
    /// A result larger than the bound acme reads.
    public static var resultTooLarge: Self { Self("fleet.resultTooLarge", .localState) }
    /// The store was written by a newer acme (a schema version this acme does not know).
    public static var newerSchema: Self { Self("fleet.newerSchema", .localState) }
    /// The store has no acme tables yet.
    public static var notInitialized: Self { Self("fleet.notInitialized", .localState) }
    /// A row whose content is not what acme writes (a name that is not a plain name, a size out of bounds).
    public static var corruptRow: Self { Self("fleet.corruptRow", .localState) }
    /// The `--store-key` file is missing, unreadable, readable by others, or not 32 bytes of base64.
    public static var badKeyFile: Self { Self("fleet.badKeyFile", .localState) }
    /// The store's keys are encrypted and no `--store-key` was given, or the reverse.
    public static var keyRequired: Self { Self("fleet.keyRequired", .usage) }
    /// `--store-key` is not the key the store's keys were encrypted with.
    public static var wrongKey: Self { Self("fleet.wrongKey", .localState) }
    /// What `acme store import` reads is not a certbot layout it can take as it is.
    public static var badLayout: Self { Self("fleet.badLayout", .localState) }
    /// Import would change a version the store already holds with other content.
    public static var conflict: Self { Self("fleet.conflict", .localState) }
    /// The export target already holds something.
    public static var exportTargetExists: Self { Self("fleet.exportTargetExists", .usage) }
    /// A file or directory of the export cannot be written.
    public static var unwritable: Self { Self("fleet.unwritable", .localState) }
}
