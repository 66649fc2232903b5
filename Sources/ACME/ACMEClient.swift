import ACMECrypto
import ACMEHTTP
import Base

/// The account an RFC 8555 request is signed with: its key and, once registered, its URL (`kid`).
public struct AccountCredentials: Sendable {
    public var key: PrivateKey
    public var url: String
    public init(key: PrivateKey, url: String) {
        self.key = key
        self.url = url
    }
}

/// External Account Binding credentials (RFC 8555 §7.3.4).
public struct ExternalAccountBinding: Sendable {
    public var keyID: String
    public var macKey: [UInt8]
    public init(keyID: String, macKey: [UInt8]) {
        self.keyID = keyID
        self.macKey = macKey
    }
}

/// Talks RFC 8555 to one ACME server: the directory, nonces, signed POSTs with the
/// retries the RFC asks for (`badNonce`), and every resource request. It holds no
/// policy: which challenge to answer or where to store things is decided above it.
public actor ACMEClient {
    public let directoryURL: String
    private let transport: any HTTPTransport
    private let verbose: (EventSink)?
    private var nonces = NonceStore()
    private var cachedDirectory: Directory?
    /// Requests sent to the server by this client (directory, nonces, POSTs, retries included).
    public private(set) var requestCount = 0

    private let clock: RetryClock

    /// Retries of a request refused for `badNonce` before giving up (RFC 8555 §6.5: the client should retry).
    static let badNonceRetries = 25
    /// Longest `Retry-After` we wait out on 429 and 5xx before reporting instead; how often on 429.
    static let longestRetryAfter: Duration = .seconds(60)
    static let rateLimitRetries = 3
    /// A CA that failed or is in maintenance (or its proxy's gateway errors): asked again.
    static let transientStatuses: Set<Int> = [500, 502, 503, 504]
    /// Retries of a transient failure; without `Retry-After` they wait 1, 2, 4, 8 s.
    static let transientRetries = 4
    /// All the waiting for one request (429 and 5xx together), whatever the CA asks.
    static let longestRetryWaiting: Duration = .seconds(120)
    /// The deadline of the run this task belongs to (an order's `OrderFlow.timeout`): no retry
    /// waits past it; the failure is reported instead.
    @TaskLocal static var runDeadline: ContinuousClock.Instant?

    public init(directoryURL: String, transport: any HTTPTransport, verbose: (EventSink)? = nil,
                clock: RetryClock = .continuous) {
        self.directoryURL = directoryURL
        self.transport = transport
        self.verbose = verbose
        self.clock = clock
    }

    // MARK: Directory and nonces

    /// The directory, fetched once.
    public func directory() async throws -> Directory {
        if let cachedDirectory { return cachedDirectory }
        let (response, attempts) = try await sendWithRateLimit(HTTPRequest(method: .get, url: directoryURL))
        guard response.status == 200 else {
            throw failure(response, url: directoryURL, doing: "fetching the directory", attempts: attempts)
        }
        let directory = try Directory.parse(response.body, url: directoryURL)
        cachedDirectory = directory
        return directory
    }

    private func freshNonce() async throws -> String {
        if let nonce = nonces.take() { return nonce }
        let url = try await directory().newNonce
        let (response, attempts) = try await sendWithRateLimit(HTTPRequest(method: .head, url: url))
        nonces.keep(response.header("Replay-Nonce"))
        if Self.transientStatuses.contains(response.status) {
            throw failure(response, url: url, doing: "asking for a nonce", attempts: attempts)
        }
        guard response.status < 400, let nonce = nonces.take() else {
            throw ACMEError(.malformedResponse, "\(url) gave no Replay-Nonce (HTTP \(response.status)); the server is not speaking RFC 8555")
        }
        return nonce
    }

    // MARK: Transport

    private func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requestCount += 1
        let response = try await transport.send(request)
        verbose?("\(request.method.rawValue) \(request.url) -> \(response.status)")
        return response
    }

    /// GET/HEAD asked again after a 429 with a short `Retry-After` or a transient 5xx (`retryDelay`).
    /// Returns the last response and how many times the request was sent.
    private func sendWithRateLimit(_ request: HTTPRequest) async throws -> (response: HTTPResponse, attempts: Int) {
        var retries = Retries()
        while true {
            let response = try await send(request)
            guard let delay = retryDelay(response, &retries) else { return (response, retries.attempts) }
            try await clock.sleep(delay)
        }
    }

    /// What one request has been through: retries of each kind and the time waited.
    struct Retries {
        var rateLimited = 0
        var transient = 0
        var waited: Duration = .zero
        var attempts: Int { 1 + rateLimited + transient }
    }

    /// How long to wait before asking again, or nil to report the response. A 429 is waited out
    /// only with a `Retry-After` of at most 60 s, three times; a 500, 502, 503 or 504 (a CA in
    /// maintenance, a failing proxy) four times, after the CA's `Retry-After` (at most 60 s) or
    /// 1, 2, 4, 8 s. At most 120 s of waiting per request, and never past the run's deadline.
    private func retryDelay(_ response: HTTPResponse, _ retries: inout Retries) -> Duration? {
        var delay: Duration
        let transient = Self.transientStatuses.contains(response.status)
        if response.status == 429 {
            guard retries.rateLimited < Self.rateLimitRetries, let after = response.retryAfter else { return nil }
            delay = after
        } else if transient {
            guard retries.transient < Self.transientRetries else { return nil }
            delay = response.retryAfter ?? .seconds(1 << retries.transient)
        } else {
            return nil
        }
        delay = max(delay, .milliseconds(100))
        guard delay <= Self.longestRetryAfter, retries.waited + delay <= Self.longestRetryWaiting else { return nil }
        if let deadline = Self.runDeadline, clock.now() + delay >= deadline { return nil }
        if transient { retries.transient += 1 } else { retries.rateLimited += 1 }
        retries.waited += delay
        verbose?("HTTP \(response.status): asking again in \(delay)")
        return delay
    }

    /// A signed POST (RFC 8555 §6.2). `payload == nil` is POST-as-GET (§6.3).
    /// `badNonce` is retried with the nonce from the error response (§6.5).
    func post(_ url: String, payload: String?, key: PrivateKey, kid: String?,
              accept: String? = nil) async throws -> HTTPResponse {
        var nonceRetries = 0
        var retries = Retries()
        while true {
            let nonce = try await freshNonce()
            let body = try JWS.sign(payload: payload, url: url, nonce: nonce, key: key, keyID: kid)
            var headers = ["Content-Type": "application/jose+json"]
            if let accept { headers["Accept"] = accept }
            let response = try await send(HTTPRequest(method: .post, url: url, headers: headers, body: Array(body.utf8)))
            nonces.keep(response.header("Replay-Nonce"))
            if response.status < 400 { return response }
            let problem = Problem.parse(response.body)
            if problem?.shortType == "badNonce", nonceRetries < Self.badNonceRetries {
                nonceRetries += 1
                continue
            }
            if let delay = retryDelay(response, &retries) {
                try await clock.sleep(delay)
                continue
            }
            throw failure(response, url: url, doing: nil, attempts: retries.attempts)
        }
    }

    /// Turns an error response into one line: the problem's type, detail and identifier
    /// when the server sent a problem document, else the status and URL. A transient 5xx
    /// (still there after the retries) says the CA is unavailable, not that it refused.
    private func failure(_ response: HTTPResponse, url: String, doing: String?, attempts: Int = 1) -> ACMEError {
        let context = doing.map { " while \($0)" } ?? ""
        if Self.transientStatuses.contains(response.status) {
            return unavailable(response, url: url, context: context, attempts: attempts)
        }
        if let problem = Problem.parse(response.body) {
            var message = "the CA refused the request\(context): \(problem.summary)"
            if response.status == 429 || problem.shortType == "rateLimited" {
                if let after = response.retryAfter {
                    message += " (retry after \(Int(after.components.seconds)) s)"
                }
                return ACMEError(.rateLimited, message, problem: problem)
            }
            return ACMEError(.problem, message, problem: problem)
        }
        let kind: ACMEError.Code = response.status == 429 ? .rateLimited : .malformedResponse
        return ACMEError(kind, "HTTP \(response.status) from \(url)\(context)\(Self.snippet(response))")
    }

    private func unavailable(_ response: HTTPResponse, url: String, context: String, attempts: Int) -> ACMEError {
        let problem = Problem.parse(response.body)
        var message = "the CA is unavailable: HTTP \(response.status) from \(url)\(context)"
        if attempts > 1 { message += " (\(attempts) attempts)" }
        message += problem.map { ": " + $0.summary } ?? Self.snippet(response)
        if let after = response.retryAfter { message += " (retry after \(after.components.seconds) s)" }
        return ACMEError(.unavailable, message + "; it may be in maintenance: try again later", problem: problem)
    }

    /// ": " and at most 200 characters of an error body that is not a problem document, escaped.
    private static func snippet(_ response: HTTPResponse) -> String {
        let text = String(decoding: response.body.prefix(800), as: UTF8.self).replacing("\n", with: " ").replacing("\r", with: " ")
        return text.isEmpty ? "" : ": " + text.excerpt(200)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, url: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw ACMEError(.malformedResponse, "unexpected \(T.self) JSON from \(url) (HTTP \(response.status)); the server is not speaking RFC 8555")
        }
    }

    private func location(_ response: HTTPResponse, url: String) throws -> String {
        guard let location = response.header("Location"), !location.isEmpty else {
            throw ACMEError(.malformedResponse, "\(url) answered HTTP \(response.status) without a Location header")
        }
        return location
    }

    // MARK: Accounts (RFC 8555 §7.3)

    /// Creates an account, or returns the existing one for this key (the server answers 200 with its URL).
    /// With `onlyReturnExisting`, only looks the key up (§7.3.1) and fails with `accountDoesNotExist` if unknown.
    public func newAccount(key: PrivateKey, contact: [String], termsOfServiceAgreed: Bool,
                           externalAccountBinding: ExternalAccountBinding? = nil,
                           onlyReturnExisting: Bool = false) async throws -> Account {
        let dir = try await directory()
        var members: [(String, JSONValue)] = []
        if onlyReturnExisting {
            members.append(("onlyReturnExisting", .bool(true)))
        } else {
            if !contact.isEmpty { members.append(("contact", .array(contact.map { .string($0) }))) }
            if termsOfServiceAgreed { members.append(("termsOfServiceAgreed", .bool(true))) }
            if let eab = externalAccountBinding {
                let jws = try JWS.externalAccountBinding(accountKey: key.publicJWK, keyID: eab.keyID,
                                                         macKey: eab.macKey, url: dir.newAccount)
                members.append(("externalAccountBinding", .raw(jws)))
            }
        }
        let response = try await post(dir.newAccount, payload: JSONValue.object(members).serialized, key: key, kid: nil)
        let url = try location(response, url: dir.newAccount)
        // RFC 8555 §7.3.1: for onlyReturnExisting the body may be empty; the URL is what counts.
        let body = (try? JSONDecoder().decode(Account.Body.self, from: Data(response.body)))
            ?? Account.Body(status: nil, contact: nil, orders: nil, termsOfServiceAgreed: nil)
        return Account(url: url, body: body)
    }

    /// Fetches the account object.
    public func account(_ credentials: AccountCredentials) async throws -> Account {
        // POST-as-GET (RFC 8555 §6.3); Pebble refuses the older empty-update form "{}".
        let response = try await post(credentials.url, payload: nil, key: credentials.key, kid: credentials.url)
        return Account(url: credentials.url, body: try decode(Account.Body.self, response, url: credentials.url))
    }

    /// Replaces the account's contact list (RFC 8555 §7.3.2).
    public func updateAccount(_ credentials: AccountCredentials, contact: [String]) async throws -> Account {
        let payload = JSONValue.object([("contact", .array(contact.map { .string($0) }))]).serialized
        let response = try await post(credentials.url, payload: payload, key: credentials.key, kid: credentials.url)
        return Account(url: credentials.url, body: try decode(Account.Body.self, response, url: credentials.url))
    }

    /// Replaces the account key (RFC 8555 §7.3.5): the outer JWS is signed by the
    /// current key, the inner one by `newKey`. Afterwards only `newKey` is accepted.
    public func changeKey(_ credentials: AccountCredentials, to newKey: PrivateKey) async throws {
        guard let url = try await directory().keyChange else {
            throw ACMEError(.usage, "\(directoryURL) offers no keyChange resource; this CA cannot roll account keys")
        }
        let inner = try JWS.keyChange(newKey: newKey, oldKey: credentials.key.publicJWK, accountURL: credentials.url, url: url)
        _ = try await post(url, payload: inner, key: credentials.key, kid: credentials.url)
    }

    // MARK: Renewal information (RFC 9773)

    /// The CA's suggested renewal window for a certificate (`certificateID` from
    /// `Certificate.renewalInfoID`); nil when the directory offers no ARI.
    public func renewalInfo(certificateID: String) async throws -> RenewalInfo? {
        guard let base = try await directory().renewalInfo else { return nil }
        let url = (base.hasSuffix("/") ? base : base + "/") + certificateID
        let (response, attempts) = try await sendWithRateLimit(HTTPRequest(method: .get, url: url))
        guard response.status == 200 else {
            throw failure(response, url: url, doing: "asking for renewal information", attempts: attempts)
        }
        struct Body: Decodable {
            struct Window: Decodable { var start: String; var end: String }
            var suggestedWindow: Window
            var explanationURL: String?
        }
        let body = try decode(Body.self, response, url: url)
        // Only unreadable dates are refused here; whether the window makes sense for the
        // certificate is the caller's to judge (`RenewalInfo.problem`).
        guard let start = RenewalInfo.parseDate(body.suggestedWindow.start), let end = RenewalInfo.parseDate(body.suggestedWindow.end) else {
            throw ACMEError(.malformedResponse, "\(url) sent an unreadable suggestedWindow")
        }
        return RenewalInfo(start: start, end: end, explanationURL: body.explanationURL, retryAfter: response.retryAfter)
    }

    /// Deactivates the account (RFC 8555 §7.3.6); the CA will refuse its requests afterwards.
    public func deactivateAccount(_ credentials: AccountCredentials) async throws -> Account {
        let payload = JSONValue.object([("status", .string("deactivated"))]).serialized
        let response = try await post(credentials.url, payload: payload, key: credentials.key, kid: credentials.url)
        return Account(url: credentials.url, body: try decode(Account.Body.self, response, url: credentials.url))
    }

    // MARK: Orders (RFC 8555 §7.4)

    /// Creates an order for DNS identifiers, optionally asking for an ACME profile and
    /// naming the certificate it replaces (RFC 9773 §5: the old certificate's ARI id).
    public func newOrder(_ credentials: AccountCredentials, names: [String], profile: String? = nil,
                         replaces: String? = nil) async throws -> Order {
        let url = try await directory().newOrder
        var members: [(String, JSONValue)] = [
            ("identifiers", .array(names.map { .object([("type", .string("dns")), ("value", .string($0))]) })),
        ]
        if let profile { members.append(("profile", .string(profile))) }
        if let replaces { members.append(("replaces", .string(replaces))) }
        let response = try await post(url, payload: JSONValue.object(members).serialized, key: credentials.key, kid: credentials.url)
        var order = try decode(Order.self, response, url: url)
        order.url = try location(response, url: url)
        return order
    }

    /// Fetches an order (POST-as-GET) and the `Retry-After` the server sent with it.
    public func order(_ credentials: AccountCredentials, url: String) async throws -> (Order, Duration?) {
        let response = try await post(url, payload: nil, key: credentials.key, kid: credentials.url)
        var order = try decode(Order.self, response, url: url)
        order.url = url
        return (order, response.retryAfter)
    }

    /// Fetches an authorization (POST-as-GET) and the `Retry-After` the server sent with it.
    public func authorization(_ credentials: AccountCredentials, url: String) async throws -> (Authorization, Duration?) {
        let response = try await post(url, payload: nil, key: credentials.key, kid: credentials.url)
        var authz = try decode(Authorization.self, response, url: url)
        authz.url = url
        return (authz, response.retryAfter)
    }

    /// Tells the server the challenge is ready to be validated (RFC 8555 §7.5.1: payload `{}`).
    public func respond(_ credentials: AccountCredentials, to challenge: Challenge) async throws -> Challenge {
        let response = try await post(challenge.url, payload: "{}", key: credentials.key, kid: credentials.url)
        return try decode(Challenge.self, response, url: challenge.url)
    }

    /// Sends the CSR (DER) to the order's finalize URL (RFC 8555 §7.4).
    public func finalize(_ credentials: AccountCredentials, order: Order, csr: [UInt8]) async throws -> (Order, Duration?) {
        let payload = JSONValue.object([("csr", .string(Base64URL.encode(csr)))]).serialized
        let response = try await post(order.finalize, payload: payload, key: credentials.key, kid: credentials.url)
        var updated = try decode(Order.self, response, url: order.finalize)
        updated.url = order.url
        return (updated, response.retryAfter)
    }

    /// Downloads a certificate chain (RFC 8555 §7.4.2) with the URLs of its alternate chains.
    public func downloadCertificate(_ credentials: AccountCredentials, url: String) async throws -> CertificateDownload {
        let response = try await post(url, payload: nil, key: credentials.key, kid: credentials.url,
                                      accept: "application/pem-certificate-chain")
        let pem = response.bodyText
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw ACMEError(.malformedResponse, "\(url) did not return a PEM certificate chain")
        }
        let alternates = response.links.filter { $0.rel == "alternate" }.map(\.url)
        return CertificateDownload(pem: pem, alternates: alternates)
    }

    /// Revokes a certificate (RFC 8555 §7.6), signed by the account or, with `kid == nil`, by the certificate's key.
    public func revoke(certificateDER: [UInt8], reason: Int?, key: PrivateKey, kid: String?) async throws {
        guard let url = try await directory().revokeCert else {
            throw ACMEError(.usage, "\(directoryURL) offers no revokeCert resource")
        }
        var members: [(String, JSONValue)] = [("certificate", .string(Base64URL.encode(certificateDER)))]
        if let reason { members.append(("reason", .raw(String(reason)))) }
        _ = try await post(url, payload: JSONValue.object(members).serialized, key: key, kid: kid)
    }
}
