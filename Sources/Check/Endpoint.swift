import Base
/// What `acme check` connects to: `smtp://host[:25]`, `submission://host[:587]` (STARTTLS),
/// `smtps://host[:465]`, `imap://host[:143]` (STARTTLS), `imaps://host[:993]`,
/// `pop3://host[:110]` (STLS), `pop3s://host[:995]`, `https://host[:443]`.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public enum StartTLS: String, Sendable { case smtp, imap, pop3 }

    public var scheme: String
    public var host: String
    public var port: Int
    /// nil: TLS from the first byte.
    public var startTLS: StartTLS?

    /// Scheme name -> default port and dialog, from `EndpointScheme.all`.
    static let schemes: [String: (port: Int, startTLS: StartTLS?)] = Dictionary(
        uniqueKeysWithValues: EndpointScheme.all.map { ($0.name, (port: $0.port, startTLS: $0.startTLS)) })

    public var description: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    public init(parsing text: String) throws {
        guard let separator = text.firstRange(of: "://") else {
            throw CheckError(.invalidEndpoint, "\(text) is not an endpoint URL; write it as smtp://mail.example.com, imaps://mail.example.com:993, …")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard let known = Self.schemes[scheme] else {
            throw CheckError(.invalidEndpoint, "\(text): unknown scheme \(scheme); use one of \(Self.schemes.keys.sorted().joined(separator: ", "))")
        }
        var rest = text[separator.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var host = Substring(rest)
        var port = known.port
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if after.hasPrefix(":") { port = try Self.port(String(after.dropFirst()), text) }
        } else if let colon = host.lastIndex(of: ":") {
            port = try Self.port(String(host[host.index(after: colon)...]), text)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw CheckError(.invalidEndpoint, "\(text) names no host") }
        self.scheme = scheme
        self.host = String(host).lowercased()
        self.port = port
        self.startTLS = known.startTLS
    }

    private static func port(_ text: String, _ url: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else { throw CheckError(.invalidEndpoint, "\(url): \(text) is not a port number") }
        return port
    }
}

/// A failure to reach or talk to an endpoint, one line naming it.
public typealias CheckError = ModuleError<CheckModule>
public enum CheckModule {}

extension ErrorCode where Domain == CheckError {
    /// Not an endpoint URL acme check understands.
    public static var invalidEndpoint: Self { Self("check.invalidEndpoint", .usage) }
    /// Name resolution or the connection failed.
    public static var unreachable: Self { Self("check.unreachable", .network) }
    /// The server's dialog before TLS went wrong (greeting, EHLO, STARTTLS refused, closed).
    public static var protocolFailure: Self { Self("check.protocolFailure", .network) }
    /// The TLS handshake failed or presented no certificate.
    public static var handshake: Self { Self("check.handshake", .network) }
    /// The endpoint's deadline (`--timeout`, for connecting, the dialog and the handshake
    /// together) or the whole run's deadline passed.
    public static var timedOut: Self { Self("check.timedOut", .network) }
    /// The server sent more before TLS than acme check reads: a line, a reply or all bytes together.
    public static var oversized: Self { Self("check.oversized", .network) }
}
