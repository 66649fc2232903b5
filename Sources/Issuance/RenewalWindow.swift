import FoundationEssentials

/// When a certificate is due for renewal without ARI: when a third of its lifetime
/// is left, or half when the lifetime is under 10 days (what certbot 4 and lego do),
/// unless an explicit window is given (`LifetimePolicy` holds the fractions).
public struct RenewalWindow: Sendable {
    public var renewBefore: Duration?

    public init(renewBefore: Duration? = nil) { self.renewBefore = renewBefore }

    /// The instant from which the certificate is due.
    public func dueDate(notBefore: Date, notAfter: Date) -> Date {
        if let renewBefore {
            return notAfter.addingTimeInterval(-Double(renewBefore.components.seconds))
        }
        return LifetimePolicy.standard.renewalDate(notBefore: notBefore, notAfter: notAfter)
    }
}
