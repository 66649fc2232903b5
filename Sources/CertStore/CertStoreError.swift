import Base

/// A failure of the certbot layout, as one line naming the path or lineage.
public typealias CertStoreError = ModuleError<CertStoreModule>
public enum CertStoreModule {}

extension ErrorCode where Domain == CertStoreError {
    /// A renewal conf that is not configobj as certbot writes it, or lacks a required key.
    public static var malformedConfig: Self { Self("store.malformedConfig", .localState) }
    /// A lineage's links or archive are broken beyond what repair can mend.
    public static var damaged: Self { Self("store.damaged", .localState) }
    /// A lineage directory is a link out of the managed tree.
    public static var unsafeLineage: Self { Self("store.unsafeLineage", .localState) }
    /// Something is already there that must not be overwritten.
    public static var exists: Self { Self("store.exists", .localState) }
    /// No lineage of the name given.
    public static var noSuchLineage: Self { Self("store.noSuchLineage", .usage) }
    /// Something expected is not there.
    public static var notFound: Self { Self("store.notFound", .localState) }
    /// A file, link or directory cannot be created, swapped or removed.
    public static var unwritable: Self { Self("store.unwritable", .localState) }
    /// The file system of a directory acme must write to is (nearly) full.
    public static var noRoom: Self { Self("store.noRoom", .localState) }
    /// A stored account's files are unreadable or corrupt.
    public static var corruptAccount: Self { Self("store.corruptAccount", .localState) }
}
