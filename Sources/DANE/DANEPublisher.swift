import Base
import DNS
import Issuance

/// Adds and removes a lineage's TLSA records through the one DNS record publisher
/// (`RecordPublisher`: RFC 2136 updates signed with TSIG, or the user's hook, with the DANE hook's
/// variables, `DANEHookVariables`), and finds, for each owner name, its zone and every
/// authoritative server, which are then asked directly (no recursion, no cache) whether they
/// serve a record. With a hook, acme still checks visibility itself.
public struct DANEPublisher: Sendable {
    var settings: DANESettings
    var lineage: String
    var progress: EventSink
    let publisher: any RecordPublisher

    init(settings: DANESettings, lineage: String, progress: @escaping EventSink) throws {
        self.settings = settings
        self.lineage = lineage
        self.progress = progress
        switch settings.publisher {
        case .rfc2136(let server, let keyFile):
            let address = try DNSServer(parsing: server, setting: SettingName("acme_dane_rfc2136_server"))
            publisher = RFC2136Publisher(updater: DNSUpdater(server: address, key: try TSIGKey(file: keyFile)))
        case .hook(let command, let resolver):
            publisher = HookPublisher(.dane, command: command,
                                      resolver: try resolver.map { try DNSServer(parsing: $0, setting: SettingName("acme_dane_resolver")) })
        }
    }

    func zone(of owner: String) throws -> String { try publisher.zone(of: owner) }

    /// One lookup per address of each authoritative server of `zone` (bounded: `DNSFanOut`), all
    /// under the check's one `deadline`; `leftOut` names the servers and addresses not asked.
    func servers(of zone: String, deadline: DNSDeadline) throws -> (lookups: [TLSALookup], leftOut: String?) {
        let found = try publisher.authoritativeServers(of: zone, deadline: deadline)
        let lookups = found.servers.map { server, label in
            var lookup = TLSALookup(server: server, recursionDesired: false, label: label)
            lookup.query.deadline = deadline
            return lookup
        }
        return (lookups, found.leftOut)
    }

    enum Action: String { case add = "tlsa-add", remove = "tlsa-remove" }

    func change(_ action: Action, _ record: TLSARecord, owner: String, zone: String, role: DANEState.Role) throws {
        let environment = HookEnvironment(action: action.rawValue, lineage: lineage,
                                          details: DANEHookVariables.values(owner: owner, record: record, ttl: settings.ttl, zone: zone, role: role))
        do {
            try publisher.apply(RecordChange(action == .add ? .add : .remove, .tlsa(record), owner: owner, zone: zone,
                                             ttl: UInt32(settings.ttl), hookEnvironment: environment))
        } catch let failure as RecordHookFailure {
            let result = failure.result
            throw IssuanceError(.daneHookFailed, "the DANE hook failed to \(action == .add ? "add" : "remove") \(owner) TLSA \(record.presentation) (exit \(result.status): \(result.lastLine.escapedForDisplay.prefix(200))); fix the hook (\(failure.command.escapedForDisplay.prefix(80))), then run acme renew again")
        }
        progress("\(lineage): \(action == .add ? "published" : "removed") \(owner) TLSA \(record.presentation) (\(role.rawValue) key)")
    }
}

/// The DANE hook's own variables (Docs/HOOKS.md), beside the contract's `ACME_HOOK=dane`,
/// `ACME_ACTION=tlsa-add|tlsa-remove` and `ACME_LINEAGE`: one place for the hook and `acme issue --help`.
public enum DANEHookVariables {
    /// `ACME_TLSA_*`, in the order the help names them.
    public static let names = ["ACME_TLSA_OWNER", "ACME_TLSA_RECORD", "ACME_TLSA_TTL", "ACME_TLSA_ZONE", "ACME_TLSA_ROLE"]

    /// Every variable a DANE hook reads, for help texts.
    public static var summary: String { (["ACME_ACTION=tlsa-add|tlsa-remove"] + names + ["ACME_LINEAGE"]).joined(separator: ", ") }

    /// Their values for one change; the zone with its trailing dot.
    static func values(owner: String, record: TLSARecord, ttl: Int, zone: String, role: DANEState.Role) -> [String: String] {
        Dictionary(uniqueKeysWithValues: zip(names, [owner, record.presentation, String(ttl), zone + ".", role.rawValue]))
    }
}
