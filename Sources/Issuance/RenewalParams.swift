import ACMECrypto
import Base
import CertStore
import Challenges

/// The `[renewalparams]` of `renewal/<name>.conf` that acme manages, decoded and encoded by
/// one table (as certbot keeps its string, int and bool config items in lists). Confs written
/// by certbot 2.x (standalone, webroot with `[[webroot_map]]`, manual with hooks) and by acme
/// read the same way; keys the table does not name are kept as they are.
public struct RenewalParams: Sendable, Equatable {
    public var account: String?
    public var server: String
    public var challenge: ChallengeMethod
    public var keyType: KeyType
    public var preferredChain: String?
    public var caBundle: String?
    public var profile: ProfileChoice?
    public var reuseKey: Bool
    public var hooks: SavedHooks
    /// `acme_domains`: the names to request. nil (certbot's confs): the certificate's names.
    /// A list that differs from the certificate's names forces a renewal.
    public var names: [String]?
    /// `acme_issued_profile`: the profile the conf asked for when the current certificate was
    /// issued (`default` for none). When the conf asks for another one now, a renewal is forced.
    public var issuedProfile: String?
    /// `acme_key_pair`: the other lineage of an ECDSA + RSA pair (`KeyPairing`): both are
    /// renewed together. nil: a lineage on its own.
    public var pairedLineage: String?

    public init(account: String?, server: String, challenge: ChallengeMethod, keyType: KeyType,
                preferredChain: String? = nil, caBundle: String? = nil, profile: ProfileChoice? = nil,
                reuseKey: Bool = false, hooks: SavedHooks = SavedHooks(), names: [String]? = nil, issuedProfile: String? = nil,
                pairedLineage: String? = nil) {
        self.account = account
        self.server = server
        self.challenge = challenge
        self.keyType = keyType
        self.preferredChain = preferredChain
        self.caBundle = caBundle
        self.profile = profile
        self.reuseKey = reuseKey
        self.hooks = hooks
        self.names = names
        self.issuedProfile = issuedProfile
        self.pairedLineage = pairedLineage
    }

    /// What `acme_issued_profile` records for a profile choice.
    public static func profileLabel(_ choice: ProfileChoice?) -> String { choice?.name ?? "default" }

    /// What a value must look like.
    enum Kind: Sendable {
        case string
        case int(ClosedRange<Int>)
        /// configobj's True/False (certbot writes `True`).
        case bool
        /// A comma-separated list, written with a trailing comma as certbot does (`a, b,`).
        case list
    }

    /// Every key acme reads and writes, in the order it writes them.
    static let table: [(key: String, kind: Kind)] = [
        ("account", .string), ("server", .string), ("authenticator", .string),
        ("http01_port", .int(1...65535)), ("http01_address", .string),
        ("webroot_path", .list),
        ("manual_auth_hook", .string), ("manual_cleanup_hook", .string), ("pref_challs", .list),
        ("tls_alpn_01_port", .int(1...65535)), ("tls_alpn_01_address", .string),
        ("acme_dns_hook", .string), ("acme_dns_propagation_wait", .int(0...3600)), ("acme_dns_resolver", .string),
        ("acme_dns_rfc2136_server", .string), ("acme_dns_tsig_key", .string),
        ("acme_dns_hook_parallel", .bool),
        ("key_type", .string), ("rsa_key_size", .int(2048...4096)), ("elliptic_curve", .string),
        ("preferred_chain", .string), ("ca_bundle", .string),
        ("preferred_profile", .string), ("required_profile", .string),
        ("reuse_key", .bool),
        ("pre_hook", .string), ("post_hook", .string), ("renew_hook", .string),
        ("acme_domains", .list), ("acme_issued_profile", .string),
        (KeyPairing.paramKey, .string),
    ]

    static let managedKeys = Set(table.map(\.key))

    // MARK: Decoding

    /// Reads the managed keys of `config`; `path` names the file in errors.
    public init(decoding config: RenewalConfig, path: String, defaultServer: String) throws {
        let values = try Values(config: config, path: path)
        account = values.string("account")
        server = values.string("server") ?? defaultServer
        keyType = try values.keyType()
        challenge = try values.challenge(webrootMap: config.webrootMap)
        preferredChain = values.string("preferred_chain")
        caBundle = values.string("ca_bundle")
        if let required = values.string("required_profile") {
            profile = .required(required)
        } else {
            profile = values.string("preferred_profile").map { .preferred($0) }
        }
        reuseKey = values.bool("reuse_key")
        hooks = SavedHooks(pre: values.string("pre_hook"), post: values.string("post_hook"), deploy: values.string("renew_hook"))
        let listed = values.list("acme_domains")
        do {
            names = listed.isEmpty ? nil : try DomainName.normalize(all: listed)
        } catch {
            throw IssuanceError(.invalidRenewalConf, "renewal conf \(path): acme_domains: \(error); fix the list of names or remove the line")
        }
        issuedProfile = values.string("acme_issued_profile")
        pairedLineage = try values.pairedLineage()
    }

