import FoundationEssentials
import Issuance

/// Why a certificate is (or is not yet) due.
public enum DueBasis: Sendable, Equatable {
    case forced
    /// `--renew-within DAYS`.
    case commandLine(days: Int)
    /// The CA's ARI window (RFC 9773), at a moment chosen at random inside it.
    case renewalInfo
    /// `renew_before_expiry` from the renewal conf.
    case configured(String)
    /// A third of the lifetime left (half for lifetimes under 10 days).
    case lifetime
    /// The conf's `acme_domains` lists other names than the certificate holds.
    case namesChanged
    /// The conf asks for another profile than the certificate was issued under.
    case profileChanged(from: String, to: String)
    /// The other lineage of its ECDSA + RSA pair is due (`KeyPairing`).
    case pairedWith(String)

    public var description: String {
        switch self {
        case .forced: "forced"
        case .commandLine(let days): "--renew-within \(days) days"
        case .renewalInfo: "the CA's renewal window"
        case .configured(let text): "renew_before_expiry = \(text)"
        case .lifetime: "a third of the lifetime left"
        case .namesChanged: "the requested names changed"
        case .profileChanged(let from, let to): "profile changed from \(from) to \(to)"
        case .pairedWith(let name): "together with its pair \(name)"
        }
    }
}

/// The order of rules `acme renew` applies: forced, then `--renew-within`, then ARI,
/// then the renewal conf's `renew_before_expiry`, then the lifetime rule certbot 4 and
/// lego use, which keeps 6-day and 45-day certificates renewing on time.
public struct DuePolicy: Sendable {
    public var force = false
    public var renewWithinDays: Int?

    public init(force: Bool = false, renewWithinDays: Int? = nil) {
        self.force = force
        self.renewWithinDays = renewWithinDays
    }

    /// The moment the certificate becomes due and the rule that decided it.
    public func dueDate(notBefore: Date, notAfter: Date, ariChoice: Date?, renewBeforeExpiry: String?,
                        now: Date) -> (date: Date, basis: DueBasis) {
        if force { return (now, .forced) }
        if let days = renewWithinDays { return (notAfter.addingTimeInterval(-Double(days) * 86_400), .commandLine(days: days)) }
        if let ariChoice { return (ariChoice, .renewalInfo) }
        if let text = renewBeforeExpiry, let seconds = Self.parseInterval(text) {
            let window = RenewalWindow(renewBefore: .seconds(seconds))
            return (window.dueDate(notBefore: notBefore, notAfter: notAfter), .configured(text))
        }
        return (RenewalWindow().dueDate(notBefore: notBefore, notAfter: notAfter), .lifetime)
    }

    /// A change in the renewal conf that makes the certificate due now: `acme_domains` that
    /// differ from the certificate's names, or a profile other than `acme_issued_profile`
    /// (both written by acme at issuance; certbot's confs have neither and force nothing).
    public static func changeForcingRenewal(names listed: String?, issuedProfile: String?, requiredProfile: String?,
                                            preferredProfile: String?, certificateNames: [String]) -> DueBasis? {
        if let listed {
            let wanted = Set(RenewalParams.listItems(listed).map { $0.lowercased() })
            if !wanted.isEmpty, wanted != Set(certificateNames) { return .namesChanged }
        }
        if let issuedProfile {
            let asked = requiredProfile ?? preferredProfile ?? "default"
            if asked != issuedProfile { return .profileChanged(from: issuedProfile, to: asked) }
        }
        return nil
    }

    /// certbot's `renew_before_expiry` text: "30 days", "2 weeks", "12 hours", "1 day, 6 hours"
    /// or a bare number of days. nil for text it cannot read (the lifetime rule applies then).
    public static func parseInterval(_ text: String) -> Double? {
        let words = text.lowercased().replacing(",", with: " ").split(separator: " ")
        guard !words.isEmpty else { return nil }
        if words.count == 1, let days = Double(words[0]) { return days * 86_400 }
        guard words.count % 2 == 0 else { return nil }
        var total = 0.0
        for index in stride(from: 0, to: words.count, by: 2) {
            guard let amount = Double(words[index]) else { return nil }
            var unit = String(words[index + 1])
            if unit.hasSuffix("s") { unit.removeLast() }
            let scale: Double
            switch unit {
            case "second", "sec": scale = 1
            case "minute", "min": scale = 60
            case "hour": scale = 3600
            case "day": scale = 86_400
            case "week": scale = 604_800
            case "month": scale = 30 * 86_400
            default: return nil
            }
            total += amount * scale
        }
        return total
    }
}
