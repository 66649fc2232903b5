import ACMECrypto
import Base
import CertStore
import FleetStore
import FoundationEssentials
import Issuance

/// `acme account register|key-rollover|deactivate|show --store`: the account of a CA is the
/// fleet's, not one node's. The store's accounts are synced into the node's layout first; the
/// change is made under the account's advisory lock (`AdvisoryLock.account`, the lock
/// `FleetIssue` takes around a first registration), after syncing again under it, so two
/// nodes never register twice or roll the key twice; the result is published to the store (one
/// transaction) before the lock is released, and the other nodes take it at their next sync
/// (`StoreSync` replaces a rolled key).
public struct FleetAccount: Sendable {
    public var store: StoreSettings
    public var service: AccountService
    public var toolVersion: String
    /// How long to wait while another node holds the account's lock.
    public var lockWait: Duration = .seconds(300)
    public var progress: EventSink

    public init(store: StoreSettings, service: AccountService, toolVersion: String, progress: @escaping EventSink) {
        self.store = store
        self.service = service
        self.toolVersion = toolVersion
        self.progress = progress
    }

    public enum Origin: Sendable, Equatable {
        /// Registered at the CA by this run.
        case registeredHere
        /// Already stored on this node before this run.
        case stored
        /// Registered by another node (found in the store).
        case anotherNode
    }

    /// `register --store`: the fleet's account (from the store, checked at the CA), or one new
    /// registration when the store has none for the CA.
    public func register(_ options: RegistrationOptions) async throws -> (account: ResolvedAccount, origin: Origin) {
        try await withAccountLock { _, opened, before in
            // Nothing here after the first sync, an account after the one under the lock: another node's.
            if before == nil, let found = try service.existing() {
                progress("another node registered account \(found.stored.id) meanwhile; using it (no second registration)")
            }
            let (account, created) = try await service.registerOrFind(options)
            try publish(opened)
            return (account, created ? .registeredHere : (before == nil ? .anotherNode : .stored))
        }
    }

    /// `key-rollover --store`. When another node rolled the key between this run's start and
    /// the lock, this run does not roll it again (`rolledHere` false): running the command
    /// again rolls it once more.
    public func rollKey(to type: KeyType, waiting: @escaping @Sendable () -> Void = {}) async throws -> (account: ResolvedAccount, rolledHere: Bool) {
        try await withAccountLock { _, opened, before in
            guard let current = try service.existing() else {
                throw IssuanceError(.noAccount, "no account for \(service.server) on this node or in the store \(store.redacted); run `acme account register --store` first")
            }
            if let before, before.stored.id == current.stored.id, before.stored.privateKeyJWK != current.stored.privateKeyJWK {
                progress("another node rolled the key of account \(current.stored.id) meanwhile; this node now has it from the store (not rolled again; run key-rollover again to replace it once more)")
                return (current, false)
            }
            // Until the store has the new key, syncing must not put the old one back (a crash or
            // a store outage between the CA's switch and the publish).
            let marker = service.store.serverDirectory(for: service.server) + "/" + current.stored.id + "/" + FleetStore.unpublishedKeyMarker
            try FS.writeAtomically(marker, "", mode: 0o600)
            let account: ResolvedAccount
            do {
                account = try await service.rollKey(to: type, waiting: waiting)
            } catch {
                // The CA kept the old key (or the rollover's own message says what to do).
                try FS.remove(marker)
                throw error
            }
            do {
                try publish(opened)
            } catch {
                throw FleetError(.storeDown, "the CA now knows account \(account.stored.id) by its new key, saved on this node, but the store \(store.redacted) could not be updated (\(error)); run `acme account register --store` on this node once the store is reachable: it publishes the new key")
            }
            try FS.remove(marker)
            return (account, true)
        }
    }

    /// `deactivate --store`: deactivates at the CA, removes the local files and the store's
    /// record, so no node materializes it again.
    public func deactivate() async throws -> (id: String, status: String) {
        try await withAccountLock { _, opened, _ in
            let result = try await service.deactivate()
            try opened.removeAccount(serverPath: serverPath, id: result.id)
            progress("account \(result.id) removed from the store \(store.redacted); other nodes keep their copy on disk until it is removed there")
            return result
        }
    }

    /// `show --store`: the store's accounts first, then what the CA says.
    public func show() async throws -> AccountStatus {
        try await OwnThread.run { _ in try sync(try store.open()) }
        return try await service.show()
    }

    /// The server's directory under accounts/ as the store names it (certbot's layout path).
    var serverPath: String {
        let prefix = service.store.configDirectory + "/accounts/"
        let directory = service.store.serverDirectory(for: service.server)
        return directory.hasPrefix(prefix) ? String(directory.dropFirst(prefix.count)) : directory
    }

    func sync(_ opened: FleetStore) throws {
        var sync = StoreSync(configDirectory: service.store.configDirectory, toolVersion: toolVersion)
        let directory = sync.configDirectory
        sync.waiting = { [progress] in progress("another acme or certbot run is using \(directory); waiting for it to finish") }
        let report = try sync.run(opened)
        for problem in report.problems { progress(.warning(problem)) }
        if report.accounts > 0 { progress("accounts from the store \(store.redacted): \(report.accounts)") }
    }

    /// Publishes the node's accounts; a key rolled here earlier whose publish failed is in the
    /// store now, so its marker goes.
    func publish(_ opened: FleetStore) throws {
        try opened.publishAccounts(from: service.store.configDirectory, replacing: true)
        for account in try service.store.accounts(server: service.server) {
            let marker = service.store.serverDirectory(for: service.server) + "/" + account.id + "/" + FleetStore.unpublishedKeyMarker
            if FS.exists(marker) { try FS.remove(marker) }
        }
        progress("account published to the store \(store.redacted)")
    }

    /// Opens the store, syncs, notes the account as it was (`before`), takes the account lock,
    /// syncs again under it and runs `body`; the lock goes when `body` is done (or with the
    /// session, if this process dies). All of it on a thread of its own (libpq and the lock wait
    /// block); `body` runs there too, isolated to that thread, and awaits the CA from there.
    func withAccountLock<T: Sendable>(_ body: @escaping @Sendable (isolated OwnThread, FleetStore, ResolvedAccount?) async throws -> T) async throws -> T {
        try await OwnThread.run { thread in
            let opened = try store.open()
            defer { withExtendedLifetime(opened) {} }
            try sync(opened)
            let before = try service.existing()
            let lock = AdvisoryLock.account(serverPath: service.server)
            try lock.acquire(on: opened, waitingAtMost: lockWait, progress: progress)
            // A release that fails means the connection is gone, which released the lock too.
            defer { _ = try? lock.release(on: opened.connection) }
            try sync(opened)
            return try await body(thread, opened, before)
        }
    }
}
