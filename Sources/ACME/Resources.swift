/// An identifier of an order or authorization (RFC 8555 §7.1.3, §9.7.7).
public struct Identifier: Sendable, Codable, Hashable {
    public var type: String
    public var value: String
    public init(type: String = "dns", value: String) {
        self.type = type
        self.value = value
    }
}

/// Account object (RFC 8555 §7.1.2) plus the URL the server gave it (its `kid`).
public struct Account: Sendable {
    public struct Body: Sendable, Decodable {
        public var status: String?
        public var contact: [String]?
        public var orders: String?
        public var termsOfServiceAgreed: Bool?
    }
    public var url: String
    public var body: Body
}

/// Order object (RFC 8555 §7.1.3) plus its URL.
public struct Order: Sendable, Decodable {
    public var status: String
    public var expires: String?
    public var identifiers: [Identifier]
    public var authorizations: [String]
    public var finalize: String
    public var certificate: String?
    public var error: Problem?
    public var profile: String?
    /// Not part of the JSON: the `Location` the server gave the order.
    public var url: String = ""

    enum CodingKeys: String, CodingKey {
        case status, expires, identifiers, authorizations, finalize, certificate, error, profile
    }
}

/// Challenge object (RFC 8555 §7.1.5, §8).
public struct Challenge: Sendable, Decodable {
    public var type: String
    public var url: String
    public var status: String
    public var token: String?
    public var validated: String?
    public var error: Problem?
}

/// Authorization object (RFC 8555 §7.1.4) plus its URL.
public struct Authorization: Sendable, Decodable {
    public var identifier: Identifier
    public var status: String
    public var expires: String?
    public var challenges: [Challenge]
    public var wildcard: Bool?
    public var url: String = ""

    enum CodingKeys: String, CodingKey { case identifier, status, expires, challenges, wildcard }

    /// The name as the user wrote it (`*.example.com` for a wildcard authorization).
    public var displayName: String { (wildcard ?? false) ? "*." + identifier.value : identifier.value }
}

/// A downloaded certificate chain (RFC 8555 §7.4.2) and the URLs of alternate chains.
public struct CertificateDownload: Sendable {
    public var pem: String
    public var alternates: [String]
}

/// ARI's answer (RFC 9773 §4.2): renew at a random moment between `start` and `end`,
/// and ask again after `retryAfter`.
public struct RenewalInfo: Sendable, Equatable {
    public var start: Date
    public var end: Date
    public var explanationURL: String?
    public var retryAfter: Duration?

    public init(start: Date, end: Date, explanationURL: String? = nil, retryAfter: Duration? = nil) {
        self.start = start
        self.end = end
        self.explanationURL = explanationURL
        self.retryAfter = retryAfter
    }

    /// RFC 3339 with or without fractional seconds.
    public static func parseDate(_ text: String) -> Date? {
        // Two spellings tried in turn; nil (no date) is the caller's to report.
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