    /// The items of a configobj list value as certbot writes it (`a, b,`), trimmed, empty ones dropped.
    public static func listItems(_ value: String) -> [String] {
        value.split(separator: ",").map { String($0.trimmed) }.filter { !$0.isEmpty }
    }

    /// `reuse_key` alone, for readers that need nothing else of the conf (any authenticator).
    public static func reusesKey(_ config: RenewalConfig, path: String) throws -> Bool {
        try Values(config: config, path: path).bool("reuse_key")
    }

    /// The managed keys of one conf, checked against the table.
    struct Values {
        var raw: [String: String] = [:]
        let path: String

        init(config: RenewalConfig, path: String) throws {
            self.path = path
            for (key, value) in config.renewalParams where RenewalParams.managedKeys.contains(key) {
                raw[key] = value
            }
            for (key, kind) in RenewalParams.table {
                guard let value = raw[key] else { continue }
                switch kind {
                case .int(let range):
                    guard let number = Int(value.trimmed), range.contains(number) else {
                        throw invalid("\(key) \(value) is not a number from \(range.lowerBound) to \(range.upperBound)")
                    }
                case .bool:
                    guard Self.boolean(value) != nil else { throw invalid("\(key) \(value) is not True or False") }
                case .string, .list:
                    break
                }
            }
        }

        func invalid(_ what: String) -> IssuanceError {
            IssuanceError(.invalidRenewalConf, "renewal conf \(path): \(what)")
        }

        static func boolean(_ value: String) -> Bool? {
            switch value.trimmed.lowercased() {
            case "true", "yes", "on", "1": true
            case "false", "no", "off", "0": false
            default: nil
            }
        }

        /// A non-empty string value.
        func string(_ key: String) -> String? { raw[key].flatMap { $0.isEmpty ? nil : $0 } }
        /// Valid once `init` passed.
        func int(_ key: String) -> Int? { raw[key].flatMap { Int($0.trimmed) } }
        func bool(_ key: String) -> Bool { raw[key].flatMap(Self.boolean) ?? false }
        func list(_ key: String) -> [String] { RenewalParams.listItems(raw[key] ?? "") }

        /// `acme_key_pair`: a lineage name (it becomes a path under renewal/ and live/).
        func pairedLineage() throws -> String? {
            guard let name = string(KeyPairing.paramKey)?.trimmed, !name.isEmpty else { return nil }
            do { try validatePathComponent(String(name), what: "paired lineage name") } catch {
                throw invalid("\(KeyPairing.paramKey): \(error); fix the name or remove the line (the lineage is then renewed on its own)")
            }
            return String(name)
        }

        /// certbot: `key_type` rsa|ecdsa, `rsa_key_size`, `elliptic_curve`; confs older than
        /// certbot 2.0 have no key_type and mean RSA.
        func keyType() throws -> KeyType {
            switch raw["key_type"]?.lowercased() {
            case "ecdsa":
                switch raw["elliptic_curve"]?.lowercased() ?? "secp256r1" {
                case "secp256r1", "p-256", "prime256v1": return .ecdsa(.p256)
                case "secp384r1", "p-384": return .ecdsa(.p384)
                case let other: throw invalid("elliptic_curve \(other) is not supported; use secp256r1 or secp384r1")
                }
            case nil, "rsa":
                let bits = int("rsa_key_size") ?? 2048
                guard let type = KeyType(parsing: "rsa\(bits)") else {
                    throw invalid("rsa_key_size \(bits) is not one of 2048, 3072, 4096")
                }
                return type
            case let other?:
                throw invalid("key_type \(other) is not rsa or ecdsa")
            }
        }

