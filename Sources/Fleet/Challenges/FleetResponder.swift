import Base
import Challenges
import FleetStore
import Glibc
import Synchronization

/// Every node's challenge responder in fleet mode: an `HTTP01Responder` (and, when asked, a
/// `TLSALPN01Responder`) whose live challenges mirror the store's `acme_challenges`, so the
/// CA's request may reach any node whichever node placed the order.
///
/// One dedicated thread owns one store connection (a `PostgresConnection` is confined to one
/// thread). It LISTENs on `acme_challenges` and loads the live rows — at most
/// `Settings.maxChallenges`, those expiring last first — at start, on every notification, at
/// the earliest expiry and every `Settings.refreshMilliseconds` as a fallback. A request never
/// queries the store: a token the mirror does not hold is a 404 at once, so a flood of random
/// tokens costs the database nothing.
///
/// Untrusted store content: a row is served only if its token (or name) and key authorization
/// have acme's shape (`ChallengeShape`). Expired rows are not served, also while the store is
/// unreachable: each mirrored challenge is dropped when its own lifetime ends.
///
/// Store down: the responders keep serving what they have; one line is logged when the store
/// is lost and one when it is back; reconnection backs off from 1 s to `Settings.maxBackoffMilliseconds` (4 s).
public final class FleetResponder: @unchecked Sendable {
    public struct Settings: Sendable {
        /// The most live challenges mirrored (a CA validates a handful per order).
        public var maxChallenges = 1000
        /// The fallback reload interval, for a notification lost with a broken connection.
        public var refreshMilliseconds = 5_000
        /// The longest wait between two reconnection attempts: shorter than the presenting node's
        /// wait for the mirrors (`StoreChallengeSolver.mirrorWait`), so a responder is back before a
        /// node that reached the restarted store asks the CA (at 30 s, the CA's requests met a 404).
        public var maxBackoffMilliseconds = 4_000
        public init() {}
    }

    public let http01: HTTP01Responder?
    public let tlsALPN01: TLSALPN01Responder?
    public let settings: Settings
    private let open: @Sendable () throws -> FleetStore
    private let storeName: String
    private let log: EventSink

    private struct Key: Hashable {
        var kind: StoredChallenges.Kind
        var token: String
    }

    private struct Entry {
        var keyAuthorization: String
        /// Monotonic milliseconds at which the challenge expires.
        var expires: Int
        /// Placed by this node's own solver (`serve`): a load that has not seen it yet keeps it.
        var local: Bool
    }

    private let mirror = Mutex<[Key: Entry]>([:])
    /// Challenges this node's solver withdrew (cleanup) → when to forget them: a load that read
    /// the row just before its deletion must not serve it again. Forgotten when a load no longer
    /// has the row, or after the longest lifetime. Always locked inside `mirror`.
    private let withdrawn = Mutex<[Key: Int]>([:])
    private let stopping = Atomic<Bool>(false)
    private let loadCount = Atomic<Int>(0)
    private let connectCount = Atomic<Int>(0)
    private let connected = Atomic<Bool>(false)
    // Lifecycle: only start() and stop() touch it, which callers serialise.
    private var thread: pthread_t?
    // Only the mirror thread touches it: rows refused at the last load, so the log says it once.
    private var lastRefused = 0

    /// `open`: a fresh store connection; `storeName`: the store as messages show it (password redacted).
    public init(http01: HTTP01Responder?, tlsALPN01: TLSALPN01Responder? = nil, settings: Settings = Settings(), storeName: String,
                log: @escaping EventSink, open: @escaping @Sendable () throws -> FleetStore) {
        self.http01 = http01
        self.tlsALPN01 = tlsALPN01
        self.settings = settings
        self.storeName = storeName
        self.log = log
        self.open = open
    }

    /// The responder for the store at `url` (checked here: a bad URL is a usage error before anything listens).
    public convenience init(storeURL: String, keyFile: String? = nil, http01: HTTP01Responder?, tlsALPN01: TLSALPN01Responder? = nil,
                            settings: Settings = Settings(), log: @escaping EventSink) throws {
        let name = try StoreURL(storeURL).redacted
        // A bad key file is the user's to fix now, not a reason to retry forever in the background.
        if let keyFile { _ = try StoreKey(file: keyFile) }
        self.init(http01: http01, tlsALPN01: tlsALPN01, settings: settings, storeName: name, log: log) {
            try FleetStore.open(url: storeURL, keyFile: keyFile)
        }
    }

