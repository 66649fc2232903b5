import ACME
import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// What `acme renew` was asked to do, already validated by the CLI.
public struct RenewOptions: Sendable {
    public var certName: String?
    public var policy = DuePolicy()
    /// Renew everything selected against the staging server (for Let's Encrypt lineages)
    /// or the lineage's own server, and write nothing under live/ or archive/.
    public var dryRun = false
    public var reuseKey = false
    /// Hooks given on the command line; they replace the lineage's saved ones and are saved.
    public var hooks = SavedHooks()
    public var useDirectoryHooks = true
    public var caBundle: String?
    /// Longest random pause before the first renewal contacts the CA (zero: none).
    public var randomDelay: Duration = .zero
    public var toolVersion: String

    public init(toolVersion: String) { self.toolVersion = toolVersion }
}

/// One line of `acme renew`'s report.
public struct LineageReport: Sendable {
    public enum Outcome: Sendable {
        case notDue(until: Date, basis: DueBasis)
        case renewed(notAfter: Date, version: Int, basis: DueBasis)
        case dryRun(notAfter: Date)
        /// Due, but the DANE rollover holds it until `until` (not a failure; Docs/DANE.md).
        case held(until: Date, reason: String)
        /// The failure with its error's code and category.
        case failed(RenewalFailure)
    }
    public var name: String
    public var outcome: Outcome
    /// Not due: when the CA's renewal information should be asked again (its Retry-After, or
    /// an hour when the CA could not be reached); nil without ARI.
    public var recheck: Date?
    /// The certificate the decision was about (nil when the lineage could not be read).
    public var certificate: CertificateSummary?
    /// When the lineage's DANE rollover next has something to do by itself (remove an old
    /// record, see the next one become visible); nil without DANE or nothing pending.
    public var daneStep: Date?
    /// A hold's cause (the fleet's store cannot be reached: network); a failure's is its own.
    private var holdCategory: ErrorCategory?

    public init(name: String, outcome: Outcome, recheck: Date? = nil, category: ErrorCategory? = nil,
                certificate: CertificateSummary? = nil) {
        self.name = name
        self.outcome = outcome
        self.recheck = recheck
        self.certificate = certificate
        // A failure carries its own category; a given one replaces it.
        if let category { self.category = category }
    }

    /// A failure's kind (whether the CA was reached: its limits count), or a hold's cause.
    public var category: ErrorCategory? {
        get { if case .failed(let failure) = outcome { failure.category } else { holdCategory } }
        set {
            if case .failed(var failure) = outcome {
                failure.category = newValue
                outcome = .failed(failure)
            } else {
                holdCategory = newValue
            }
        }
    }

    /// A failure's error code (`issuance.clockDisagreement`, …), when it had one.
    public var codeName: String? { if case .failed(let failure) = outcome { failure.codeName } else { nil } }

    public var isFailure: Bool { if case .failed = outcome { true } else { false } }

    /// The report line `acme renew` prints (failures on stderr).
    /// One report line; every field escaped before layout (a reason quotes the CA or a hook).
    public var line: String {
        let name = name.escapedForDisplay
        return switch outcome {
        case .notDue(let until, let basis): "\(name): not due until \(until.utcText) (\(basis.description.escapedForDisplay))"
        case .renewed(let notAfter, let version, let basis):
            "\(name): renewed (\(basis.description.escapedForDisplay)); version \(version), expires \(notAfter.utcText)"
        case .dryRun(let notAfter): "\(name): dry run succeeded (the test certificate expires \(notAfter.utcText); nothing saved)"
        case .held(_, let reason): "\(name): due, \(reason.escapedForDisplay)"
        case .failed(let failure): "\(name): failed: \(failure.message.escapedForDisplay)"
        }
    }
}

public struct RenewalSummary: Sendable {
    public var reports: [LineageReport] = []
    /// Run-wide remarks: repairs, unreachable servers, failed hooks; a warning (DANE renewing with
    /// the current key near expiry) has the severity `.warning`, the sinks render it.
    public var notes: [Event] = []
    public var hookFailed = false
    public var anyFailed: Bool { reports.contains(where: \.isFailure) }

    public init() {}
}

