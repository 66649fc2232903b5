import Base
import ACME
import DNS
import Synchronization

/// DNS-01 through RFC 2136 dynamic updates signed with a TSIG key (the one record publisher,
/// `RFC2136Publisher`, which DANE's TLSA records use too): `present` adds
/// `_acme-challenge.<domain>. TXT <validation>` in the zone the server's SOA names, `cleanup`
/// deletes exactly that value (a wildcard and its base name share the TXT name), and
/// `awaitPublished` asks every authoritative server of each zone, directly and without recursion,
/// until all of them serve the records — no fixed sleep.
public final class DNS01UpdateSolver: ChallengeSolver, Sendable {
    public let challengeType = "dns-01"
    public let updater: DNSUpdater
    private let publisher: RFC2136Publisher
    /// The longest wait for every authoritative server to serve the records.
    public let propagationWait: Duration
    private let progress: EventSink
    private let state = Mutex<(zones: [String: String], records: [(token: String, name: String, value: String, zone: String)])>(([:], []))

    public init(updater: DNSUpdater, propagationWait: Duration, progress: @escaping EventSink) {
        self.updater = updater
        publisher = RFC2136Publisher(updater: updater)
        self.propagationWait = propagationWait
        self.progress = progress
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        let name = "_acme-challenge." + identifier
        let value = DNS01HookSolver.validation(keyAuthorization)
        let zone: String
        if let known = state.withLock({ $0.zones[name] }) {
            zone = known
        } else {
            zone = try await onOwnThread(throwing: { [publisher] in try publisher.zone(of: name) })
            state.withLock { $0.zones[name] = zone }
        }
        do {
            try await onOwnThread(throwing: { [publisher] in try publisher.apply(RecordChange(.add, .txt(value), owner: name, zone: zone)) })
        } catch let error as DNSError where error.code == .badAnswer {
            // An answer came but cannot be trusted: the server may have made the change, so cleanup deletes it.
            state.withLock { $0.records.append((token: token, name: name, value: value, zone: zone)) }
            throw error
        }
        state.withLock { $0.records.append((token: token, name: name, value: value, zone: zone)) }
        progress("added the TXT record \(name) in zone \(zone) at \(updater.server)")
    }

    public func cleanup(identifier: String, token: String) async {
        let record = state.withLock { state in
            state.records.firstIndex { $0.token == token }.map { state.records.remove(at: $0) }
        }
        guard let record else { return }
        do {
            try await onOwnThread(throwing: { [publisher] in
                try publisher.apply(RecordChange(.remove, .txt(record.value), owner: record.name, zone: record.zone))
            })
        } catch {
            progress("could not remove the TXT record \(record.name) (\(record.value)): \(error); remove it by hand")
        }
    }

    public func awaitPublished() async throws {
        let records = state.withLock { $0.records }
        guard !records.isEmpty else { return }
        var checks: [(server: TXTLookup, records: [(name: String, value: String)])] = []
        // One deadline for finding the servers of every zone of the order (DNSFanOut).
        let deadline = DNSDeadline()
        for zone in Set(records.map(\.zone)).sorted() {
            let inZone = records.filter { $0.zone == zone }.map { (name: $0.name, value: $0.value) }
            let found = try await onOwnThread(throwing: { [publisher] in try publisher.authoritativeServers(of: zone, deadline: deadline) })
            if let leftOut = found.leftOut { progress(Event(leftOut)) }
            // Authoritative servers are asked on the port of --dns-rfc2136 (53 unless a test says otherwise).
            for (server, label) in found.servers {
                checks.append((TXTLookup(server: server.host, port: server.port, recursionDesired: false, label: label), inZone))
            }
        }
        try await TXTPropagation(checks: checks, wait: propagationWait,
                                 advice: "the zone has not reached that server yet (zone transfer, NOTIFY); check it, or raise \(SettingName.dnsPropagationWait)").run()
        progress("TXT records served by every authoritative server: \(checks.map(\.server.label).joined(separator: ", "))")
    }
}
