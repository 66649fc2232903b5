import Base
import Challenges
import DNS
import Issuance

/// A lineage's DANE settings (`acme issue --dane`), kept in its renewal conf as `acme_dane_*`
/// keys (certbot ignores keys it does not know; acme's renewals keep them): which TLSA owner
/// names to maintain, the usage (`3 1 1` pins the server key, `2 1 1` the issuing CA's key),
/// the TTL of the records acme writes, and how they are published (RFC 2136 with a TSIG key
/// file — its path only, never the secret — or a hook).
public struct DANESettings: Sendable, Equatable {
    public enum Publisher: Sendable, Equatable {
        /// RFC 2136 updates at this primary server, signed with the key in `keyFile`.
        case rfc2136(server: String, keyFile: String)
        /// `/bin/sh -c command` with ACME_ACTION=tlsa-add|tlsa-remove; `resolver` (HOST[:PORT]) finds
        /// the zone and its servers for the visibility check, else the system resolver does.
        case hook(command: String, resolver: String?)
    }

    /// 3 (DANE-EE, the default) or 2 (DANE-TA).
    public var usage: UInt8
    /// Absolute owner names with the trailing dot, e.g. `_25._tcp.mail.example.com.`.
    public var owners: [String]
    /// The TTL of the records acme writes; the rollover waits twice this once a record is visible.
    public var ttl: Int
    public var publisher: Publisher

    public static let defaultTTL = 300
    static let ttlRange = 1...86_400

    public init(usage: UInt8 = 3, owners: [String], ttl: Int = defaultTTL, publisher: Publisher) {
        self.usage = usage
        self.owners = owners
        self.ttl = ttl
        self.publisher = publisher
    }

    /// `_<port>._tcp.<name>.` for each name (wildcards have no server of their own and are
    /// skipped) and each port, 25 first.
    public static func owners(names: [String], ports: [Int]) -> [String] {
        var seen = Set<String>()
        let allPorts = [25] + ports.filter { $0 != 25 }
        return names.filter { !$0.hasPrefix("*.") }.flatMap { name in
            allPorts.map { "_\($0)._tcp.\(DNSName.normalized(name))." }
        }.filter { seen.insert($0).inserted }
    }

    /// Twice the TTL: how long a record must have been visible everywhere before its key is used,
    /// and how long an old key's record stays after its key was replaced.
    public var holdTime: Double { Double(2 * ttl) }

    /// From the settings of `acme issue --dane`: the publisher is RFC 2136 at `rfc2136` with
    /// `tsigKey`, else `hook`, else the DNS-01 method's own (RFC 2136 or the DNS-01 hook). Which
    /// settings go together is the caller's to check (the CLI checks its flags); errors name settings.
    public init(names: [String], ports: [Int], usage: Int?, ttl: Int?, rfc2136: String?, tsigKey: String?, hook: String?,
                resolver: String?, challenge: ChallengeMethod) throws {
        func usageError(_ text: String) -> IssuanceError { IssuanceError(.invalidDANESettings, text) }
        for port in ports where !(1...65535).contains(port) { throw usageError("\(SettingName.danePorts): \(port) is not a port (1-65535), e.g. 465") }
        switch usage ?? 3 {
        case 3: self.usage = 3
        case 2: self.usage = 2
        case let other: throw usageError("\(SettingName.daneUsage) \(other): give 3 (DANE-EE, the default: pins the server's key) or 2 (DANE-TA: pins the issuing CA's key)")
        }
        let ttl = ttl ?? Self.defaultTTL
        guard Self.ttlRange.contains(ttl) else { throw usageError("\(SettingName.daneTTL) \(ttl): give the TLSA records' TTL in seconds, 1 to 86400 (default 300)") }
        self.ttl = ttl
        owners = Self.owners(names: names, ports: ports)
        guard !owners.isEmpty else { throw usageError("DANE: every name is a wildcard, so there is no server name for a TLSA record; add the mail server's name to \(SettingName.certificateNames)") }
        if let rfc2136 {
            guard let tsigKey else { throw usageError("\(SettingName.daneUpdateServer) needs \(SettingName.tsigKey) (the BIND key file that signs the updates)") }
            _ = try DNSServer(parsing: rfc2136, setting: .daneUpdateServer)
            publisher = .rfc2136(server: rfc2136, keyFile: LocalSystem.absolutePath(tsigKey))
        } else if let hook {
            if let resolver { _ = try DNSServer(parsing: resolver, setting: .daneResolver) }
            publisher = .hook(command: hook, resolver: resolver)
        } else {
            switch challenge {
            case .dnsRFC2136(let server, let keyFile, _): publisher = .rfc2136(server: server, keyFile: keyFile)
            case .dnsHook(let script, _, let dnsResolver, _): publisher = .hook(command: script, resolver: resolver ?? dnsResolver)
            default:
                throw usageError("DANE needs a way to publish TLSA records: \(SettingName.daneUpdateServer) with \(SettingName.tsigKey), or a TLSA hook command, or DNS-01 through RFC 2136 or a hook (see Docs/DANE.md)")
            }
        }
    }

