import Base
import CertStore

/// What keeps other runs (another `acme`, certbot, another fleet node) from renewing the lineages
/// a run renews. certmagic's `Locker` is the model: take the lock, then read the lineages again
/// and re-check that they are still due under it, then act, then release.
///
/// Two kinds: `ConfigDirectoryLocker` (the config directory's `.certbot.lock`, every lineage at
/// once, waiting for the other run; what `Renewer.run` takes) and the fleet's advisory locks
/// (`AdvisoryLineageLocker` in Fleet: one PostgreSQL advisory lock per lineage, try-lock, a lineage
/// another node holds is left out). Both block: call them on a thread of your own.
public protocol LineageLocker {
    /// Locks for a run over `names`; returns the names the run may act on (the others are being
    /// renewed elsewhere). Throws when the lock itself cannot be taken.
    mutating func lock(_ names: [String]) throws -> [String]
    /// Releases what `lock` took (a failed release counts as released: the session or descriptor is gone).
    mutating func unlock()
}

/// The config directory's lock as a `LineageLocker`: every lineage, waiting (once announced by
/// `waiting`) for another acme or certbot run.
public struct ConfigDirectoryLocker: LineageLocker, Sendable {
    public let configDirectory: String
    public var waiting: @Sendable () -> Void
    private var held: FileLock?

    public init(configDirectory: String, waiting: @escaping @Sendable () -> Void = {}) {
        self.configDirectory = configDirectory
        self.waiting = waiting
    }

    public mutating func lock(_ names: [String]) throws -> [String] {
        if held == nil { held = try ConfigLock.acquire(configDirectory: configDirectory, create: false, waiting: waiting) }
        return names
    }

    public mutating func unlock() {
        held?.release()
        held = nil
    }

    /// Takes the lock on a thread of its own (the wait for certbot may take minutes) and returns the locker holding it.
    public func locked() async throws -> ConfigDirectoryLocker {
        let locker = self
        return try await onOwnThread(throwing: {
            var taken = locker
            _ = try taken.lock([])
            return taken
        })
    }
}
