import ACMECrypto
import Base
import CertStore
import FleetStore
import FoundationEssentials
import Issuance
import Renewal

/// Where the fleet store is and how to open it: `--store URL` (or `ACME_STORE`) and `--store-key FILE`.
public struct StoreSettings: Sendable {
    public var url: String
    public var keyFile: String?

    public init(url: String, keyFile: String?) {
        self.url = url
        self.keyFile = keyFile
    }

    /// Connects and checks the schema (creating or migrating the tables; a newer one is refused).
    public func open() throws -> FleetStore {
        try FleetStore.open(url: url, keyFile: keyFile)
    }

    /// The URL with its password replaced by `***`, for messages.
    public var redacted: String { (try? StoreURL(url))?.redacted ?? "the store given with --store" }

    /// Whether `error` means the store cannot be reached now (retry later), rather than a
    /// store or key that is wrong (a person must act).
    public static func isUnreachable(_ error: any Error) -> Bool {
        (error as? FleetStoreError)?.category == .network
    }
}

/// `acme renew --store` and the daemon's renewal rounds in a fleet: exactly one node renews a
/// lineage. Each due lineage is renewed only under its session-scoped advisory lock
/// (`AdvisoryLock.lineage`), taken with try-lock on a connection of its own; a lineage whose lock
/// another node holds is skipped ("being renewed on another node"). With the locks held the
/// store is synced again, so a lineage another node renewed meanwhile is not due any more; what
/// this node renews is published (new version, conf and NOTIFY in one transaction) before the
/// locks are released. A node that dies mid-order loses its session and so its locks.
public struct FleetRenewal: Sendable {
    public struct Result: Sendable {
        public var summary: RenewalSummary
        /// What the sync brought into (or published from) the local layout.
        public var sync: StoreSync.Report
        /// Set when the store could not be reached: why. Renewal then waited, except for
        /// lineages that would otherwise expire (renewed here, published once the store is back).
        public var storeProblem: String?
    }

    public var store: StoreSettings
    public var configDirectory: String
    public var toolVersion: String
    /// When a lineage whose lock another node holds is looked at again.
    public var lockedRetry: Duration = .seconds(60)
    /// With the store down, a lineage is renewed here anyway once it is in its emergency fraction
    /// (`LifetimePolicy.emergencyFraction`, a tenth: 9 days of 90).
    public var lifetime = LifetimePolicy.standard
    /// The store-backed challenge solver every renewal of this node uses (`StoreChallengeSolver`).
    public var solverOverride: SolverOverride?
    public var progress: EventSink
    public var now: @Sendable () -> Date = { Date() }

    public init(store: StoreSettings, configDirectory: String, toolVersion: String, progress: @escaping EventSink) {
        self.store = store
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.toolVersion = toolVersion
        self.progress = progress
    }

    var sync: StoreSync { StoreSync(configDirectory: configDirectory, toolVersion: toolVersion) }

    /// One round: sync, lock, sync again under the locks, renew what is still due, publish, release.
    /// `filter`: the daemon's (lineages backing off are left out, …); the fleet adds the lineages
    /// another node holds the lock of.
    public func run(_ renewer: Renewer, _ options: RenewOptions, filter: PlanFilter = PlanFilter()) async throws -> Result {
        // libpq blocks: the round runs on a thread of its own, and awaits the renewer from there.
        var renewer = renewer
        renewer.fleet.solverOverride = solverOverride
        let fleetRenewer = renewer
        return try await OwnThread.run { thread in try await run(on: thread, fleetRenewer, options, filter) }
    }