    // MARK: Renewal conf

    static let keyPrefix = "acme_dane"

    /// The settings in a renewal conf's `[renewalparams]`, nil when DANE is not on (`acme_dane`
    /// absent or False). `path` names the conf in errors.
    public init?(params: [(key: String, value: String)], path: String) throws {
        var raw: [String: String] = [:]
        for (key, value) in params where key.hasPrefix(Self.keyPrefix) { raw[key] = String(value.trimmed) }
        guard let enabled = raw["acme_dane"], ["true", "yes", "on", "1"].contains(enabled.lowercased()) else { return nil }
        func invalid(_ what: String) -> IssuanceError {
            IssuanceError(.invalidRenewalConf, "renewal conf \(path): \(what); fix it or re-run acme issue --dane with the settings you want")
        }
        switch raw["acme_dane_usage"] ?? "3" {
        case "3": usage = 3
        case "2": usage = 2
        case let other: throw invalid("acme_dane_usage \(other.escapedForDisplay.prefix(20)) is not 3 or 2")
        }
        guard let ttl = Int(raw["acme_dane_ttl"] ?? String(Self.defaultTTL)), Self.ttlRange.contains(ttl) else {
            throw invalid("acme_dane_ttl is not a number of seconds from 1 to 86400")
        }
        self.ttl = ttl
        owners = try RenewalParams.listItems(raw["acme_dane_owners"] ?? "").map { owner in
            _ = try DNSName.wire(owner)
            guard owner.hasPrefix("_"), owner.contains("._tcp.") else {
                throw invalid("acme_dane_owners: \(owner.escapedForDisplay.prefix(80)) is not a TLSA owner name like _25._tcp.mail.example.com.")
            }
            return DNSName.normalized(owner) + "."
        }
        guard !owners.isEmpty, owners.count <= 64 else { throw invalid("acme_dane_owners lists no owner name (or more than 64)") }
        if let server = raw["acme_dane_rfc2136_server"], !server.isEmpty {
            guard let key = raw["acme_dane_tsig_key"], !key.isEmpty else { throw invalid("acme_dane_rfc2136_server without acme_dane_tsig_key") }
            publisher = .rfc2136(server: server, keyFile: key)
        } else if let hook = raw["acme_dane_hook"], !hook.isEmpty {
            publisher = .hook(command: hook, resolver: raw["acme_dane_resolver"].flatMap { $0.isEmpty ? nil : $0 })
        } else {
            throw invalid("acme_dane is on but neither acme_dane_rfc2136_server nor acme_dane_hook says how to publish the records")
        }
    }

    /// The `acme_dane_*` keys, in a fixed order.
    public func encoded() -> [(key: String, value: String)] {
        var items: [(key: String, value: String)] = [("acme_dane", "True"), ("acme_dane_usage", String(usage)),
                                                     ("acme_dane_owners", owners.joined(separator: ", ") + ","),
                                                     ("acme_dane_ttl", String(ttl))]
        switch publisher {
        case .rfc2136(let server, let keyFile):
            items += [("acme_dane_rfc2136_server", server), ("acme_dane_tsig_key", keyFile)]
        case .hook(let command, let resolver):
            items.append(("acme_dane_hook", command))
            if let resolver { items.append(("acme_dane_resolver", resolver)) }
        }
        return items
    }

    /// `params` with its `acme_dane_*` keys replaced by these settings.
    public func merged(into params: [(key: String, value: String)]) -> [(key: String, value: String)] {
        params.filter { !$0.key.hasPrefix(Self.keyPrefix) } + encoded()
    }
}
