import FoundationEssentials

/// Every fraction of a certificate's lifetime that a decision uses, in one place: when a
/// certificate is due without ARI, how long the daemon leaves a renewed lineage alone, when
/// it raises the expiring alert, and when the fleet (store down) and DANE (record not yet
/// visible) stop waiting.
public struct LifetimePolicy: Sendable, Equatable {
    /// Due when this fraction of the lifetime is left (certbot 4 and lego: a third)…
    public var renewFraction = 1.0 / 3.0
    /// …or this one for lifetimes under `shortLifetime` (half: a 6-day certificate renews after 3).
    public var shortRenewFraction = 0.5
    public var shortLifetime: TimeInterval = 10 * 86_400
    /// After a renewal the daemon does not renew the lineage again for this fraction of the new lifetime.
    public var calmFraction = 0.25
    /// Less than this fraction left: the daemon's `expiring` alert (15 days of 90).
    public var expiringFraction = 1.0 / 6.0
    /// Less than this fraction left: renew without waiting for anything else (the fleet's store
    /// lock, DANE's next record): 9 days of 90.
    public var emergencyFraction = 0.1

    public init() {}

    /// The policy every command uses.
    public static let standard = LifetimePolicy()

    /// The moment a certificate becomes due by the lifetime rule.
    public func renewalDate(notBefore: Date, notAfter: Date) -> Date {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let fraction = lifetime < shortLifetime ? shortRenewFraction : renewFraction
        return notAfter.addingTimeInterval(-lifetime * fraction)
    }

    /// Until when a lineage renewed at `renewedAt` is left alone.
    public func calmUntil(renewedAt: Date, lifetime: TimeInterval) -> Date {
        renewedAt.addingTimeInterval(lifetime * calmFraction)
    }

    /// Whether the certificate is close enough to its expiry for the expiring alert.
    public func isExpiring(notBefore: Date, notAfter: Date, now: Date) -> Bool {
        notAfter.timeIntervalSince(now) < notAfter.timeIntervalSince(notBefore) * expiringFraction
    }

    /// The moment from which the certificate is in its last `emergencyFraction`.
    public func emergencyDate(notBefore: Date, notAfter: Date) -> Date {
        notAfter.addingTimeInterval(-notAfter.timeIntervalSince(notBefore) * emergencyFraction)
    }

    /// Whether the certificate is in its last `emergencyFraction` (reached at the boundary).
    public func isEmergency(notBefore: Date, notAfter: Date, now: Date) -> Bool {
        now >= emergencyDate(notBefore: notBefore, notAfter: notAfter)
    }
}
