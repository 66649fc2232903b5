import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// One lineage as `acme certificates` shows it.
public struct LineageSummary: Sendable, Codable {
    public var name: String
    public var domains: [String]
    public var notAfter: Date?
    public var daysLeft: Int?
    public var keyType: String?
    public var profile: String?
    public var server: String?
    public var certificatePath: String
    public var privateKeyPath: String
    /// "valid", "expired", "key does not match", or what could not be read.
    public var status: String
    /// Something `acme renew` would fail on: an unreadable conf, certificate or key, a key that
    /// does not match, a conf value acme cannot use. (Expired alone is not broken: renew fixes it.)
    public var isBroken: Bool { status != "valid" && status != "expired" }

    /// The readable block `acme certificates` prints.
    public var text: String {
        let expiry = notAfter.map { "\($0.utcText) (\(daysLeft ?? 0) days)" } ?? "unknown"
        return """
        \(name.escapedForDisplay)
          domains:  \(domains.joined(separator: " ").escapedForDisplay)
          expires:  \(expiry)
          key:      \(keyType ?? "unknown")
          profile:  \((profile ?? "CA default").escapedForDisplay)
          status:   \(status.escapedForDisplay)
          path:     \(certificatePath.escapedForDisplay)
        """
    }
}

/// Reads every lineage of a config directory without changing anything.
public struct Inventory: Sendable {
    public var configDirectory: String
    public init(configDirectory: String) { self.configDirectory = LocalSystem.absolutePath(configDirectory) }

    /// Every lineage; throws when the config directory or its renewal/ cannot be read.
    public func lineages(now: Date = Date()) throws -> [LineageSummary] {
        let store = LineageStore(configDirectory: configDirectory)
        return try store.allLineages().map { summary($0, store: store, now: now) }
    }

    /// What can be read of one lineage; what cannot is its status, never skipped.
    func summary(_ lineage: Lineage, store: LineageStore, now: Date) -> LineageSummary {
        var result = LineageSummary(name: lineage.name, domains: [], certificatePath: lineage.fullchainPath,
                                    privateKeyPath: lineage.privkeyPath, status: "valid")
        do {
            let config = try store.renewalConfig(of: lineage)
            result.server = config[param: "server"]
            result.profile = config[param: "required_profile"] ?? config[param: "preferred_profile"]
            // What renew would decode: a value it cannot use breaks the lineage's renewal.
            _ = try RenewalParams(decoding: config, path: lineage.renewalConfigPath, defaultServer: LetsEncrypt.production)
        } catch let error as CertStoreError {
            result.status = "unreadable renewal conf: \(error)"
        } catch {
            result.status = "renew would fail: \(error)"
        }
        let certificate: Certificate
        do {
            certificate = try lineage.liveCertificate()
        } catch {
            result.status = "unreadable certificate: \(error)"
            return result
        }
        result.domains = certificate.dnsNames
        result.notAfter = certificate.notAfter
        result.daysLeft = Int((certificate.notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        result.keyType = certificate.keyDescription()
        do {
            let key = try lineage.liveKey()
            if !certificate.matches(key) { result.status = "key does not match the certificate" }
        } catch {
            result.status = "unreadable key: \(error)"
        }
        if result.status == "valid", certificate.isExpired(at: now) { result.status = "expired" }
        return result
    }
}
