/// When a certificate is due for renewal without ARI: when a third of its lifetime
/// is left, or half when the lifetime is under 10 days (what certbot 4 and lego do),
/// unless an explicit window is given.
public struct RenewalWindow: Sendable {
    public var renewBefore: Duration?

    public init(renewBefore: Duration? = nil) { self.renewBefore = renewBefore }

    /// The instant from which the certificate is due.
    public func dueDate(notBefore: Date, notAfter: Date) -> Date {
        if let renewBefore {
            return notAfter.addingTimeInterval(-Double(renewBefore.components.seconds))
        }
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let fraction = lifetime < 10 * 86_400 ? 0.5 : 1.0 / 3.0
        return notAfter.addingTimeInterval(-lifetime * fraction)
    }
}
