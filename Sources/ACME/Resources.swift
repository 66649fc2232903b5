import Base

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
        enum CodingKeys: String, CodingKey { case status, contact, orders, termsOfServiceAgreed }
    }
    public var url: String
    public var body: Body
}

extension Account.Body {
    /// Every field is informational: one of an unexpected type is ignored (RFC 8555 §7.1).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(status: c.lenient(String.self, forKey: .status), contact: c.lenient([String].self, forKey: .contact),
                  orders: c.lenient(String.self, forKey: .orders),
                  termsOfServiceAgreed: c.lenient(Bool.self, forKey: .termsOfServiceAgreed))
    }
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

    /// What the flow needs (status, authorizations, finalize) is required; the rest is read when
    /// it has the expected type, and an identifier of an unknown shape is dropped.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(String.self, forKey: .status)
        authorizations = try c.decode([String].self, forKey: .authorizations)
        finalize = try c.decode(String.self, forKey: .finalize)
        identifiers = c.readable([Identifier].self, forKey: .identifiers)
        expires = c.lenient(String.self, forKey: .expires)
        certificate = c.lenient(String.self, forKey: .certificate)
        error = c.lenient(Problem.self, forKey: .error)
        profile = c.lenient(String.self, forKey: .profile)
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

    enum CodingKeys: String, CodingKey { case type, url, status, token, validated, error }

    /// `type`, `url` and `status` are required of every challenge (RFC 8555 §8); the rest depends
    /// on the type, so a field of another JSON type (a future challenge's object `token`) is ignored.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        url = try c.decode(String.self, forKey: .url)
        status = try c.decode(String.self, forKey: .status)
        token = c.lenient(String.self, forKey: .token)
        validated = c.lenient(String.self, forKey: .validated)
        error = c.lenient(Problem.self, forKey: .error)
    }
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

    /// A challenge we cannot read (an unknown type of another shape) is dropped, never the
    /// authorization: the flow picks its own type among the others.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        identifier = try c.decode(Identifier.self, forKey: .identifier)
        status = try c.decode(String.self, forKey: .status)
        challenges = c.readable([Challenge].self, forKey: .challenges)
        expires = c.lenient(String.self, forKey: .expires)
        wildcard = c.lenient(Bool.self, forKey: .wildcard)
    }

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

    /// Why this window cannot be used for a certificate valid `notBefore`…`notAfter`, or nil.
    public func problem(notBefore: Date, notAfter: Date) -> String? {
        Self.windowProblem(start: start, end: end, notBefore: notBefore, notAfter: notAfter)
    }

    /// The rules a suggested window must meet, whoever sent it (the CA, or a fleet's store row):
    /// the end after the start, no date before 2015
    /// (before any ACME CA) nor more than a year outside the certificate's life (year 9999),
    /// and a start before the certificate expires. A refused window leaves the decision to the
    /// lifetime rule.
    public static func windowProblem(start: Date, end: Date, notBefore: Date, notAfter: Date) -> String? {
        if end < start { return "its window ends (\(end.utcText)) before it starts (\(start.utcText))" }
        if end == start { return "its window is empty (it starts and ends at \(start.utcText))" }
        let year: Double = 366 * 86_400
        let earliest = Date(timeIntervalSince1970: 1_420_070_400)  // 2015-01-01T00:00:00Z
        for (label, date) in [("start", start), ("end", end)] {
            if date < earliest { return "its window's \(label) \(date.utcText) is before 2015" }
            if date < notBefore.addingTimeInterval(-year) || date > notAfter.addingTimeInterval(year) {
                return "its window's \(label) \(date.utcText) is not within a year of the certificate's life"
            }
        }
        if start > notAfter {
            return "its window starts (\(start.utcText)) after the certificate expires (\(notAfter.utcText))"
        }
        return nil
    }

    /// RFC 3339 with or without fractional seconds.
    public static func parseDate(_ text: String) -> Date? {
        // Two spellings tried in turn; nil (no date) is the caller's to report.
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
