/// How long to wait between polls: the server's `Retry-After` when it sends one
/// (up to `retryAfterLimit`), else a delay that starts at `initial`, grows by `step`
/// per poll while less than `linearPhase` has been waited in all, then doubles up to `maximum`.
///
/// A CA usually validates within a second, rarely after several: the slow start finds
/// the usual case within a few tens of milliseconds, the doubling keeps a slow CA from
/// being asked many times.
public struct Backoff: Sendable {
    public var initial: Duration
    public var step: Duration
    public var linearPhase: Duration
    public var maximum: Duration
    public var retryAfterLimit: Duration
    private var next: Duration
    private var waited: Duration = .zero

    /// With the default `step` and `linearPhase` of zero, a plain doubling from `initial`.
    public init(initial: Duration = .milliseconds(50), step: Duration = .zero, linearPhase: Duration = .zero,
                maximum: Duration = .seconds(10), retryAfterLimit: Duration = .seconds(60)) {
        self.initial = initial
        self.step = step
        self.linearPhase = linearPhase
        self.maximum = maximum
        self.retryAfterLimit = retryAfterLimit
        self.next = initial
    }

    /// Waiting for validation when nothing tells us the CA has looked: 20, 40, 60 … ms
    /// for the first two seconds (ten polls in the first 1.1 s), then doubling up to 10 s.
    public static var validation: Backoff {
        Backoff(initial: .milliseconds(20), step: .milliseconds(20), linearPhase: .seconds(2))
    }

    /// Waiting once the CA has fetched every challenge (our own responders see it), or for
    /// issuance after a finalize: the answer is milliseconds away.
    public static var imminent: Backoff {
        Backoff(initial: .milliseconds(5), step: .milliseconds(10), linearPhase: .seconds(1))
    }

    /// The delay before the next poll.
    public mutating func delay(retryAfter: Duration?) -> Duration {
        if let retryAfter, retryAfter > .zero {
            let d = min(retryAfter, retryAfterLimit)
            waited += d
            return d
        }
        let d = next
        waited += d
        next = min(waited < linearPhase ? next + step : next * 2, maximum)
        return d
    }
}
