import ACMECrypto
import Base
import CertStore
import Check
import DNS
import FoundationEssentials
import Issuance

/// `acme tlsa --check`: for each TLSA owner name of a lineage, the records every authoritative
/// server of its zone serves, which of them match the current key, the next key (prepared for the
/// next renewal) and the key each endpoint serves; with a validating resolver, whether its answer
/// is DNSSEC-authenticated (the AD bit) — without DNSSEC, DANE protects nothing. DNS answers and
/// certificates are untrusted: bounded, escaped before printing.
public struct TLSACheck: Sendable {
    public var configDirectory: String
    public var certName: String
    /// A validating resolver to ask for the AD bit (`--resolver`).
    public var resolver: DNSServer?
    /// Endpoints to ask for their key instead of `smtp://<host>:25` etc. derived from the owners.
    public var endpoints: [String]?
    /// The port the authoritative servers are asked on (53; tests run BIND elsewhere).
    public var serverPort: UInt16?
    public var timeoutSeconds = 10
    /// The one deadline of all DNS lookups of the run (zones, name servers, their TLSA records);
    /// at most `DNSFanOut.maxNameServers` servers of a zone and `maxAddresses` each are asked.
    public var dnsTime = DNSFanOut.operationTime

    public init(configDirectory: String, certName: String) {
        self.configDirectory = configDirectory
        self.certName = certName
    }

    public struct Report: Sendable {
        public var lines: [String] = []
        public var warnings: [String] = []
        /// What makes DANE fail now: a served (or, unknown that, current) key that a server does not cover.
        public var problems: [String] = []
    }

    /// `run` for async code: DNS and TLS waits on a thread of their own.
    public func run() async throws -> Report {
        try await onOwnThread(throwing: { try self.run() as Report })
    }

    public func run() throws -> Report {
        let store = LineageStore(configDirectory: configDirectory)
        let lineage = try store.existingLineage(named: certName)
        let config = try store.renewalConfig(of: lineage)
        let settings = try DANESettings(params: config.renewalParams, path: lineage.renewalConfigPath)
        var report = Report()
        let chain = try lineage.liveFullchain()
        guard let leaf = chain.first else { throw CryptoError(.invalidCertificate, "\(lineage.fullchainPath) holds no certificate") }
        var keys = Keys(current: DANERollover.record(usage: 3, spki: leaf.publicKeyDER),
                        issuer: chain.count > 1 ? DANERollover.record(usage: 2, spki: chain[1].publicKeyDER) : nil,
                        usage: settings?.usage ?? 3)
        let liveKey = try lineage.liveKey()
        if case .usable(let key) = try NextKey.read(lineage, type: liveKey.type) {
            keys.next = DANERollover.record(usage: 3, spki: try key.publicKeyDER())
        }
        let owners = settings?.owners ?? DANESettings.owners(names: leaf.dnsNames, ports: [])
        if settings == nil { report.warnings.append("DANE is not on for \(lineage.name) (acme issue --dane); checking \(owners.joined(separator: ", "))") }

        let (finder, port) = try finder(settings, deadline: DNSDeadline(dnsTime))
        for owner in owners {
            report.lines.append(owner)
            let served = servedKeys(owner, keys: keys, report: &report)
            let places = try authoritative(owner, finder: finder, port: port, report: &report)
            compare(owner, places: places, served: served, keys: keys, report: &report)
            authenticated(owner, deadline: finder.deadline, report: &report)
        }
        return report
    }

    /// The records of the lineage's keys: the current key's, its issuer's, the next key's.
    struct Keys {
        var current: TLSARecord
        var issuer: TLSARecord?
        var next: TLSARecord?
        /// The lineage's DANE usage (3 unless DANE-TA is on).
        var usage: UInt8

        func label(_ record: TLSARecord, served: [TLSARecord]) -> String {
            var what: [String] = []
            if record == current { what.append("current key") }
            if record == next { what.append("next key") }
            if record == issuer { what.append("issuing CA") }
            if served.contains(record) { what.append("served") }
            return what.isEmpty ? "matches nothing of this lineage" : what.joined(separator: ", ")
        }
    }

