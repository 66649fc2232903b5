import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// What the CA's renewal information (RFC 9773) said about one lineage when it was gathered.
public enum RenewalInfoLook: Sendable, Equatable {
    /// Not asked: forced, `--renew-within`, a dry run.
    case notAsked
    /// Asked (or known from the state file or the fleet's cache): the chosen moment (nil: the
    /// server has no ARI or gave no usable window) and when to ask again.
    case answered(choice: Date?, recheck: Date?)
    /// The server could not be reached: the lineage is decided by its dates, asked again in an hour.
    case serverUnreachable
}

/// One lineage as read from the config directory and the CA, before any decision.
public struct GatheredLineage: Sendable {
    public var lineage: Lineage
    public var config: RenewalConfig
    public var certificate: CertificateSummary
    public var server: String
    public var caBundle: String?
    public var renewalInfo: RenewalInfoLook
    /// The certificate held back because this host's clock rejected it (`Issuer`), and its path.
    public var held: (leaf: CertificateSummary, path: String)?
    /// Paired lineages: whether the partner's renewal conf exists (nil: not paired).
    public var partnerConfExists: Bool?

    public init(lineage: Lineage, config: RenewalConfig, certificate: CertificateSummary, server: String,
                caBundle: String? = nil, renewalInfo: RenewalInfoLook = .notAsked) {
        (self.lineage, self.config, self.certificate) = (lineage, config, certificate)
        (self.server, self.caBundle, self.renewalInfo) = (server, caBundle, renewalInfo)
    }

    public var name: String { lineage.name }
    var subject: RolloverSubject { RolloverSubject(lineage: lineage, config: config, certificate: certificate) }
}

/// A lineage that could be read, or the reason it could not.
public enum Gathered: Sendable {
    case lineage(GatheredLineage)
    case unreadable(name: String, RenewalFailure)
}

/// How the daemon narrows a run (nothing by default): which lineages it leaves out, which only
/// get their key-rollover steps, and whether old keys' records stay.
public struct PlanFilter: Sendable, Equatable {
    /// Not looked at in this run (the daemon's lineages backing off after a failure; the fleet's
    /// lineages locked by another node).
    public var leaveOut: Set<String>
    /// Looked at for their key-rollover steps only, never renewed in this run (the daemon's calm
    /// period after a renewal, `LifetimePolicy.calmFraction`).
    public var rolloverOnly: Set<String>
    /// The endpoints do not serve the newest certificate (the daemon's verification failed, the
    /// previous set is back): old keys' TLSA records stay until they do. Passed to the gate.
    public var keepRetiringRecords: Bool

    public init(leaveOut: Set<String> = [], rolloverOnly: Set<String> = [], keepRetiringRecords: Bool = false) {
        (self.leaveOut, self.rolloverOnly, self.keepRetiringRecords) = (leaveOut, rolloverOnly, keepRetiringRecords)
    }
}

/// The planner's verdict on every lineage of a run, in the order renewals are to run.
public struct RenewalPlan: Sendable {
    public enum Decision: Sendable {
        /// Renew in this run (`pairedWith`: pulled in by its pair partner).
        case renew(DueBasis)
        /// Due, but held (the key rollover waits for DNS): not a failure.
        case hold(until: Date, reason: String)
        /// Not due until `until`; ask the CA's renewal information again at `recheck`.
        case notDue(until: Date, basis: DueBasis, recheck: Date?)
        case failed(RenewalFailure)
    }

    public struct Entry: Sendable {
        public var name: String
        /// Nil when the lineage could not be read.
        public var subject: GatheredLineage?
        public var decision: Decision
        /// When the key rollover next has work of its own (set by the gate).
        public var rolloverStep: Date?
        /// The gate's choice of key for a renewal; `gated`: the gate takes part for this lineage.
        public var key: RolloverKey?
        public var gated = false

        public var renews: Bool { if case .renew = decision { true } else { false } }
    }

    public var entries: [Entry] = []
    /// Run-wide remarks (a pair whose partner's conf is gone).
    public var notes: [Event] = []

    public init(entries: [Entry] = []) { self.entries = entries }

    public subscript(name: String) -> Entry? { entries.first { $0.name == name } }
    /// The renewals, in the order they run (ECDSA before RSA within a pair).
    public var renewals: [Entry] { entries.filter(\.renews) }
}

