import Glibc

/// Finds the zone of a name (the SOA, asked for each parent in turn) and the zone's
/// authoritative servers, by asking one server: the primary an update goes to (without
/// recursion) or a resolver (with it).
public struct ZoneFinder: Sendable {
    public var query: DNSQuery
    var server: DNSServer { query.server }

    public init(query: DNSQuery) { self.query = query }

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
        throw DNSError(.notAuthoritative, "\(server) is not authoritative for a zone that holds \(name.escapedExcerpt) (no SOA for it or a parent); give the primary server of that name's zone (--dns-rfc2136, --dane-rfc2136) or a resolver")
    }


    /// The zone's authoritative servers (its NS set) and their addresses: glue from the answer,
    /// else A/AAAA records from the server, else the system resolver.
    public func nameservers(of zone: String) throws -> [(name: String, addresses: [String])] {
        let answer = try query.ask(zone, type: RRType.ns)
        guard answer.rcode == RCode.noError else {
            throw DNSError(.badAnswer, "\(server) answered \(RCode.name(answer.rcode)) when asked for the NS records of \(zone)")
        }
        let names = try answer.answers.filter { $0.type == RRType.ns && $0.name == zone }.map { try answer.target(of: $0) }
        guard !names.isEmpty else { throw DNSError(.badAnswer, "\(server) has no NS records for the zone \(zone)") }
        return try names.map { name in
            var addresses = answer.additional.filter { $0.name == name }.compactMap(answer.address(of:))
            if addresses.isEmpty {
                for type in [RRType.a, RRType.aaaa] {
                    let reply = try query.ask(name, type: type)
                    addresses += reply.answers.filter { $0.name == name }.compactMap(reply.address(of:))
                }
            }
            if addresses.isEmpty { addresses = Self.systemAddresses(name) }
            guard !addresses.isEmpty else {
                throw DNSError(.badAnswer, "cannot find an address for \(name.escapedExcerpt), a name server of \(zone), at \(server) or through the system resolver")
            }
            return (name, addresses)
        }
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
