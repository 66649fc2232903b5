import Base
import DNS

/// Adds and removes a lineage's TLSA records — by RFC 2136 updates signed with TSIG, or by the
/// user's hook — and finds, for each owner name, its zone and every authoritative server, which
/// are then asked directly (no recursion, no cache) whether they serve a record. With a hook,
/// acme still checks visibility itself.
public struct DANEPublisher: Sendable {
    var settings: DANESettings
    var lineage: String
    var progress: EventSink
    private let updater: DNSUpdater?
    /// Where zones and name servers are asked (the update server or the resolver).
    private let query: DNSQuery
    /// The port authoritative servers are asked on: the update server's or resolver's (53 unless
    /// a test runs its servers elsewhere).
    private let port: UInt16

    init(settings: DANESettings, lineage: String, progress: @escaping EventSink) throws {
        self.settings = settings
        self.lineage = lineage
        self.progress = progress
        switch settings.publisher {
        case .rfc2136(let server, let keyFile):
            let address = try DNSServer(parsing: server, flag: "acme_dane_rfc2136_server")
            let updater = DNSUpdater(server: address, key: try TSIGKey(file: keyFile))
            self.updater = updater
            query = DNSQuery(server: address, timeout: .seconds(5), recursionDesired: false)
            port = address.port
        case .hook(_, let resolver):
            let address = try resolver.map { try DNSServer(parsing: $0, flag: "acme_dane_resolver") } ?? Self.systemResolver()
            updater = nil
            query = DNSQuery(server: address, timeout: .seconds(5), recursionDesired: true)
            port = resolver == nil ? 53 : address.port
        }
    }

    /// The first `nameserver` of /etc/resolv.conf (127.0.0.1 when there is none, as libc does).
    public static func systemResolver() throws -> DNSServer {
        let text = FS.exists("/etc/resolv.conf") ? try FS.read("/etc/resolv.conf", limit: 64 << 10) : ""
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "nameserver" { return DNSServer(host: String(words[1])) }
        }
        return DNSServer(host: "127.0.0.1")
    }

    func zone(of owner: String) throws -> String { try ZoneFinder(query: query).zone(of: owner) }

    /// One lookup per address of each authoritative server of `zone` (bounded: `DNSFanOut`), all
    /// under the check's one `deadline`; `leftOut` names the servers and addresses not asked.
    func servers(of zone: String, deadline: DNSDeadline) throws -> (lookups: [TLSALookup], leftOut: String?) {
        let found = try ZoneFinder(query: query, deadline: deadline).nameservers(of: zone)
        let lookups = found.servers.flatMap { name, addresses in
            addresses.map { address in
                let server = DNSServer(host: address, port: port)
                var lookup = TLSALookup(server: server, recursionDesired: false, label: "\(name) (\(server))")
                lookup.query.deadline = deadline
                return lookup
            }
        }
        return (lookups, found.leftOut)
    }

    enum Action: String { case add = "tlsa-add", remove = "tlsa-remove" }

    func change(_ action: Action, _ record: TLSARecord, owner: String, zone: String, role: DANEState.Role) throws {
        switch settings.publisher {
        case .rfc2136:
            guard let updater else { return }
            switch action {
            case .add: try updater.add(tlsa: record, name: owner, zone: zone, ttl: UInt32(settings.ttl))
            case .remove: try updater.delete(tlsa: record, name: owner, zone: zone)
            }
        case .hook(let command, _):
            let details = ["ACME_TLSA_OWNER": owner, "ACME_TLSA_RECORD": record.presentation, "ACME_TLSA_TTL": String(settings.ttl),
                           "ACME_TLSA_ZONE": zone + ".", "ACME_TLSA_ROLE": role.rawValue]
            // Called on a thread of its own (the DANE steps' async twins), so the hook runs here.
            let result = Hook(.dane, command: command, environment: HookEnvironment(action: action.rawValue, lineage: lineage, details: details)).runHere()
            guard result.succeeded else {
                throw IssuanceError(.daneHookFailed, "the DANE hook failed to \(action == .add ? "add" : "remove") \(owner) TLSA \(record.presentation) (exit \(result.status): \(result.lastLine.escapedForDisplay.prefix(200))); fix the hook (\(command.escapedForDisplay.prefix(80))), then run acme renew again")
            }
        }
        progress("\(lineage): \(action == .add ? "published" : "removed") \(owner) TLSA \(record.presentation) (\(role.rawValue) key)")
    }
}
