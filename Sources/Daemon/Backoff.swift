import FoundationEssentials

/// One lineage's failed renewals: how many in a row, when to try again, and the failures
/// that reached the CA within the last hour (those count against its limits; an unreachable
/// CA does not).
public struct RetryState: Codable, Sendable, Equatable {
    public var failures = 0
    public var retryAt: Date?
    public var caFailures: [Date] = []
    public var lastError: String?
    /// The expiry of the certificate whose renewal failed. A live certificate with another expiry
    /// was renewed elsewhere (another node, `acme renew`, certbot): the failure's cause is gone.
    public var notAfter: Date?

    public init() {}
}

/// Exponential backoff with jitter: a minute, doubling, at most six hours; and at most
/// `caFailuresPerHour` failed orders per lineage per rolling hour, well under Let's Encrypt's
/// 5 failed validations per name per hour.
public struct BackoffPolicy: Sendable {
    public var base: Double = 60
    public var maximum: Double = 6 * 3600
    /// ± this fraction of the delay, so that many lineages (or hosts) do not retry in step.
    public var jitter: Double = 0.2
    public var caFailuresPerHour = 3

    public init() {}

    /// The state after one more failure at `now`.
    public func failed(_ previous: RetryState, reachedCA: Bool, error: String, now: Date,
                       random: Double = Double.random(in: 0...1)) -> RetryState {
        var state = previous
        state.failures += 1
        state.lastError = error
        state.caFailures = state.caFailures.filter { now.timeIntervalSince($0) < 3600 }
        if reachedCA { state.caFailures.append(now) }
        let doublings = Double(1 << min(state.failures - 1, 30))
        let delay = min(base * doublings, maximum) * (1 + jitter * (2 * random - 1))
        var retry = now.addingTimeInterval(delay)
        // The hour's budget of failed orders is spent: wait until the oldest leaves the hour.
        if state.caFailures.count >= caFailuresPerHour, let oldest = state.caFailures.first {
            retry = max(retry, oldest.addingTimeInterval(3600))
        }
        state.retryAt = retry
        return state
    }
}