/// `acme renew`: walks `renewal/*.conf`, decides what is due (ARI, then the windows),
/// renews it through the same `Issuer` as `acme issue`, runs the hooks. A failure in
/// one lineage never stops the others. It holds the config directory lock while it runs.
public struct Renewer: Sendable {
    public var configDirectory: String
    public var makeClient: ACMEClientFactory
    public var progress: EventSink
    public var now: @Sendable () -> Date = { Date() }
    /// Called once if another acme or certbot run holds the lock.
    public var waiting: @Sendable () -> Void = {}
    /// Asked for every lineage a run looks at (nil: no DANE); a dry run never asks it.
    public var keyRollover: (any KeyRolloverGate)?
    /// Set by the fleet (`FleetRenewal`) for its runs; empty otherwise.
    public var fleet = FleetInputs()

    public init(configDirectory: String, makeClient: @escaping ACMEClientFactory, progress: @escaping EventSink) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.makeClient = makeClient
        self.progress = progress
    }

    /// Renews what is due. Throws only when it cannot look at all: a config directory that
    /// does not exist (never created here), an unreadable renewal/, the lock.
    /// Gather (read, repair, ask ARI) → plan (`RenewalPlanner`, pure) → gate (`keyRollover`) →
    /// execute (`RenewalExecutor`: hooks and renewals), all under the config directory's lock.
    /// `filter`: how the daemon (or the fleet) narrows the run.
    public func run(_ options: RenewOptions, filter: PlanFilter = PlanFilter()) async throws -> RenewalSummary {
        // Lock, then read and decide under the lock, then act (LineageLocker.swift).
        var lock = try await ConfigDirectoryLocker(configDirectory: configDirectory, waiting: waiting).locked()
        defer { lock.unlock() }
        var run = RenewRun(renewer: self, options: options, filter: filter)
        let current = now()
        let gathered = try await run.gather(now: current)
        var plan = RenewalPlanner(policy: options.dryRun ? DuePolicy(force: true) : options.policy, filter: filter)
            .plan(gathered, now: current)
        await run.gate(&plan, now: current)
        // An ECDSA + RSA pair is renewed together, ECDSA first (RenewalPlanner+Pairing.swift). A partner
        // pulled in by its pair asks its own gate: it changes keys only with a published record,
        // else it is held (and renewed on its own later).
        let pulled = RenewalPlanner.pairUp(&plan)
        await run.gate(&plan, only: Set(pulled), now: current)
        run.notes += plan.notes + run.offlineNotes()
        var summary = RenewalSummary()
        summary.reports = plan.entries.compactMap { $0.renews ? nil : Self.report($0) }
        if !plan.renewals.isEmpty {
            let executed = await RenewalExecutor(renewer: self, options: options, filter: filter).run(plan.renewals, run: &run)
            summary.reports += executed.reports
            summary.hookFailed = executed.hookFailed
        }
        run.save()
        summary.notes = run.notes
        summary.reports.sort { $0.name < $1.name }
        return summary
    }

    /// The report line of a lineage the plan does not renew.
    static func report(_ entry: RenewalPlan.Entry) -> LineageReport {
        let certificate = entry.subject?.certificate
        switch entry.decision {
        case .notDue(let until, let basis, let recheck):
            var report = LineageReport(name: entry.name, outcome: .notDue(until: until, basis: basis), recheck: recheck, certificate: certificate)
            report.daneStep = entry.rolloverStep
            return report
        case .hold(let until, let reason):
            var report = LineageReport(name: entry.name, outcome: .held(until: until, reason: reason), certificate: certificate)
            report.daneStep = entry.rolloverStep
            return report
        case .failed(let failure):
            return LineageReport(name: entry.name, outcome: .failed(failure), certificate: certificate)
        case .renew:
            return LineageReport(name: entry.name, outcome: .failed(RenewalFailure(message: "not renewed")), certificate: certificate)
        }
    }
}

/// What a fleet gives its renew runs: the store-backed challenge solver for every renewal (see
/// `IssueRequest.solverOverride`) and the renewal information the fleet shares (the store's
/// `acme_ari`), read before asking the CA and written after (nil: this node's state file only).
public struct FleetInputs: Sendable {
    public var solverOverride: SolverOverride?
    public var ariCache: RenewalInfoCache?

    public init(solverOverride: SolverOverride? = nil, ariCache: RenewalInfoCache? = nil) {
        (self.solverOverride, self.ariCache) = (solverOverride, ariCache)
    }
}

/// One ACME client per server and CA bundle for the whole run: each directory is fetched once.
struct ClientCache {
    var makeClient: ACMEClientFactory
    var clients: [CAServer: ACMEClient] = [:]

    mutating func client(_ server: String, _ caBundle: String?) throws -> ACMEClient {
        let key = CAServer(directoryURL: server, caBundle: caBundle)
        if let client = clients[key] { return client }
        let client = try makeClient(key)
        clients[key] = client
        return client
    }
}