    deinit { stop() }

    /// How many times the live challenges were read from the store (one query each).
    public var loads: Int { loadCount.load(ordering: .relaxed) }
    /// How many connections were opened (the first, and one per recovery).
    public var connects: Int { connectCount.load(ordering: .relaxed) }
    /// Whether the mirror's connection is up.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }
    /// How many challenges are served now.
    public var mirrored: Int { mirror.withLock { $0.count } }

    /// Binds the responders' ports (throws if one is taken), then starts mirroring; returns at once:
    /// the first load follows within milliseconds when the store is reachable.
    public func start() throws {
        guard thread == nil else { return }
        try http01?.start()
        do { try tlsALPN01?.start() } catch {
            http01?.stop()
            throw error
        }
        stopping.store(false, ordering: .relaxed)
        switch NativeThread.spawn({ [self] in run() }) {
        case .success(let handle): thread = handle
        case .failure(let failure):
            http01?.stop()
            tlsALPN01?.stop()
            throw ChallengeError(.system, "cannot start the fleet responder's store thread: \(String(cString: strerror(failure.code)))")
        }
    }

    /// Stops mirroring (within a quarter of a second) and closes the responders.
    public func stop() {
        guard let thread else { return }
        stopping.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
        self.thread = nil
        http01?.stop()
        tlsALPN01?.stop()
    }

    // MARK: - This node's own challenges

    /// Serves a challenge this node's solver just wrote to the store, without waiting for the notification.
    func serve(_ kind: StoredChallenges.Kind, token: String, keyAuthorization: String, lifetimeMilliseconds: Int) {
        let key = Key(kind: kind, token: token)
        let entry = Entry(keyAuthorization: keyAuthorization, expires: Self.now() + lifetimeMilliseconds, local: true)
        mirror.withLock { mirror in
            _ = withdrawn.withLock { $0.removeValue(forKey: key) }
            if install(key, entry.keyAuthorization) { mirror[key] = entry }
        }
    }

    func withdraw(_ kind: StoredChallenges.Kind, token: String) {
        let key = Key(kind: kind, token: token)
        mirror.withLock { mirror in
            withdrawn.withLock { $0[key] = Self.now() + StoredChallenges.maxLifetime * 1000 }
            if mirror.removeValue(forKey: key) != nil { uninstall(key) }
        }
    }

    // MARK: - The mirror thread

    private func run() {
        var store: FleetStore?
        var failures = 0
        var lostSince: Int?
        var nextLoad = 0
        var markDue = true  // a load after a connect or a notification tells the presenting node (MirrorMark)
        while !stopping.load(ordering: .relaxed) {
            expire()
            guard let current = store else {
                do {
                    let opened = try open()
                    try opened.connection.listen(StoreChallengeSolver.channel)
                    try MirrorMark.set(opened, mark: 0)
                    connectCount.add(1, ordering: .relaxed)
                    connected.store(true, ordering: .relaxed)
                    store = opened
                    if lostSince != nil { log("fleet responder: the store \(storeName) is back; mirroring its challenges again") }
                    lostSince = nil
                    failures = 0
                    nextLoad = 0
                    markDue = true
                } catch {
                    if lostSince == nil {
                        log("fleet responder: cannot reach the store \(storeName) (\(error)); still serving the \(mirrored) challenges it has, retrying with backoff")
                        lostSince = Self.now()
                    }
                    failures += 1
                    pause(milliseconds: min(settings.maxBackoffMilliseconds, 1000 << min(failures - 1, 10)))
                }
                continue
            }
            do {
                if Self.now() >= nextLoad {
                    let mark = markDue ? try MirrorMark.clock(current) : nil
                    let rows = try StoredChallenges(current).live(limit: settings.maxChallenges)
                    loadCount.add(1, ordering: .relaxed)
                    let soonest = apply(rows)
                    if let mark {
                        try MirrorMark.set(current, mark: mark)
                        markDue = false
                    }
                    nextLoad = Self.now() + min(settings.refreshMilliseconds, soonest.map { $0 + 1 } ?? Int.max)
                }
                let wait = max(0, min(nextLoad - Self.now(), 250, (nearestExpiry() ?? Int.max) - Self.now()))
                if try current.connection.nextNotification(timeout: Double(wait) / 1000) != nil {
                    // Several challenges presented at once: one load for all of them.
                    while try current.connection.nextNotification(timeout: 0) != nil {}
                    nextLoad = 0
                    markDue = true
                }
            } catch {
                store = nil
                connected.store(false, ordering: .relaxed)
                log("fleet responder: lost the store \(storeName) (\(error)); still serving the \(mirrored) challenges it has, reconnecting with backoff")
                lostSince = Self.now()
                failures = 1
                pause(milliseconds: 1000)
            }
        }
        connected.store(false, ordering: .relaxed)
    }

