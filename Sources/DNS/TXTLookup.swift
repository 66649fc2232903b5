/// Asks one DNS server for the TXT records of a name (RFC 1035), so that a DNS-01 record can be
/// checked at a chosen resolver, or at each authoritative server, before the CA is told to look.
/// TXT strings of one record are joined.
public struct TXTLookup: Sendable {
    public var query: DNSQuery
    /// How the server is named in messages (`ns2.example.com (192.0.2.2:53)` or `127.0.0.1:53`).
    public var label: String

    public var server: String { query.server.host }
    public var port: UInt16 { query.server.port }

    /// `recursionDesired`: true for a resolver, false for an authoritative server.
    public init(server: String, port: UInt16 = 53, timeout: Duration = .seconds(2), recursionDesired: Bool = true, label: String? = nil) {
        let address = DNSServer(host: server, port: port)
        query = DNSQuery(server: address, timeout: timeout, recursionDesired: recursionDesired)
        self.label = label ?? address.description
    }

    /// Parses the DNS-01 resolver's `host:port` (port 53 when absent; `[v6]:port` for IPv6).
    public init(resolver: String) throws {
        let address = try DNSServer(parsing: resolver, setting: .dnsResolver)
        self.init(server: address.host, port: address.port)
    }

    public func txt(_ name: String) throws -> [String] {
        try Self.values(query.ask(name, type: RRType.txt), name: name)
    }

    /// The TXT strings in the answer section of a DNS response; NXDOMAIN is none.
    static func parseTXT(_ message: [UInt8], name: String) throws -> [String] {
        try values(DNSMessage(parsing: message), name: name)
    }

    static func values(_ message: DNSMessage, name: String) throws -> [String] {
        if message.rcode == RCode.nxDomain { return [] }  // not there (yet)
        guard message.rcode == RCode.noError else {
            throw DNSError(.badAnswer, "the DNS server answered \(RCode.name(message.rcode)) for \(name.escapedExcerpt)")
        }
        return try message.answers.filter { $0.type == RRType.txt }.map { try message.text(of: $0) }
    }
}
