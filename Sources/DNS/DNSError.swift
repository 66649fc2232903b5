import Base

/// A failure talking DNS: a lookup, a dynamic update (RFC 2136) or its TSIG key (RFC 8945).
public typealias DNSError = ModuleError<DNSModule>
public enum DNSModule {}

extension ErrorCode where Domain == DNSError {
    /// A flag value that is not HOST[:PORT] or a DNS name.
    public static var invalidSetting: Self { Self("dns.invalidSetting", .usage) }
    /// The TSIG key file cannot be read, is not a BIND key file, or names an unsupported algorithm.
    public static var keyFile: Self { Self("dns.keyFile", .localState) }
    /// The DNS server cannot be reached or does not answer in time.
    public static var unreachable: Self { Self("dns.unreachable", .network) }
    /// A DNS operation (a zone's servers and their answers) did not finish within its one deadline.
    public static var deadline: Self { Self("dns.deadline", .network) }
    /// The answer is malformed, not ours, unsigned or wrongly signed, or a lookup failed (SERVFAIL…).
    public static var badAnswer: Self { Self("dns.badAnswer", .network) }
    /// The server rejected the TSIG key: unknown key (BADKEY), wrong secret (BADSIG), clock (BADTIME).
    public static var keyRejected: Self { Self("dns.keyRejected", .localState) }
    /// The server is not authoritative for a zone holding the name (no SOA found, NOTZONE, NOTAUTH).
    public static var notAuthoritative: Self { Self("dns.notAuthoritative", .localState) }
    /// The server refused the update (REFUSED: the key is not granted this name, or another RCODE).
    public static var updateRefused: Self { Self("dns.updateRefused", .localState) }
}
