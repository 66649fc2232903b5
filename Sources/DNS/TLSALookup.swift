/// One TLSA record's data (RFC 6698 §2.1): certificate usage, selector, matching type and the
/// association data, kept as lower-case hex.
public struct TLSARecord: Sendable, Hashable, Codable, CustomStringConvertible {
    public var usage: UInt8
    public var selector: UInt8
    public var matching: UInt8
    /// Lower-case hex of the association data (a SHA-256 is 64 characters).
    public var data: String

    public init(usage: UInt8, selector: UInt8, matching: UInt8, data: String) {
        self.usage = usage
        self.selector = selector
        self.matching = matching
        self.data = data.lowercased()
    }

    /// Parses `3 1 1 <hex>` (the presentation form, RFC 6698 §2.2); nil for anything else.
    public init?(presentation text: String) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count >= 4, let usage = UInt8(parts[0]), let selector = UInt8(parts[1]), let matching = UInt8(parts[2]) else { return nil }
        let hex = parts[3...].joined().lowercased()
        guard !hex.isEmpty, hex.count % 2 == 0, hex.count <= 1024, hex.allSatisfy(\.isHexDigit) else { return nil }
        self.init(usage: usage, selector: selector, matching: matching, data: hex)
    }

    /// `3 1 1 <hex>`.
    public var presentation: String { "\(usage) \(selector) \(matching) \(data)" }
    public var description: String { presentation }

    /// The record data on the wire.
    public var rdata: [UInt8] {
        var bytes = [usage, selector, matching]
        var index = data.startIndex
        while index < data.endIndex, let next = data.index(index, offsetBy: 2, limitedBy: data.endIndex),
              let byte = UInt8(data[index..<next], radix: 16) {
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    /// From record data: three octets and at least one byte of association data.
    init?(rdata: ArraySlice<UInt8>) {
        guard rdata.count >= 4, rdata.count <= 3 + 512 else { return nil }
        let bytes = Array(rdata)
        let hex = bytes[3...].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        self.init(usage: bytes[0], selector: bytes[1], matching: bytes[2], data: hex)
    }
}

/// Asks one DNS server for the TLSA records of a name: an authoritative server (no recursion) to
/// see what it serves, or a validating resolver (recursion and AD asked) to see whether the
/// answer is DNSSEC-authenticated.
public struct TLSALookup: Sendable {
    public var query: DNSQuery
    /// How the server is named in messages (`ns2.example.com (192.0.2.2:53)`).
    public var label: String

    public init(server: DNSServer, timeout: Duration = .seconds(2), recursionDesired: Bool, label: String? = nil) {
        query = DNSQuery(server: server, timeout: timeout, recursionDesired: recursionDesired)
        query.authenticatedData = recursionDesired
        self.label = label ?? server.description
    }

    public struct Answer: Sendable {
        public var records: [TLSARecord]
        /// The AD bit: a validating resolver checked the DNSSEC signatures (RFC 4035 §3.2.3).
        public var authenticated: Bool
        /// The answer's TTL (the smallest of the records), nil when there are none.
        public var ttl: UInt32?
    }

    /// The TLSA records of `name` (lower-case, absolute or not); NXDOMAIN and NODATA are none.
    /// At most 64 records are taken; record data that is not TLSA is skipped.
    public func records(_ name: String) throws -> Answer {
        let owner = DNSName.normalized(name)
        let message = try query.ask(owner, type: RRType.tlsa)
        let authenticated = message.flags & 0x0020 != 0
        if message.rcode == RCode.nxDomain { return Answer(records: [], authenticated: authenticated, ttl: nil) }
        guard message.rcode == RCode.noError else {
            throw DNSError(.badAnswer, "\(label) answered \(RCode.name(message.rcode)) for the TLSA records of \(owner.escapedExcerpt)")
        }
        let matching = message.answers.filter { $0.type == RRType.tlsa && $0.name == owner }.prefix(64)
        return Answer(records: matching.compactMap { TLSARecord(rdata: $0.rdata) }, authenticated: authenticated,
                      ttl: matching.map(\.ttl).min())
    }
}
