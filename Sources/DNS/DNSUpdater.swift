import Glibc

/// Dynamic updates (RFC 2136) of TXT records at one primary server, signed with a TSIG key
/// (RFC 8945); every answer's id, RCODE and TSIG are checked. Also finds the zone of a name
/// (the SOA, asked for each parent in turn) and the zone's authoritative servers.
public struct DNSUpdater: Sendable {
    public var server: DNSServer
    public var key: TSIGKey
    /// For each exchange (UDP, and TCP when needed).
    public var timeout: Duration

    public init(server: DNSServer, key: TSIGKey, timeout: Duration = .seconds(5)) {
        self.server = server
        self.key = key
        self.timeout = timeout
    }

    var query: DNSQuery { DNSQuery(server: server, timeout: timeout, recursionDesired: false) }

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
        throw DNSError(.notAuthoritative, "\(server) is not authoritative for a zone that holds \(name.escapedExcerpt) (no SOA for it or a parent); give --dns-rfc2136 the primary server of that name's zone")
    }

    /// Adds `value` to the TXT records of `name` in `zone` (RFC 2136 §2.5.1).
    public func add(txt value: String, name: String, zone: String, ttl: UInt32 = 60) throws {
        try update(zone: zone, name: name, what: "add the TXT record \(name)") { writer in
            try writer.record(name: name, type: RRType.txt, rrClass: RRClass.internet, ttl: ttl, rdata: Self.txtData(value))
        }
    }

    /// Deletes the TXT record of `name` holding `value`, leaving other values (RFC 2136 §2.5.4).
    public func delete(txt value: String, name: String, zone: String) throws {
        try update(zone: zone, name: name, what: "remove the TXT record \(name)") { writer in
            try writer.record(name: name, type: RRType.txt, rrClass: RRClass.none, ttl: 0, rdata: Self.txtData(value))
        }
    }

    static func txtData(_ value: String) -> [UInt8] {
        // A DNS-01 value is 43 characters; longer text is split into 255-byte strings.
        let bytes = Array(value.utf8)
        return stride(from: 0, to: max(bytes.count, 1), by: 255).flatMap { start -> [UInt8] in
            let piece = bytes[start..<min(start + 255, bytes.count)]
            return [UInt8(piece.count)] + piece
        }
    }

    /// One UPDATE with one record in its update section, signed, sent, and its answer checked.
    private func update(zone: String, name: String, what: String, _ change: (inout DNSWriter) throws -> Void) throws {
        let id = UInt16.random(in: 0...UInt16.max)
        // RFC 2136 §2.2: OPCODE 5; ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0 (TSIG added by signing).
        var writer = DNSWriter.header(id: id, flags: 5 << 11, counts: [1, 0, 1, 0])
        try writer.name(zone)
        writer.u16(RRType.soa)
        writer.u16(RRClass.internet)
        try change(&writer)
        let (request, mac) = try key.sign(writer.bytes, time: Self.now())
        let answer = try DNSMessage(parsing: DNSExchange(server: server, timeout: timeout).send(request))
        guard answer.isResponse, answer.opcode == 5 else {
            throw DNSError(.badAnswer, "\(server) answered the update with something that is not an UPDATE response")
        }
        try key.verify(answer, requestMAC: mac, now: Self.now(), server: server)
        switch answer.rcode {
        case RCode.noError:
            return
        case RCode.refused:
            throw DNSError(.updateRefused, "\(server) refused to \(what) (REFUSED): key \(key.name) may not change it; grant it in the zone's update-policy, e.g. grant \(key.name) zonesub TXT; (Docs/DNS-01.md)")
        case RCode.notAuth, RCode.notZone:
            throw DNSError(.notAuthoritative, "\(server) cannot \(what) in zone \(zone) (\(RCode.name(answer.rcode))): it is not the primary of that zone; give --dns-rfc2136 the zone's primary server")
        case let other:
            throw DNSError(.updateRefused, "\(server) did not \(what) in zone \(zone) (\(RCode.name(other))); see the server's log")
        }
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

    static func now() -> UInt64 { UInt64(max(time(nil), 0)) }
}
