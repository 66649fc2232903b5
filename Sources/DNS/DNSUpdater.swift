import Base
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

    /// The zone holding `name` (see `ZoneFinder`).
    public func zone(of name: String) throws -> String { try ZoneFinder(query: query).zone(of: name) }

    /// The zone's authoritative servers and their addresses (see `ZoneFinder`).
    /// `deadline`: the one of the operation that asks them (a DNS-01 order's propagation check).
    public func nameservers(of zone: String, deadline: DNSDeadline = DNSDeadline()) throws -> ZoneFinder.NameServers {
        try ZoneFinder(query: query, deadline: deadline).nameservers(of: zone)
    }

    /// Adds `value` to the TXT records of `name` in `zone` (RFC 2136 §2.5.1).
    public func add(txt value: String, name: String, zone: String, ttl: UInt32 = 60) throws {
        try update(zone: zone, name: name, what: "add the TXT record \(name)") { writer in
            try writer.record(name: name, type: RRType.txt, rrClass: RRClass.internet, ttl: ttl, rdata: Self.txtData(value))
        }
    }

    /// Adds a TLSA record (RFC 6698 §2) to `name` in `zone`; adding one that is there already
    /// changes nothing (RFC 2136 §3.4.2.2), so a repeated add after a crash is harmless.
    public func add(tlsa record: TLSARecord, name: String, zone: String, ttl: UInt32) throws {
        try update(zone: zone, name: name, what: "add the TLSA record \(name) \(record.presentation)") { writer in
            try writer.record(name: name, type: RRType.tlsa, rrClass: RRClass.internet, ttl: ttl, rdata: record.rdata)
        }
    }

    /// Deletes exactly this TLSA record of `name`, leaving the others (RFC 2136 §2.5.4).
    public func delete(tlsa record: TLSARecord, name: String, zone: String) throws {
        try update(zone: zone, name: name, what: "remove the TLSA record \(name) \(record.presentation)") { writer in
            try writer.record(name: name, type: RRType.tlsa, rrClass: RRClass.none, ttl: 0, rdata: record.rdata)
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
            throw DNSError(.updateRefused, "\(server) refused to \(what) (REFUSED): key \(key.name) may not change it; grant it in the zone's update-policy, e.g. grant \(key.name) zonesub TXT TLSA; (Docs/DNS-01.md, Docs/DANE.md)")
        case RCode.notAuth, RCode.notZone:
            throw DNSError(.notAuthoritative, "\(server) cannot \(what) in zone \(zone) (\(RCode.name(answer.rcode))): it is not the primary of that zone; give the zone's primary server as \(SettingName.dnsUpdateServer)")
        case let other:
            throw DNSError(.updateRefused, "\(server) did not \(what) in zone \(zone) (\(RCode.name(other))); see the server's log")
        }
    }

    static func now() -> UInt64 { UInt64(max(time(nil), 0)) }
}
