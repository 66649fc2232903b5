import Base

/// The data of one record acme publishes: a DNS-01 TXT value or a DANE TLSA record.
public enum RecordData: Sendable, Equatable, CustomStringConvertible {
    case txt(String)
    case tlsa(TLSARecord)

    /// `TXT <value>`, `TLSA <usage> <selector> <matching> <hex>`.
    public var description: String {
        switch self {
        case .txt(let value): return "TXT \(value)"
        case .tlsa(let record): return "TLSA \(record.presentation)"
        }
    }
}

/// One change a `RecordPublisher` makes: add or remove `data` at `owner`.
public struct RecordChange: Sendable {
    public enum Action: Sendable { case add, remove }

    public var action: Action
    /// The owner name (`_acme-challenge.mail.example.com`, `_25._tcp.mail.example.com.`).
    public var owner: String
    /// The zone holding `owner`; nil: the publisher finds it when it needs it (RFC 2136).
    public var zone: String?
    public var data: RecordData
    /// The TTL of an added record.
    public var ttl: UInt32
    /// What a hook publisher's command gets: each user's own contract (DNS-01's `ACME_*`,
    /// DANE's `ACME_TLSA_*`, Docs/HOOKS.md); an RFC 2136 publisher ignores it.
    public var hookEnvironment: HookEnvironment

    public init(_ action: Action, _ data: RecordData, owner: String, zone: String?, ttl: UInt32 = 60,
                hookEnvironment: HookEnvironment = HookEnvironment()) {
        (self.action, self.data, self.owner, self.zone, self.ttl) = (action, data, owner, zone, ttl)
        self.hookEnvironment = hookEnvironment
    }
}

/// A hook publisher's command failed: each user words it in its own terms (a DNS-01 challenge,
/// a DANE record) with the hook's status and last line.
public struct RecordHookFailure: Error, Sendable {
    public var command: String
    public var result: Subprocess.Result
}

/// Adds and removes DNS records — by RFC 2136 updates signed with TSIG (`RFC2136Publisher`) or by
/// the user's hook (`HookPublisher`) — for DNS-01's TXT records and DANE's TLSA records alike,
/// and says where to ask whether a record is visible: every address of every authoritative
/// server of its zone, asked directly (no recursion, no cache). Each call waits (DNS exchanges,
/// the hook): call it on a thread of its own.
public protocol RecordPublisher: Sendable {
    /// The zone holding `owner` (its SOA, see `ZoneFinder`).
    func zone(of owner: String) throws -> String
    /// Makes the change; a hook that fails throws `RecordHookFailure`, an update `DNSError`.
    func apply(_ change: RecordChange) throws
    /// Each address of each authoritative server of `zone` (bounded by `DNSFanOut`, within
    /// `deadline`), labelled `ns1.example.com (192.0.2.1:53)`; `leftOut` names those not asked.
    func authoritativeServers(of zone: String, deadline: DNSDeadline) throws -> (servers: [(server: DNSServer, label: String)], leftOut: String?)
}

extension RecordPublisher {
    /// `servers` with their authoritative servers asked on `port`, labelled by name and address.
    static func servers(_ found: ZoneFinder.NameServers, port: UInt16) -> (servers: [(server: DNSServer, label: String)], leftOut: String?) {
        let servers = found.servers.flatMap { name, addresses in
            addresses.map { address in
                let server = DNSServer(host: address, port: port)
                return (server: server, label: "\(name) (\(server))")
            }
        }
        return (servers, found.leftOut)
    }
}

/// RFC 2136 updates at one primary server, signed with a TSIG key (`DNSUpdater`); zones and
/// their authoritative servers are found by asking that server, and the authoritative servers
/// are asked on its port (53 unless a test runs its servers elsewhere).
public struct RFC2136Publisher: RecordPublisher {
    public var updater: DNSUpdater

    public init(updater: DNSUpdater) { self.updater = updater }

    public func zone(of owner: String) throws -> String { try updater.zone(of: owner) }

    public func apply(_ change: RecordChange) throws {
        let zone = try change.zone ?? updater.zone(of: change.owner)
        switch (change.action, change.data) {
        case (.add, .txt(let value)): try updater.add(txt: value, name: change.owner, zone: zone, ttl: change.ttl)
        case (.remove, .txt(let value)): try updater.delete(txt: value, name: change.owner, zone: zone)
        case (.add, .tlsa(let record)): try updater.add(tlsa: record, name: change.owner, zone: zone, ttl: change.ttl)
        case (.remove, .tlsa(let record)): try updater.delete(tlsa: record, name: change.owner, zone: zone)
        }
    }

    public func authoritativeServers(of zone: String, deadline: DNSDeadline) throws -> (servers: [(server: DNSServer, label: String)], leftOut: String?) {
        Self.servers(try updater.nameservers(of: zone, deadline: deadline), port: updater.server.port)
    }
}

/// The user's command (`/bin/sh -c`, through `Hook`: one runner, one timeout, Docs/HOOKS.md)
/// with the change's environment. Zones and authoritative servers are found through
/// `resolver` (recursion desired; nil: the system resolver), and the authoritative servers are
/// asked on the resolver's port (53 with the system resolver; a test's servers run elsewhere).
public struct HookPublisher: RecordPublisher {
    public var kind: Hook.Kind
    public var command: String
    public var resolver: DNSServer?

    public init(_ kind: Hook.Kind, command: String, resolver: DNSServer? = nil) {
        (self.kind, self.command, self.resolver) = (kind, command, resolver)
    }

    func query() throws -> DNSQuery { DNSQuery(server: try resolver ?? DNSServer.system(), timeout: .seconds(5), recursionDesired: true) }

    public func zone(of owner: String) throws -> String { try ZoneFinder(query: query()).zone(of: owner) }

    /// Runs the command for `change` on the calling thread and returns how it ended.
    public func run(_ change: RecordChange) -> Subprocess.Result {
        Hook(kind, command: command, environment: change.hookEnvironment).runHere()
    }

    public func apply(_ change: RecordChange) throws {
        let result = run(change)
        guard result.succeeded else { throw RecordHookFailure(command: command, result: result) }
    }

    public func authoritativeServers(of zone: String, deadline: DNSDeadline) throws -> (servers: [(server: DNSServer, label: String)], leftOut: String?) {
        Self.servers(try ZoneFinder(query: query(), deadline: deadline).nameservers(of: zone), port: resolver?.port ?? 53)
    }
}

extension DNSServer {
    /// The first `nameserver` of /etc/resolv.conf (127.0.0.1 when there is none, as libc does).
    public static func system() throws -> DNSServer {
        let text = FS.exists("/etc/resolv.conf") ? try FS.read("/etc/resolv.conf", limit: 64 << 10) : ""
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "nameserver" { return DNSServer(host: String(words[1])) }
        }
        return DNSServer(host: "127.0.0.1")
    }
}
