import Base
import FoundationEssentials
import Glibc

/// Whether the mail daemons serve a given certificate: after an install and reload, each
/// endpoint is asked until it presents the expected leaf (by SHA-256) with a chain that
/// verifies for the host name, or until the deadline (a reload is asynchronous: Postfix's
/// smtpd processes and Dovecot's login processes pick up new files as they restart).
public struct ServedCheck: Sendable {
    /// One endpoint's last answer.
    public struct Result: Sendable, Codable, Equatable {
        public var endpoint: String
        public var ok: Bool
        /// What was wrong (old certificate, verify error, unreachable), or the serial served.
        public var detail: String
        public var sha256: String?

        public init(endpoint: String, ok: Bool, detail: String, sha256: String?) {
            (self.endpoint, self.ok, self.detail, self.sha256) = (endpoint, ok, detail, sha256)
        }
    }

    public var endpoints: [Endpoint]
    /// The name the chain must be valid for (SNI and verification).
    public var serverName: String
    public var caFile: String?
    /// How long the endpoints may take to serve the certificate, in all.
    public var timeout: Duration = .seconds(30)
    /// Pause between two rounds over the endpoints that are not there yet.
    public var interval: Duration = .milliseconds(500)

    public init(endpoints: [Endpoint], serverName: String, caFile: String? = nil) {
        self.endpoints = endpoints
        self.serverName = serverName
        self.caFile = caFile
    }

    /// The standard mail ports in the order they are checked.
    public static let standardEndpoints = EndpointScheme.mail.map(\.name)

    /// The standard mail endpoints (25, 587, 465, 143, 993, 110, 995) that accept a TCP
    /// connection on `host` now: what the daemons on this machine serve.
    public static func listening(on host: String = "127.0.0.1") -> [Endpoint] {
        standardEndpoints.compactMap { scheme in
            guard let endpoint = try? Endpoint(parsing: "\(scheme)://\(host)") else { return nil }
            // A refused or timed-out connection only means nothing listens there.
            return (try? Connection(endpoint, deadline: Deadline(seconds: 1, name: "1 s"))) == nil ? nil : endpoint
        }
    }

    /// Asks every endpoint until all serve `fingerprint` (verified for `serverName`) — and, with
    /// `rsaFallback`, that certificate to a client without ECDSA — or the timeout passes; returns
    /// each endpoint's last answer. Cancelling the task ends it early.
    public func waitUntilServed(fingerprint: String, rsaFallback: String? = nil) async -> [Result] {
        let end = ContinuousClock.now + timeout
        var results: [String: Result] = [:]
        var pending = endpoints
        while true {
            var still: [Endpoint] = []
            for endpoint in pending {
                var result = await check(endpoint, fingerprint: fingerprint)
                if result.ok, let rsaFallback {
                    let fallback = await check(endpoint, fingerprint: rsaFallback, rsaOnly: true)
                    if !fallback.ok { result = Result(endpoint: result.endpoint, ok: false, detail: "to clients without ECDSA: \(fallback.detail)", sha256: result.sha256) }
                }
                results[endpoint.description] = result
                if !result.ok { still.append(endpoint) }
            }
            pending = still
            if pending.isEmpty || ContinuousClock.now + interval > end || Task.isCancelled { break }
            try? await Task.sleep(for: interval)  // cancellation ends the wait with what is known
        }
        return endpoints.compactMap { results[$0.description] }
    }

    /// `check` for async code: the handshake waits on a socket, on a thread of its own.
    func check(_ endpoint: Endpoint, fingerprint: String, rsaOnly: Bool = false) async -> Result {
        await onOwnThread { self.check(endpoint, fingerprint: fingerprint, rsaOnly: rsaOnly) as Result }
    }

    func check(_ endpoint: Endpoint, fingerprint: String, rsaOnly: Bool = false) -> Result {
        var probe = EndpointCheck(serverName: serverName, caFile: caFile)
        probe.rsaOnly = rsaOnly
        probe.timeoutSeconds = 5
        do {
            let report = try probe.run(endpoint)
            if report.sha256 != fingerprint {
                return Result(endpoint: endpoint.description, ok: false,
                              detail: "serves another certificate (serial \(report.serial), expires \(report.notAfter.utcText))", sha256: report.sha256)
            }
            if !report.verified {
                return Result(endpoint: endpoint.description, ok: false,
                              detail: "serves the certificate but it does not verify for \(serverName): \(report.verifyMessage) (code \(report.verifyCode))",
                              sha256: report.sha256)
            }
            return Result(endpoint: endpoint.description, ok: true, detail: "serves serial \(report.serial)", sha256: report.sha256)
        } catch {
            return Result(endpoint: endpoint.description, ok: false, detail: "\(error)", sha256: nil)
        }
    }
}
