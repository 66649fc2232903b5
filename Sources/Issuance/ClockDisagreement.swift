import Base

/// A certificate whose dates this host's clock does not accept: not yet valid, or already
/// expired, when it has just been issued. Either the CA's clock or this host's is off; the CA
/// stamps `notBefore` with its own time (give or take an hour of backdating), so the distance
/// from `notBefore` to our clock is how far the two disagree.
public struct ClockDisagreement: Sendable, CustomStringConvertible {
    public var notBefore: Date
    public var notAfter: Date
    public var now: Date

    /// Nil when `now` lies within the certificate's validity.
    public static func check(notBefore: Date, notAfter: Date, now: Date) -> ClockDisagreement? {
        notBefore <= now && now < notAfter ? nil : ClockDisagreement(notBefore: notBefore, notAfter: notAfter, now: now)
    }

    /// How far apart the two clocks are, in seconds.
    public var distance: TimeInterval { abs(notBefore.timeIntervalSince(now)) }

    public var description: String {
        let state = now < notBefore ? "not valid before \(notBefore.utcText)" : "expired at \(notAfter.utcText)"
        return "the new certificate is \(state) by this host's clock (\(now.utcText)): the CA's clock and this host's disagree by about \(Self.spoken(distance))"
    }

    /// "365 days", "5 hours", "12 minutes", "40 seconds".
    static func spoken(_ seconds: TimeInterval) -> String {
        let (value, unit): (Int, String) = seconds >= 2 * 86400 ? (Int(seconds / 86400), "day")
            : seconds >= 2 * 3600 ? (Int(seconds / 3600), "hour") : seconds >= 120 ? (Int(seconds / 60), "minute") : (Int(seconds), "second")
        return "\(value) \(unit)\(value == 1 ? "" : "s")"
    }
}
