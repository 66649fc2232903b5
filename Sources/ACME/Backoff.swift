/// How long to wait between polls: the server's `Retry-After` when it sends one
/// (up to `retryAfterLimit`), else an exponential backoff from `initial` to `maximum`.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var retryAfterLimit: Duration
    private var next: Duration

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(10),
                retryAfterLimit: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.retryAfterLimit = retryAfterLimit
        self.next = initial
    }

    /// The delay before the next poll.
    public mutating func delay(retryAfter: Duration?) -> Duration {
        if let retryAfter, retryAfter > .zero {
            return min(retryAfter, retryAfterLimit)
        }
        let d = next
        next = min(next * 2, maximum)
        return d
    }
}
