import Base

/// A failure of a fleet workflow (beside the store's own `FleetStoreError`).
public typealias FleetError = ModuleError<FleetModule>
public enum FleetModule {}

extension ErrorCode where Domain == FleetError {
    /// Another node held a lineage's or an account's lock for longer than acme waits.
    public static var busy: Self { Self("fleetnode.busy", .network) }
    /// The store cannot be reached, so nothing was renewed under its lock.
    public static var storeDown: Self { Self("fleetnode.storeDown", .network) }
}