    private func run(on thread: isolated OwnThread, _ renewer: Renewer, _ options: RenewOptions, _ filter: PlanFilter) async throws -> Result {
        let opened: FleetStore
        do {
            opened = try store.open()
        } catch where StoreSettings.isUnreachable(error) {
            return try await storeDown(renewer, options, filter, problem: "\(error)")
        }
        var locks = AdvisoryLineageLocker(store: opened)
        defer { locks.unlock() }
        do {
            // First the store's state, so a later-joining node knows every lineage.
            var report = try sync.run(opened)
            let local = try LineageStore(configDirectory: configDirectory).allLineages().map(\.name)
            let wanted = local.filter { !filter.leaveOut.contains($0) && (options.certName == nil || options.certName == $0) }
            // Lock → reload → re-check → act: the lineages another node holds are left out; under
            // the locks the store is synced again (another node may have published between the
            // first sync and now) and the renewer reads and decides from that.
            let held = try locks.lock(wanted)
            let elsewhere = wanted.filter { !held.contains($0) }
            let again = try sync.run(opened, only: Set(held))
            report.installed += again.installed.filter { !report.installed.contains($0) }
            report.published += again.published.filter { !report.published.contains($0) }
            var filter = filter
            filter.leaveOut.formUnion(elsewhere)
            // ARI through the store's acme_ari: one request per lineage and Retry-After for the fleet.
            var renewer = renewer
            renewer.fleet.ariCache = renewer.fleet.ariCache ?? StoreRenewalInfoCache.make(store)
            // Forced: a lineage that another node renewed during this run (its version just came
            // in) is not renewed again — one forced renewal per fleet, not one per node.
            let justRenewedElsewhere = options.policy.force ? Set(report.installed).intersection(held) : []
            filter.leaveOut.formUnion(justRenewedElsewhere)
            var summary: RenewalSummary
            if held.isEmpty {
                summary = RenewalSummary()
            } else {
                if let only = options.certName, !held.contains(only) { summary = RenewalSummary() } else {
                    summary = try await renewer.run(options, filter: filter)
                }
            }
            let retry = now().addingTimeInterval(Double(lockedRetry.components.seconds))
            for name in elsewhere {
                summary.reports.append(LineageReport(name: name, outcome: .held(until: retry, reason: "being renewed on another node (it holds the store's lock); looking again at \(retry.utcText)")))
            }
            for name in justRenewedElsewhere.sorted() {
                summary.reports.append(LineageReport(name: name, outcome: .held(until: now(), reason: "renewed on another node just now (its version is installed here); not renewed again")))
            }
            summary.notes += report.problems.map(Event.warning)
            summary.reports.sort { $0.name < $1.name }
            for report in summary.reports {
                guard case .renewed = report.outcome else { continue }
                do {
                    try publish(report.name, to: opened)
                } catch {
                    // The new version stays here; the next sync publishes it (it is newer than the store's).
                    summary.notes.append("\(report.name): renewed, but not yet in the store \(store.redacted): \(error); the next sync publishes it")
                }
            }
            return Result(summary: summary, sync: report, storeProblem: nil)
        } catch where StoreSettings.isUnreachable(error) {
            return try await storeDown(renewer, options, filter, problem: "\(error)")
        }
    }

    /// Publishes the local live version of `name` and the node's accounts.
    func publish(_ name: String, to opened: FleetStore) throws {
        let lineages = LineageStore(configDirectory: configDirectory)
        let lineage = try lineages.existingLineage(named: name)
        let conf = try FS.read(lineage.renewalConfigPath, limit: 64 << 10)
        if let version = try opened.publish(lineage, files: try lineages.readLive(lineage), conf: Array(conf.utf8)) {
            progress("\(name): published as version \(version) of the store")
        }
        try opened.publishAccounts(from: configDirectory)
    }

    /// The store cannot be reached: no lock, so no renewal — except lineages that would expire
    /// otherwise, renewed here with a loud warning and published by the first sync that reaches
    /// the store (their local version is then newer than the store's).
    func storeDown(_ renewer: Renewer, _ options: RenewOptions, _ filter: PlanFilter, problem: String) async throws -> Result {
        let lineages = LineageStore(configDirectory: configDirectory)
        let current = now()
        var urgent: [String] = []
        var waiting: [String] = []
        var reports: [LineageReport] = []
        let retry = current.addingTimeInterval(Double(lockedRetry.components.seconds))
        for lineage in try lineages.allLineages() where !filter.leaveOut.contains(lineage.name) {
            guard options.certName == nil || options.certName == lineage.name else { continue }
            var certificate: CertificateSummary?
            do {
                let summary = try CertificateSummary(pem: try lineage.readLive("cert"))
                certificate = summary
                if lifetime.isEmergency(notBefore: summary.notBefore, notAfter: summary.notAfter, now: current) { urgent.append(lineage.name); continue }
            } catch {
                // Not readable: the renewer says what is wrong with it once the store is back.
            }
            waiting.append(lineage.name)
            // Held for a cause (category network): not a recovery of an earlier failure.
            var report = LineageReport(name: lineage.name, outcome: .held(until: retry, reason: "not renewed while the store \(store.redacted) cannot be reached (no lock)"),
                                       certificate: certificate)
            report.category = .network
            reports.append(report)
        }
        var summary = RenewalSummary()
        if !urgent.isEmpty {
            progress(.warning("the store \(store.redacted) cannot be reached and \(urgent.joined(separator: ", ")) would expire; renewing here without the fleet's lock (another node may renew too); published when the store is back"))
            var filter = filter
            filter.leaveOut.formUnion(waiting)
            summary = try await renewer.run(options, filter: filter)
            summary.notes.append("renewed without the store's lock (the store cannot be reached): \(urgent.joined(separator: ", "))")
        }
        summary.reports += reports
        summary.reports.sort { $0.name < $1.name }
        return Result(summary: summary, sync: StoreSync.Report(), storeProblem: problem)
    }
}
