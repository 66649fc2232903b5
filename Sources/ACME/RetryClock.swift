/// The time the client's retries read and wait on (`Retry-After`, a CA in maintenance):
/// the continuous clock in production, a fake one in tests so that none waits for real.
public struct RetryClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant,
                sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    public static var continuous: RetryClock {
        RetryClock(now: { ContinuousClock.now }, sleep: { try await Task.sleep(for: $0) })
    }
}
