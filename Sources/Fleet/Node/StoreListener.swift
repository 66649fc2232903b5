import Base
import FleetStore
import Glibc

/// LISTEN on `acme_lineages` on a connection of its own, confined to one native thread that
/// blocks in `nextNotification` with a bounded wait; each notification (its payload: the
/// lineage name) is handed to `notified`. A lost connection is reconnected with backoff
/// (1 s doubling to 4 s, so a restarted store is noticed, and `store-unreachable` resolved,
/// within seconds, not a minute); the daemon's periodic re-check covers what is missed meanwhile, and
/// `notified` is called once after each reconnection so that nothing published in the gap waits
/// for it.
public final class StoreListener: @unchecked Sendable {
    private let settings: StoreSettings
    private let notified: @Sendable (String) -> Void
    private let failed: @Sendable (String) -> Void
    private let stopped = Flag()

    /// `failed` hears each connection failure (once per outage, not per retry).
    public init(settings: StoreSettings, notified: @escaping @Sendable (String) -> Void, failed: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.notified = notified
        self.failed = failed
    }

    /// Starts the thread; an error when no thread can be started.
    public func start() throws {
        let result = NativeThread.spawn { [self] in self.loop() }
        if case .failure(let failure) = result {
            throw FleetStoreError(.unreachable, "cannot start the thread that listens to the store: pthread error \(failure.code)")
        }
    }

    /// Asks the thread to end (within its bounded wait).
    public func stop() { stopped.set() }

    private func loop() {
        var delay = 1.0
        var reported = false
        var connectedBefore = false
        while !stopped.isSet {
            do {
                let connection = try PostgresConnection(url: try StoreURL(settings.url))
                try connection.listen(lineageChannel)
                if connectedBefore { notified("") }  // published while we were away: look once
                connectedBefore = true
                delay = 1
                reported = false
                while !stopped.isSet {
                    if let notification = try connection.nextNotification(timeout: 5) { notified(notification.payload) }
                }
            } catch {
                if !reported { failed("\(error)") }
                reported = true
                var remaining = delay
                while remaining > 0 && !stopped.isSet {
                    usleep(200_000)
                    remaining -= 0.2
                }
                delay = min(delay * 2, 4)
            }
        }
    }
}

/// A flag set once, read from another thread.
final class Flag: @unchecked Sendable {
    private var value = false
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func set() {
        pthread_mutex_lock(&mutex)
        value = true
        pthread_mutex_unlock(&mutex)
    }

    var isSet: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return value
    }
}
