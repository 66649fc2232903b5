/// The bounds of DNS work whose size a server's answer decides: one NS answer can name over a
/// thousand name servers, each with many addresses, each asked in turn. Every such operation
/// (finding a zone and its servers, asking each of them for TLSA or TXT records) asks at most
/// `maxNameServers` servers of a zone and `maxAddresses` addresses of each, within one deadline;
/// what is left out is named in one line. Docs/SECURITY.md lists these values.
public enum DNSFanOut {
    /// Name servers of one zone that are asked (the first of the NS answer, duplicates removed).
    public static let maxNameServers = 10
    /// Addresses of one name server that are asked (glue, A/AAAA answers or the system resolver's).
    public static let maxAddresses = 2
    /// The whole of one operation: `acme tlsa --check`, one DANE visibility check, finding the
    /// servers of the zones of one DNS-01 order.
    public static let operationTime: Duration = .seconds(60)
    /// How many of the names left out a line names before `…`.
    static let namedInLine = 3

    /// `990 name servers of example.com. not asked (acme asks at most 10): ns11.example.com, ns12.example.com, ns13.example.com, …`
    public static func leftOut(_ count: Int, _ what: String, names: [String], why: String) -> String {
        let shown = names.prefix(namedInLine).map(\.escapedExcerpt).joined(separator: ", ")
        return "\(count) \(what) not asked (\(why))" + (shown.isEmpty ? "" : ": " + shown + (names.count > namedInLine ? ", …" : ""))
    }
}

/// One deadline for a whole DNS operation: every query made under it waits at most for the time
/// left, and none is sent once it has passed (`dns.deadline`).
public struct DNSDeadline: Sendable {
    public let end: ContinuousClock.Instant
    /// The operation's whole time, for messages.
    public let limit: Duration

    /// `limit` from now (tests give a short one).
    public init(_ limit: Duration = DNSFanOut.operationTime) {
        self.limit = limit
        end = ContinuousClock.now + limit
    }

    public var left: Duration { end - ContinuousClock.now }
    public var passed: Bool { left <= .zero }

    /// `60 s`, `1.5 s`.
    public var limitText: String {
        let milliseconds = limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(Double(milliseconds) / 1000) s"
    }

    /// The timeout of a query that waits at most `timeout`; throws once the deadline has passed.
    func cut(_ timeout: Duration, asking server: DNSServer) throws -> Duration {
        let left = left
        guard left > .zero else { throw passedError(server) }
        return min(timeout, left)
    }

    func passedError(_ server: DNSServer) -> DNSError {
        DNSError(.deadline, "the DNS lookups did not finish within \(limitText) (the bound of one operation, Docs/SECURITY.md); \(server) was not asked in time; check that the zone's name servers answer")
    }
}
