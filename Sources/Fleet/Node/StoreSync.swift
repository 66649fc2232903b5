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
        let heads = try store.lineageHeads().filter { only?.contains($0.name) ?? true }
        let lock = try ConfigLock.acquire(configDirectory: configDirectory, create: true, waiting: waiting)
        defer { withExtendedLifetime(lock) {} }
        let lineages = LineageStore(configDirectory: configDirectory)
        report.accounts = try store.materializeAccounts(into: configDirectory)
        for head in heads {
            let local = try lineages.lineage(named: head.name)
            if let local {
                if lineages.needsRepair(local) {
                    _ = try lineages.repair(local, pairMatches: Issuer.keyMatchesCertificate)
                }
                let localCert = try FS.read(local.certPath)
                if Array(localCert.utf8) == head.cert { continue }
                let storeSummary = try CertificateSummary(pem: String(decoding: head.cert, as: UTF8.self))
                // A local certificate that does not parse is behind the store's, whatever it says.
                let localSummary = try? CertificateSummary(pem: localCert)
                if let localSummary, localSummary.notAfter > storeSummary.notAfter {
                    // Renewed here (while the store was down): the store gets it, not the reverse.
                    let conf = try FS.read(local.renewalConfigPath, limit: 64 << 10)
                    if try store.publish(local, files: try lineages.readLive(local), conf: Array(conf.utf8)) != nil {
                        report.published.append(head.name)
                    }
                    continue
                }
                guard let stored = try store.currentVersion(of: head.name, configDirectory: configDirectory) else { continue }
                try lineages.addVersion(to: local, files: stored.files, renewalParams: stored.conf.renewalParams,
                                        webrootMap: stored.conf.webrootMap, version: stored.conf.version ?? toolVersion)
            } else {
                guard let stored = try store.currentVersion(of: head.name, configDirectory: configDirectory) else { continue }
                _ = try lineages.create(name: head.name, files: stored.files, renewalParams: stored.conf.renewalParams,
                                        webrootMap: stored.conf.webrootMap, version: stored.conf.version ?? toolVersion)
            }
            report.installed.append(head.name)
        }
        return report
    }
}