    /// Makes the mirror what the store holds; returns the milliseconds until the first of them expires.
    private func apply(_ rows: [StoredChallenges.Live]) -> Int? {
        let now = Self.now()
        var wanted: [Key: Entry] = [:]
        var refused = 0
        for row in rows where row.millisecondsLeft > 0 {
            guard ChallengeShape.isServable(row.kind, token: row.token, keyAuthorization: row.keyAuthorization) else {
                refused += 1
                continue
            }
            wanted[Key(kind: row.kind, token: row.token)] = Entry(keyAuthorization: row.keyAuthorization, expires: now.adding(saturating: row.millisecondsLeft), local: false)
        }
        if refused != lastRefused, refused > 0 { log("fleet responder: ignored \(refused) challenge rows in the store \(storeName) that acme did not write (token or key authorization not base64url)") }
        lastRefused = refused
        mirror.withLock { mirror in
            withdrawn.withLock { withdrawn in
                for key in Array(withdrawn.keys) {
                    if wanted.removeValue(forKey: key) == nil { withdrawn.removeValue(forKey: key) }  // the store dropped it too
                }
            }
            for (key, entry) in mirror where wanted[key] == nil && !entry.local {
                mirror.removeValue(forKey: key)
                uninstall(key)
            }
            for (key, entry) in wanted {
                if mirror[key]?.keyAuthorization == entry.keyAuthorization || install(key, entry.keyAuthorization) {
                    mirror[key] = entry  // now the store's: its expiry, and removed when the store drops it
                }
            }
        }
        return wanted.values.map { $0.expires - now }.min()
    }

    /// Drops every mirrored challenge whose lifetime ended, whether or not the store is reachable.
    private func expire() {
        let now = Self.now()
        mirror.withLock { mirror in
            withdrawn.withLock { withdrawn in
                for (key, until) in withdrawn where until <= now { withdrawn.removeValue(forKey: key) }
            }
            for (key, entry) in mirror where entry.expires <= now {
                mirror.removeValue(forKey: key)
                uninstall(key)
            }
        }
    }

    private func nearestExpiry() -> Int? {
        mirror.withLock { $0.values.map(\.expires).min() }
    }

    /// Hands a challenge to its responder; false when that responder is not running here or refused it.
    private func install(_ key: Key, _ keyAuthorization: String) -> Bool {
        switch key.kind {
        case .http01:
            guard let http01 else { return false }
            http01.add(token: key.token, keyAuthorization: keyAuthorization)
            return true
        case .tlsALPN01:
            guard let tlsALPN01 else { return false }
            do {
                try tlsALPN01.add(identifier: key.token, keyAuthorization: keyAuthorization)
                return true
            } catch {
                log("fleet responder: cannot answer TLS-ALPN-01 for \(key.token): \(error)")
                return false
            }
        }
    }

    private func uninstall(_ key: Key) {
        switch key.kind {
        case .http01: http01?.remove(token: key.token)
        case .tlsALPN01: tlsALPN01?.remove(identifier: key.token)
        }
    }

    /// Sleeps `milliseconds`, waking every 100 ms to honour `stop` and to expire challenges.
    private func pause(milliseconds: Int) {
        let until = Self.now() + milliseconds
        while !stopping.load(ordering: .relaxed), Self.now() < until {
            expire()
            usleep(UInt32(min(100, max(1, until - Self.now())) * 1000))
        }
    }

    static func now() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1000 + time.tv_nsec / 1_000_000
    }
}