        func challenge(webrootMap: [(domain: String, path: String)]) throws -> ChallengeMethod {
            let authenticator = string("authenticator") ?? "standalone"
            switch authenticator {
            case "standalone":
                return .standalone(address: string("http01_address"), port: int("http01_port") ?? 80)
            case "webroot":
                let roots = list("webroot_path")
                let map = Dictionary(webrootMap.map { ($0.domain.lowercased(), $0.path) }, uniquingKeysWith: { first, _ in first })
                guard !roots.isEmpty || !map.isEmpty else {
                    throw invalid("authenticator webroot without webroot_path or webroot_map")
                }
                return map.isEmpty ? .webroot(path: roots[0]) : .webrootMap(map, default: roots.first)
            case "manual":
                guard let auth = string("manual_auth_hook") else {
                    throw invalid("authenticator manual without manual_auth_hook cannot renew unattended (certbot cannot either); re-issue with acme issue --dns-hook")
                }
                // The first preferred challenge wins; certbot's manual plugin defaults to HTTP-01.
                let first = list("pref_challs").first?.lowercased() ?? ""
                return .certbotManual(authHook: auth, cleanupHook: string("manual_cleanup_hook"),
                                      challenge: first.hasPrefix("dns") ? "dns-01" : "http-01")
            case "acme-tls-alpn":
                return .tlsALPN(address: string("tls_alpn_01_address"), port: int("tls_alpn_01_port") ?? 443)
            case "acme-dns-hook":
                guard let script = string("acme_dns_hook") else {
                    throw invalid("authenticator acme-dns-hook without acme_dns_hook")
                }
                return .dnsHook(script: script, propagationSeconds: int("acme_dns_propagation_wait") ?? 0,
                                resolver: string("acme_dns_resolver"), parallel: bool("acme_dns_hook_parallel"))
            case "acme-dns-rfc2136":
                guard let server = string("acme_dns_rfc2136_server"), let keyFile = string("acme_dns_tsig_key") else {
                    throw invalid("authenticator acme-dns-rfc2136 without acme_dns_rfc2136_server and acme_dns_tsig_key")
                }
                return .dnsRFC2136(server: server, keyFile: keyFile, propagationSeconds: int("acme_dns_propagation_wait") ?? 120)
            default:
                throw invalid("authenticator \(authenticator) is not supported by acme (standalone, webroot, manual with hooks, acme-tls-alpn, acme-dns-hook and acme-dns-rfc2136 are); renew this one with certbot or re-issue it with acme issue --webroot")
            }
        }
    }

    // MARK: Encoding

    /// The managed keys as certbot writes them, in table order, and the `[[webroot_map]]` entries.
    public func encoded() -> (params: [(key: String, value: String)], webrootMap: [(domain: String, path: String)]) {
        var values: [String: String] = ["server": server]
        var webrootMap: [(domain: String, path: String)] = []
        values["account"] = account
        switch challenge {
        case .standalone(let address, let port):
            values["authenticator"] = "standalone"
            values["http01_port"] = String(port)
            values["http01_address"] = address
        case .webroot(let path):
            values["authenticator"] = "webroot"
            values["webroot_path"] = path + ","
        case .webrootMap(let map, let root):
            values["authenticator"] = "webroot"
            // As certbot: every root, the default first (it serves names not in the map); none without a default.
            if let root {
                var seen = Set<String>()
                let paths = ([root] + map.values.sorted()).filter { seen.insert($0).inserted }
                values["webroot_path"] = paths.joined(separator: ", ") + ","
            }
            webrootMap = map.sorted { $0.key < $1.key }.map { (domain: $0.key, path: $0.value) }
        case .certbotManual(let auth, let cleanup, let challenge):
            values["authenticator"] = "manual"
            values["manual_auth_hook"] = auth
            values["manual_cleanup_hook"] = cleanup
            values["pref_challs"] = challenge + ","
        case .tlsALPN(let address, let port):
            values["authenticator"] = "acme-tls-alpn"
            values["tls_alpn_01_port"] = String(port)
            values["tls_alpn_01_address"] = address
        case .dnsHook(let script, let seconds, let resolver, let parallel):
            values["authenticator"] = "acme-dns-hook"
            values["acme_dns_hook"] = script
            values["acme_dns_propagation_wait"] = String(seconds)
            values["acme_dns_resolver"] = resolver
            if parallel { values["acme_dns_hook_parallel"] = "True" }
        case .dnsRFC2136(let server, let keyFile, let seconds):
            // The key file's path only: the secret stays in the file.
            values["authenticator"] = "acme-dns-rfc2136"
            values["acme_dns_rfc2136_server"] = server
            values["acme_dns_tsig_key"] = keyFile
            values["acme_dns_propagation_wait"] = String(seconds)
        }
        switch keyType {
        case .ecdsa(let curve):
            values["key_type"] = "ecdsa"
            values["elliptic_curve"] = curve == .p384 ? "secp384r1" : "secp256r1"
        case .rsa(let bits):
            values["key_type"] = "rsa"
            values["rsa_key_size"] = String(bits)
        }
        values["preferred_chain"] = preferredChain
        values["ca_bundle"] = caBundle
        switch profile {
        case .preferred(let name): values["preferred_profile"] = name
        case .required(let name): values["required_profile"] = name
        case nil: break
        }
        if reuseKey { values["reuse_key"] = "True" }
        values["pre_hook"] = hooks.pre
        values["post_hook"] = hooks.post
        values["renew_hook"] = hooks.deploy
        values["acme_domains"] = names.map { $0.joined(separator: ", ") + "," }
        values["acme_issued_profile"] = issuedProfile
        values[KeyPairing.paramKey] = pairedLineage
        let params = Self.table.compactMap { item in values[item.key].map { (key: item.key, value: $0) } }
        return (params, webrootMap)
    }

    /// `encoded()` after the keys of `existing` that acme does not manage (certbot's own,
    /// a plugin's), which stay as they were.
    public func merged(into existing: [(key: String, value: String)]) -> [(key: String, value: String)] {
        existing.filter { !Self.managedKeys.contains($0.key) } + encoded().params
    }
}