    /// The keys the endpoints of `owner` serve (`_25._tcp.mx.example.com.` → smtp://mx.example.com:25, or `endpoints`).
    func servedKeys(_ owner: String, keys: Keys, report: inout Report) -> [TLSARecord] {
        let parts = owner.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, let port = Int(parts[0].dropFirst()) else { return [] }
        var served: [TLSARecord] = []
        let host = String(parts[2]).hasSuffix(".") ? String(parts[2].dropLast()) : String(parts[2])
        let targets = endpoints ?? ["\(EndpointScheme.serving(port: port)?.name ?? "smtps")://\(host):\(port)"]
        for text in targets {
            do {
                var check = EndpointCheck(serverName: host)
                check.timeoutSeconds = timeoutSeconds
                let key = try check.servedLeaf(try Endpoint(parsing: text))
                let record = DANERollover.record(usage: 3, spki: key.publicKeyDER)
                served.append(record)
                report.lines.append("  \(text.escapedForDisplay) serves the key \(record.presentation) (\(record == keys.current ? "the current key" : record == keys.next ? "the next key" : "not this lineage's current key"))")
            } catch {
                report.warnings.append("\(owner): cannot fetch the key \(text.escapedForDisplay) serves: \(error)")
            }
        }
        return served
    }

    /// Each server's records, labelled; a problem where one lacks what must be covered: what is
    /// served, else (unknown) the current key (or its issuer's with DANE-TA).
    func compare(_ owner: String, places: [(place: String, answer: TLSALookup.Answer)], served: [TLSARecord], keys: Keys, report: inout Report) {
        let mustCover: [TLSARecord] = served.isEmpty ? [keys.usage == 2 ? keys.issuer ?? keys.current : keys.current] : served
        for (place, answer) in places {
            if answer.records.isEmpty { report.lines.append("  \(place): no TLSA records") }
            for record in answer.records {
                report.lines.append("  \(place): \(record.presentation.prefix(140))  ; \(keys.label(record, served: served))")
            }
            for needed in mustCover where !answer.records.contains(needed) && !(keys.usage == 2 && answer.records.contains(where: { $0 == keys.issuer })) {
                report.problems.append("\(owner) at \(place): no record matches the \(served.isEmpty ? "current" : "served") key (\(needed.presentation)); DANE-validating senders cannot deliver to it")
            }
        }
    }

    /// With a validating resolver: whether its answer for `owner` is DNSSEC-authenticated (the AD bit).
    func authenticated(_ owner: String, deadline: DNSDeadline, report: inout Report) {
        guard let resolver else {
            report.lines.append("  (give \(SettingName.validatingResolver) to check that the answer is DNSSEC-authenticated)")
            return
        }
        var lookup = TLSALookup(server: resolver, timeout: .seconds(5), recursionDesired: true, label: resolver.description)
        lookup.query.authenticatedData = true
        lookup.query.deadline = deadline
        do {
            let answer = try lookup.records(owner)
            if answer.authenticated {
                report.lines.append("  resolver \(resolver): \(answer.records.count) record(s), DNSSEC-authenticated (AD)")
            } else {
                report.warnings.append("\(owner): the answer of the resolver \(resolver) is not DNSSEC-authenticated (no AD bit): sign the zone (and check that \(resolver) validates), else DANE protects nothing (Docs/DANE.md)")
            }
        } catch {
            report.warnings.append("\(owner): cannot ask the resolver \(resolver): \(error)")
        }
    }

    /// Who to ask for zones and name servers: the lineage's update server, else the resolver,
    /// else the system's; and the port the authoritative servers are asked on.
    func finder(_ settings: DANESettings?, deadline: DNSDeadline) throws -> (ZoneFinder, UInt16) {
        switch settings?.publisher {
        case .rfc2136(let server, _)?:
            let address = try DNSServer(parsing: server, setting: SettingName("acme_dane_rfc2136_server"))
            return (ZoneFinder(query: DNSQuery(server: address, timeout: .seconds(5), recursionDesired: false), deadline: deadline), serverPort ?? address.port)
        case .hook(_, let saved?)?:
            let address = try DNSServer(parsing: saved, setting: SettingName("acme_dane_resolver"))
            return (ZoneFinder(query: DNSQuery(server: address, timeout: .seconds(5), recursionDesired: true), deadline: deadline), serverPort ?? address.port)
        default:
            let address = try resolver ?? DNSServer.system()
            return (ZoneFinder(query: DNSQuery(server: address, timeout: .seconds(5), recursionDesired: true), deadline: deadline), serverPort ?? 53)
        }
    }

    /// The TLSA answer of each address of each authoritative server of `owner`'s zone that was
    /// asked. Bounded (`DNSFanOut`): what the bounds or the run's one deadline left out, and each
    /// server that could not be asked, is a problem; servers and addresses past the count bounds a warning.
    func authoritative(_ owner: String, finder: ZoneFinder, port: UInt16, report: inout Report) throws -> [(place: String, answer: TLSALookup.Answer)] {
        let found = try finder.nameservers(of: try finder.zone(of: owner))
        if let leftOut = found.leftOut { report.warnings.append("\(owner): \(leftOut)") }
        var answers: [(place: String, answer: TLSALookup.Answer)] = []
        var late: [String] = []
        for (name, addresses) in found.servers {
            for address in addresses {
                let server = DNSServer(host: address, port: port)
                let place = "\(name.escapedForDisplay) (\(server))"
                var lookup = TLSALookup(server: server, recursionDesired: false, label: place)
                lookup.query.deadline = finder.deadline
                do {
                    answers.append((place, try lookup.records(owner)))
                } catch let error as DNSError where error.code == .deadline {
                    late.append(place)
                } catch {
                    report.problems.append("\(owner): cannot ask \(place): \(error)")
                }
            }
        }
        if !late.isEmpty {
            report.problems.append("\(owner): " + DNSFanOut.leftOut(late.count, "authoritative server address(es)", names: late,
                                                                    why: "the DNS lookups of this check did not finish within \(finder.deadline.limitText)"))
        }
        return answers
    }
}