/// Decides, without I/O and at a given `now`, what a renew run does with each gathered lineage:
/// forced, `--renew-within`, ARI, `renew_before_expiry`, the lifetime rule (`DuePolicy`); a
/// changed name list or profile forces; a certificate held by the clock check fails without
/// contacting the CA; the daemon's calm lineages are never due. Pairing runs after the gate
/// (`pairUp`): a lineage the gate holds does not pull its partner in.
public struct RenewalPlanner: Sendable {
    public var policy: DuePolicy
    public var filter: PlanFilter

    public init(policy: DuePolicy, filter: PlanFilter = PlanFilter()) {
        self.policy = policy
        self.filter = filter
    }

    public func plan(_ gathered: [Gathered], now: Date) -> RenewalPlan {
        RenewalPlan(entries: gathered.compactMap { item in
            switch item {
            case .unreadable(let name, let failure):
                return filter.leaveOut.contains(name) ? nil : RenewalPlan.Entry(name: name, subject: nil, decision: .failed(failure))
            case .lineage(let lineage):
                return filter.leaveOut.contains(lineage.name) ? nil
                    : RenewalPlan.Entry(name: lineage.name, subject: lineage, decision: decide(lineage, now: now))
            }
        })
    }

    /// One lineage's decision.
    public func decide(_ gathered: GatheredLineage, now: Date) -> RenewalPlan.Decision {
        let config = gathered.config, certificate = gathered.certificate
        var ariChoice: Date?
        if case .answered(let choice, _) = gathered.renewalInfo { ariChoice = choice }
        var decision = policy.dueDate(notBefore: certificate.notBefore, notAfter: certificate.notAfter, ariChoice: ariChoice,
                                      renewBeforeExpiry: config.topLevelValue("renew_before_expiry"), now: now)
        if !policy.force, let change = DuePolicy.changeForcingRenewal(
            names: config[param: "acme_domains"], issuedProfile: config[param: "acme_issued_profile"],
            requiredProfile: config[param: "required_profile"], preferredProfile: config[param: "preferred_profile"],
            certificateNames: certificate.dnsNames) {
            decision = (now, change)
        }
        if filter.rolloverOnly.contains(gathered.name) { decision.date = max(decision.date, now.addingTimeInterval(1)) }
        if decision.date <= now {
            // Not ordered again: the same clocks would give the same certificate.
            if !policy.force, let failure = Self.heldByClock(gathered, now: now) { return .failed(failure) }
            return .renew(decision.basis)
        }
        let recheck: Date? = switch gathered.renewalInfo {
        case .notAsked: nil
        case .serverUnreachable: now.addingTimeInterval(3600)
        case .answered(_, let recheck): recheck
        }
        return .notDue(until: decision.date, basis: decision.basis, recheck: recheck)
    }

    /// A due lineage whose last renewal was held because this host's clock rejected the new
    /// certificate (`Issuer`), while the current one is still valid: a failure that does not
    /// contact the CA. Nil when nothing is held, the held one is valid now (the renewal
    /// installs it) or the current one is not valid any more (a new order is worth it).
    static func heldByClock(_ gathered: GatheredLineage, now: Date) -> RenewalFailure? {
        let live = gathered.certificate
        guard let held = gathered.held, live.notBefore <= now, now < live.notAfter,
              let clock = ClockDisagreement.check(notBefore: held.leaf.notBefore, notAfter: held.leaf.notAfter, now: now) else { return nil }
        return RenewalFailure(
            message: "\(clock); the certificate held in \(held.path) is not installed and no other is ordered while the current one is valid (until \(live.notAfter.utcText)): set this host's clock right, or renew by force once the CA's clock is right",
            category: .caRefused, codeName: IssuanceError.Code.clockDisagreement.name)
    }
}

/// Why a lineage failed, with the error's code and category (so a report cannot lose them).
public struct RenewalFailure: Sendable, Error, CustomStringConvertible {
    public var message: String
    public var category: ErrorCategory?
    /// The error's code (`issuance.clockDisagreement`, …), when it had one.
    public var codeName: String?

    public init(message: String, category: ErrorCategory? = nil, codeName: String? = nil) {
        (self.message, self.category, self.codeName) = (message, category, codeName)
    }

    /// `error`'s text (after `prefix`), code and category.
    public init(_ error: any Error, prefix: String = "") {
        let coded = error as? any CodedError
        self.init(message: prefix + "\(error)", category: coded?.category, codeName: coded?.codeName)
    }

    public var description: String { message }
}
