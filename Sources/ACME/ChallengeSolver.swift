/// One challenge the order flow presented: the name it proves and the CA's token.
public struct PresentedChallenge: Sendable, Hashable {
    public var identifier: String
    public var token: String
    public init(identifier: String, token: String) {
        self.identifier = identifier
        self.token = token
    }
}

/// Something that makes a challenge answerable: an HTTP-01 responder, a webroot,
/// a DNS hook. The order flow presents every challenge before telling the
/// CA to validate any of them, and cleans up every one afterwards, also on failure.
public protocol ChallengeSolver: Sendable {
    /// The RFC 8555 challenge type this solver answers, e.g. `http-01`.
    var challengeType: String { get }
    /// Whether `present` and `cleanup` may run for several names at the same time
    /// (a DNS hook the user declared safe for that); false: one after the other.
    var presentsConcurrently: Bool { get }
    /// Makes `keyAuthorization` available for `token` (RFC 8555 §8.1).
    func present(identifier: String, token: String, keyAuthorization: String) async throws
    /// Withdraws what `present` did. Must not throw: cleanup runs on every path.
    func cleanup(identifier: String, token: String) async
    /// Returns true once the CA has fetched every one of `challenges`, false after
    /// `limit` or when the solver cannot observe the CA (webroot, DNS). Our own
    /// responders use it so that polling starts when validation can have happened:
    /// neither earlier (wasted requests) nor later (wasted time).
    func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool
    /// Called once before the first `present`, with how many challenges will follow.
    func willPresent(count: Int) async
    /// Called after every challenge is presented and before the CA is told to validate:
    /// a DNS solver waits here until its records are published.
    func awaitPublished() async throws
}

extension ChallengeSolver {
    public var presentsConcurrently: Bool { false }
    public func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool { false }
    public func willPresent(count: Int) async {}
    public func awaitPublished() async throws {}
}

/// Waits until `served` holds for every item, polling every 2 ms, for at most `limit`:
/// how a responder that sees the CA's requests implements `waitForFetch`.
public func waitUntilServed<Item>(_ items: [Item], limit: Duration, served: (Item) -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while !items.allSatisfy(served) {
        guard ContinuousClock.now < deadline else { return false }
        do {
            try await Task.sleep(for: .milliseconds(2))
        } catch {
            return false  // cancelled: the flow is being torn down, nothing waits for the answer
        }
    }
    return true
}
