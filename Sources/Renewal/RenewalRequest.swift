import ACMECrypto
import CertStore
import Issuance

/// Turns a renewal conf (ours or certbot's) into the `IssueRequest` that renews it:
/// the same server, account, authenticator and its settings, key type, chain and
/// profile preference, key reuse and hooks.
struct RenewalRequest {
    var config: RenewalConfig
    var certificate: Certificate
    var lineage: Lineage
    var server: String
    var caBundle: String?
    var hooks: SavedHooks
    var options: RenewOptions

    func make() throws -> IssueRequest {
        var names = certificate.dnsNames
        if let cn = certificate.subjectCommonName?.lowercased(), let index = names.firstIndex(of: cn), index > 0 {
            names.insert(names.remove(at: index), at: 0)  // certbot puts the common name first
        }
        guard !names.isEmpty else { throw RenewalError("\(lineage.certPath) names no DNS names; re-issue it with acme issue") }
        var request = IssueRequest(names: names, server: server, configDirectory: lineage.configDirectory, certName: lineage.name,
                                   keyType: try keyType(), registration: RegistrationOptions(agreeTOS: options.dryRun),
                                   challenge: try challenge(), preferredChain: config[param: "preferred_chain"],
                                   caBundle: caBundle, forceRenewal: true, toolVersion: options.toolVersion)
        request.accountID = config[param: "account"]
        request.reuseKey = options.reuseKey || Self.isTrue(config[param: "reuse_key"])
        request.dryRun = options.dryRun
        request.hooks = hooks
        if let required = config[param: "required_profile"] {
            request.profile = .required(required)
        } else if let preferred = config[param: "preferred_profile"] {
            request.profile = .preferred(preferred)
        }
        return request
    }

    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["true", "yes", "on", "1"].contains(value.lowercased())
    }

    /// certbot: `key_type` rsa|ecdsa, `rsa_key_size`, `elliptic_curve`; confs older than
    /// certbot 2.0 have no key_type and mean RSA.
    func keyType() throws -> KeyType {
        switch config[param: "key_type"]?.lowercased() {
        case "ecdsa":
            switch config[param: "elliptic_curve"]?.lowercased() ?? "secp256r1" {
            case "secp256r1", "p-256", "prime256v1": return .ecdsa(.p256)
            case "secp384r1", "p-384": return .ecdsa(.p384)
            case let other:
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): elliptic_curve \(other) is not supported; use secp256r1 or secp384r1")
            }
        case nil, "rsa":
            let text = config[param: "rsa_key_size"] ?? "2048"
            guard let bits = Int(text), let type = KeyType(parsing: "rsa\(bits)") else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): rsa_key_size \(text) is not one of 2048, 3072, 4096")
            }
            return type
        case let other?:
            throw RenewalError("renewal conf \(lineage.renewalConfigPath): key_type \(other) is not rsa or ecdsa")
        }
    }

    func challenge() throws -> ChallengeMethod {
        let authenticator = config[param: "authenticator"] ?? "standalone"
        switch authenticator {
        case "standalone":
            let text = config[param: "http01_port"] ?? "80"
            guard let port = Int(text), (1...65535).contains(port) else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): http01_port \(text) is not a port number")
            }
            let address = config[param: "http01_address"].flatMap { $0.isEmpty ? nil : $0 }
            return .standalone(address: address, port: port)
        case "webroot":
            let roots = (config[param: "webroot_path"] ?? "").split(separator: ",")
                .map { String($0.trimmed) }.filter { !$0.isEmpty }
            let map = Dictionary(config.webrootMap.map { ($0.domain.lowercased(), $0.path) }, uniquingKeysWith: { first, _ in first })
            guard !roots.isEmpty || !map.isEmpty else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): authenticator webroot without webroot_path or webroot_map")
            }
            return map.isEmpty ? .webroot(path: roots[0]) : .webrootMap(map, default: roots.first)
        case "manual":
            guard let auth = config[param: "manual_auth_hook"], !auth.isEmpty else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): authenticator manual without manual_auth_hook cannot renew unattended (certbot cannot either); re-issue with acme issue --dns-hook")
            }
            // The first preferred challenge wins; certbot's manual plugin defaults to HTTP-01.
            let first = (config[param: "pref_challs"] ?? "").lowercased().split(separator: ",").first.map { String($0.trimmed) } ?? ""
            let challenge = first.hasPrefix("dns") ? "dns-01" : "http-01"
            return .certbotManual(authHook: auth, cleanupHook: config[param: "manual_cleanup_hook"], challenge: challenge)
        case "acme-tls-alpn":
            let text = config[param: "tls_alpn_01_port"] ?? "443"
            guard let port = Int(text), (1...65535).contains(port) else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): tls_alpn_01_port \(text) is not a port number")
            }
            return .tlsALPN(address: config[param: "tls_alpn_01_address"].flatMap { $0.isEmpty ? nil : $0 }, port: port)
        case "acme-dns-hook":
            guard let script = config[param: "acme_dns_hook"], !script.isEmpty else {
                throw RenewalError("renewal conf \(lineage.renewalConfigPath): authenticator acme-dns-hook without acme_dns_hook")
            }
            let wait = Int(config[param: "acme_dns_propagation_wait"] ?? "") ?? 0
            return .dnsHook(script: script, propagationSeconds: wait, resolver: config[param: "acme_dns_resolver"])
        default:
            throw RenewalError("renewal conf \(lineage.renewalConfigPath): authenticator \(authenticator) is not supported by acme renew (standalone, webroot, manual with hooks, acme-tls-alpn and acme-dns-hook are); renew this one with certbot or re-issue it with acme issue --webroot")
        }
    }
}

/// A renewal-specific failure, one line naming the lineage or file.
public struct RenewalError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
