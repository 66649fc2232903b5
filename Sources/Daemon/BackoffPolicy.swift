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
        var state = restored(previous, now: now)
        state.failures += 1
        state.lastError = error
        if reachedCA { state.caFailures.append(now) }
        // failures ≥ 1 here: the first retry waits `base`, never less (a negative count read
        // from disk must not switch backoff off).
        let doublings = Double(1 << min(state.failures - 1, 30))
        let delay = min(max(base, 1) * doublings, maximum) * (1 + min(max(jitter, 0), 0.5) * (2 * min(max(random, 0), 1) - 1))
        var retry = now.addingTimeInterval(delay)
        // The hour's budget of failed orders is spent: wait until the oldest leaves the hour.
        if state.caFailures.count >= caFailuresPerHour, let oldest = state.caFailures.first {
            retry = max(retry, oldest.addingTimeInterval(3600))
        }
        state.retryAt = retry
        return state
    }

    /// A retry state as read back from the status file, brought into range: the failure count
    /// within `DaemonStatus.failureRange` (one short of its end, so that one more failure still
    /// counts), the retry no later than the longest delay from `now`, and only the failed orders
    /// of the last hour (one stamped in the future counts as now).
    public func restored(_ state: RetryState, now: Date) -> RetryState {
        var state = state
        state.failures = state.failures.clamped(to: DaemonStatus.failureRange.lowerBound...DaemonStatus.failureRange.upperBound - 1)
        let latest = now.addingTimeInterval(maximum * (1 + min(max(jitter, 0), 0.5)))
        if let at = state.retryAt, !(at <= latest) { state.retryAt = latest }
        state.caFailures = state.caFailures.map { min($0, now) }.filter { now.timeIntervalSince($0) < 3600 }.sorted()
        return state
    }
}
