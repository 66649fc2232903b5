import ACMECrypto
import Base
import CertStore
import FleetStore
import FoundationEssentials
import Issuance

/// Materializes the store into a node's certbot layout: for each lineage whose current
/// certificate in the store is newer than the node's, the store's version is added through
/// `LineageStore` (archive first, live links swapped in one step, the conf last: the same
/// crash safety as a renewal), or the lineage is created when the node has none. Nothing local
/// is ever deleted because the store lacks it or cannot be reached. A node whose own version
/// is newer (renewed here while the store was down) publishes it instead.
public struct StoreSync: Sendable {
    public struct Report: Sendable, Equatable {
        /// Lineages created or given a new version from the store.
        public var installed: [String] = []
        /// Lineages whose newer local version was published to the store.
        public var published: [String] = []
        /// Accounts written from the store.
        public var accounts = 0
        /// Lineages left as they are because their row in the store, or their local files, could
        /// not be used: one line each, naming the lineage and what to do. The others were synced.
        public var problems: [String] = []
        public var changedLocally: Bool { !installed.isEmpty || accounts > 0 }

        public init() {}
    }

    public var configDirectory: String
    public var toolVersion: String
    /// Called once if another acme or certbot run holds the config directory's lock.
    public var waiting: @Sendable () -> Void = {}

    public init(configDirectory: String, toolVersion: String) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.toolVersion = toolVersion
    }

    /// Brings every lineage (or only `only`) and every account up to the store's versions.
    public func run(_ store: FleetStore, only: Set<String>? = nil) throws -> Report {
        var report = Report()
        let found = try store.lineageHeads()
        report.problems = found.refused
        let heads = found.heads.filter { only?.contains($0.name) ?? true }
        let lock = try ConfigLock.acquire(configDirectory: configDirectory, create: true, waiting: waiting)
        defer { lock.release() }
        let lineages = LineageStore(configDirectory: configDirectory)
        report.accounts = try store.materializeAccounts(into: configDirectory)
        for head in heads {
            do {
                if try sync(head, store, lineages, &report) { report.installed.append(head.name) }
            } catch where !Self.isUnreachable(error) {
                report.problems.append("\(head.name): not synced: \(error)")
            }
        }
        return report
    }

    static func isUnreachable(_ error: any Error) -> Bool { (error as? FleetStoreError)?.category == .network }

    /// One lineage; true when the store's version was installed here.
    func sync(_ head: StoredLineageHead, _ store: FleetStore, _ lineages: LineageStore, _ report: inout Report) throws -> Bool {
        guard let local = try lineages.lineage(named: head.name) else {
            guard let stored = try store.currentVersion(of: head.name, configDirectory: configDirectory) else { return false }
            _ = try lineages.create(name: head.name, files: stored.files, renewalParams: stored.conf.renewalParams,
                                    webrootMap: stored.conf.webrootMap, version: stored.conf.version ?? toolVersion)
            return true
        }
        if lineages.needsRepair(local) {
            _ = try lineages.repair(local, pairMatches: Issuer.keyMatchesCertificate)
        }
        let localCert = try local.readLive("cert")
        if Array(localCert.utf8) == head.cert { return false }
        let storeSummary = try CertificateSummary(pem: String(decoding: head.cert, as: UTF8.self))
        // A local certificate that does not parse is behind the store's, whatever it says.
        let localSummary = try? CertificateSummary(pem: localCert)
        if let localSummary, localSummary.notAfter > storeSummary.notAfter {
            // Renewed here (while the store was down): the store gets it, not the reverse.
            let conf = try FS.read(local.renewalConfigPath, limit: 64 << 10)
            if try store.publish(local, files: try lineages.readLive(local), conf: Array(conf.utf8)) != nil {
                report.published.append(head.name)
            }
            return false
        }
        guard let stored = try store.currentVersion(of: head.name, configDirectory: configDirectory) else { return false }
        try lineages.addVersion(to: local, files: stored.files, renewalParams: stored.conf.renewalParams,
                                webrootMap: stored.conf.webrootMap, version: stored.conf.version ?? toolVersion)
        return true
    }
}
