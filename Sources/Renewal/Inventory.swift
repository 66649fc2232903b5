import ACMECrypto
import CertStore
import FoundationEssentials

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
}

/// Reads every lineage of a config directory without changing anything.
public struct Inventory: Sendable {
    public var configDirectory: String
    public init(configDirectory: String) { self.configDirectory = FS.absolute(configDirectory) }

    public func lineages(now: Date = Date()) -> [LineageSummary] {
        let store = LineageStore(configDirectory: configDirectory)
        return ((try? store.allLineages()) ?? []).map { summary($0, store: store, now: now) }
    }

    func summary(_ lineage: Lineage, store: LineageStore, now: Date) -> LineageSummary {
        var result = LineageSummary(name: lineage.name, domains: [], certificatePath: lineage.fullchainPath,
                                    privateKeyPath: lineage.privkeyPath, status: "valid")
        let config = try? store.renewalConfig(of: lineage)
        result.server = config?[param: "server"]
        result.profile = config?[param: "required_profile"] ?? config?[param: "preferred_profile"]
        guard let certificate = (try? FS.read(lineage.certPath)).flatMap({ try? Certificate(pem: $0) }) else {
            result.status = "unreadable certificate \(lineage.certPath)"
            return result
        }
        result.domains = certificate.dnsNames
        result.notAfter = certificate.notAfter
        result.daysLeft = Int((certificate.notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        if let key = (try? FS.read(lineage.privkeyPath)).flatMap({ try? PrivateKey(pem: $0) }) {
            result.keyType = certificate.keyDescription()
            if !certificate.matches(key) { result.status = "key does not match the certificate" }
        } else {
            result.status = "unreadable key \(lineage.privkeyPath)"
        }
        if result.status == "valid", certificate.isExpired(at: now) { result.status = "expired" }
        return result
    }
}
