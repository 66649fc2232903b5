import ACMECrypto
import CertStore
import FoundationEssentials

/// One lineage as a key-rollover gate (DANE's, Docs/DANE.md) sees it in a renew run.
public struct RolloverSubject: Sendable {
    public var lineage: Lineage
    public var config: RenewalConfig
    public var certificate: CertificateSummary

    public init(lineage: Lineage, config: RenewalConfig, certificate: CertificateSummary) {
        self.lineage = lineage
        self.config = config
        self.certificate = certificate
    }
}

/// The key a gated renewal uses.
public enum RolloverKey: Sendable {
    /// The prepared next key, whose record has been visible long enough.
    case pinned(PrivateKey)
    /// The certificate would expire before the next key may be used: keep the current key.
    /// `warning` is the message of the run's `.warning` note (no severity prefix in the text).
    case reuseCurrent(warning: String)
}

/// What the gate says about one lineage.
public enum RolloverVerdict: Sendable {
    /// No rollover for this lineage.
    case off
    /// Go ahead (renew if due, with this key; nil: the usual choice); `nextStep`: when the rollover next has work of its own.
    case proceed(RolloverKey?, nextStep: Date?)
    /// Due, but held until `until`.
    case hold(until: Date, reason: String, nextStep: Date?)
    /// The rollover failed (DNS update, hook, state): the lineage is not renewed in this run.
    case failed(any Error)
}

/// Asked by the renewal for every lineage it looks at: runs the rollover steps due now and says
/// whether a wanted renewal may go ahead, and with which key.
public protocol KeyRolloverGate: Sendable {
    /// `wantRenewal`: the plan renews the lineage in this run; `keepRetiring`: the endpoints do
    /// not serve the newest certificate, so old keys' records stay.
    func step(_ subject: RolloverSubject, wantRenewal: Bool, reuseKey: Bool, keepRetiring: Bool, now: Date) async -> RolloverVerdict
}
