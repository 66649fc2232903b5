/// Something that makes a challenge answerable: an HTTP-01 responder, a webroot,
/// a DNS hook. The order flow presents every challenge before telling the
/// CA to validate any of them, and cleans up every one afterwards, also on failure.
public protocol ChallengeSolver: Sendable {
    /// The RFC 8555 challenge type this solver answers, e.g. `http-01`.
    var challengeType: String { get }
    /// Makes `keyAuthorization` available for `token` (RFC 8555 §8.1).
    func present(identifier: String, token: String, keyAuthorization: String) async throws
    /// Withdraws what `present` did. Must not throw: cleanup runs on every path.
    func cleanup(identifier: String, token: String) async
    /// Returns true once the CA has fetched every one of `tokens`, false after
    /// `limit` or when the solver cannot observe the CA (webroot, DNS). The
    /// standalone responder uses it so that polling starts when validation can
    /// have happened: neither earlier (wasted requests) nor later (wasted time).
    func waitForFetch(tokens: [String], limit: Duration) async -> Bool
    /// Called once before the first `present`, with how many challenges will follow.
    func willPresent(count: Int) async
    /// Called after every challenge is presented and before the CA is told to validate:
    /// a DNS solver waits here until its records are published.
    func awaitPublished() async throws
}

extension ChallengeSolver {
    public func waitForFetch(tokens: [String], limit: Duration) async -> Bool { false }
    public func willPresent(count: Int) async {}
    public func awaitPublished() async throws {}
}
