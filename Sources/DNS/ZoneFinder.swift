import Base
import Glibc

/// Finds the zone of a name (the SOA, asked for each parent in turn) and the zone's
/// authoritative servers, by asking one server: the primary an update goes to (without
/// recursion) or a resolver (with it). Every query waits only for what is left of `deadline`,
/// and at most `DNSFanOut.maxNameServers` servers with `DNSFanOut.maxAddresses` addresses each
/// are returned, however many the answers name.
public struct ZoneFinder: Sendable {
    public var query: DNSQuery
    /// The one deadline of the operation the finder serves (also for the queries sent to the servers it finds).
    public let deadline: DNSDeadline
    var server: DNSServer { query.server }

    public init(query: DNSQuery, deadline: DNSDeadline = DNSDeadline()) {
        self.query = query
        self.query.deadline = deadline
        self.deadline = deadline
    }

    /// The zone holding `name`: the first of the name and its parents the server answers with
    /// an SOA for (RFC 2136 §4: an update names its zone).
    public func zone(of name: String) throws -> String {
        for candidate in DNSName.selfAndParents(name) {
            let answer = try query.ask(candidate, type: RRType.soa)
            // REFUSED, SERVFAIL…: not this server's zone; try the parent.
            guard answer.rcode == RCode.noError || answer.rcode == RCode.nxDomain else { continue }
            if answer.answers.contains(where: { $0.type == RRType.soa && $0.name == candidate }) { return candidate }
            // NXDOMAIN or no data below the apex: the authority section names the zone.
            if let soa = answer.authority.first(where: { $0.type == RRType.soa }), candidate == soa.name || candidate.hasSuffix("." + soa.name) {
                return soa.name
            }
        }
        throw DNSError(.notAuthoritative, "\(server) is not authoritative for a zone that holds \(name.escapedExcerpt) (no SOA for it or a parent); give the primary server of that name's zone (as \(SettingName.dnsUpdateServer) or \(SettingName.daneUpdateServer)) or a resolver")
    }

    /// A zone's name servers to ask, and one line naming those (and the addresses) left out.
    public struct NameServers: Sendable {
        public var servers: [(name: String, addresses: [String])]
        /// `990 more name servers of example.com not asked (…): ns11…, …`; nil when none was left out.
        public var leftOut: String?
    }

    /// The zone's authoritative servers (its NS set, at most `DNSFanOut.maxNameServers`) and
    /// their addresses (at most `DNSFanOut.maxAddresses` each): glue from the answer, else A/AAAA
    /// records from the server, else the system resolver.
    public func nameservers(of zone: String) throws -> NameServers {
        let answer = try query.ask(zone, type: RRType.ns)
        guard answer.rcode == RCode.noError else {
            throw DNSError(.badAnswer, "\(server) answered \(RCode.name(answer.rcode)) when asked for the NS records of \(zone)")
        }
        var names: [String] = []
        var seen = Set<String>()
        for record in answer.answers where record.type == RRType.ns && record.name == zone {
            let name = try answer.target(of: record)
            if seen.insert(name).inserted { names.append(name) }
        }
        guard !names.isEmpty else { throw DNSError(.badAnswer, "\(server) has no NS records for the zone \(zone)") }
        let limit = DNSFanOut.maxNameServers
        var notes: [String] = []
        if names.count > limit {
            notes.append(DNSFanOut.leftOut(names.count - limit, "more name servers of \(zone)", names: Array(names.dropFirst(limit)),
                                           why: "acme asks at most \(limit) of a zone"))
        }
        var servers: [(name: String, addresses: [String])] = []
        var extra: [(name: String, count: Int)] = []
        for (index, name) in names.prefix(limit).enumerated() {
            let all: [String]
            do {
                all = try addresses(of: name, glue: answer, zone: zone)
            } catch let error as DNSError where error.code == .deadline {
                let rest = Array(names.prefix(limit).dropFirst(index))
                throw DNSError(.deadline, "the DNS lookups did not finish within \(deadline.limitText) (the bound of one operation, Docs/SECURITY.md): "
                               + DNSFanOut.leftOut(rest.count, "name servers of \(zone)", names: rest, why: "no address found in time")
                               + "; check that \(server) answers")
            }
            servers.append((name, Array(all.prefix(DNSFanOut.maxAddresses))))
            if all.count > DNSFanOut.maxAddresses { extra.append((name, all.count - DNSFanOut.maxAddresses)) }
        }
        if !extra.isEmpty {
            notes.append(DNSFanOut.leftOut(extra.map(\.count).reduce(0, +), "more addresses of \(extra.count) name server(s)", names: extra.map(\.name),
                                           why: "acme asks at most \(DNSFanOut.maxAddresses) per name server"))
        }
        return NameServers(servers: servers, leftOut: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }

    /// The distinct addresses of one name server: glue, else the server's A/AAAA answers, else
    /// (while time is left) the system resolver.
    private func addresses(of name: String, glue answer: DNSMessage, zone: String) throws -> [String] {
        var addresses = answer.additional.filter { $0.name == name }.compactMap(answer.address(of:))
        if addresses.isEmpty {
            for type in [RRType.a, RRType.aaaa] {
                let reply = try query.ask(name, type: type)
                addresses += reply.answers.filter { $0.name == name }.compactMap(reply.address(of:))
            }
        }
        if addresses.isEmpty {
            // getaddrinfo cannot be cut short: asked only while time is left.
            guard !deadline.passed else { throw deadline.passedError(server) }
            addresses = Self.systemAddresses(name)
        }
        guard !addresses.isEmpty else {
            throw DNSError(.badAnswer, "cannot find an address for \(name.escapedExcerpt), a name server of \(zone), at \(server) or through the system resolver")
        }
        var seen = Set<String>()
        return addresses.filter { seen.insert($0).inserted }
    }

    static func systemAddresses(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var out: [String] = []
        var entry = list
        while let info = entry {
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(cString: host)
                if !out.contains(text) { out.append(text) }
            }
            entry = info.pointee.ai_next
        }
        return out
    }

}
