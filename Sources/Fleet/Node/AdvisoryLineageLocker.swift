import FleetStore
import Renewal

/// The fleet's `LineageLocker`: one session-scoped PostgreSQL advisory lock per lineage
/// (`AdvisoryLock.lineage`), taken with try-lock on the round's own connection; a lineage whose
/// lock another node holds is left out. Released at the end of the round, and by the server when
/// the connection ends (also when the process is killed). Blocks on libpq: the round's own thread.
struct AdvisoryLineageLocker: LineageLocker {
    let store: FleetStore
    private(set) var held: [String] = []

    init(store: FleetStore) { self.store = store }

    mutating func lock(_ names: [String]) throws -> [String] {
        var taken: [String] = []
        for name in names where try AdvisoryLock.lineage(name).tryAcquire(on: store.connection) {
            held.append(name)  // at once: a later failure still releases it
            taken.append(name)
        }
        return taken
    }

    mutating func unlock() {
        for name in held {
            // A failed release (the connection is gone) releases too: the session ended.
            _ = try? AdvisoryLock.lineage(name).release(on: store.connection)
        }
        held = []
    }
}
