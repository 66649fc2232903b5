import ACME
import ACMECrypto
import Base
import CertStore
import DANE
import FoundationEssentials
import Glibc
import Issuance
import Provision
import Renewal

/// Everything `acme daemon` was told, resolved by the CLI.
public struct DaemonSettings: Sendable {
    public var configDirectory: String
    public var makeClient: ACMEClientFactory
    /// Hooks, CA bundle, directory hooks, version: what `acme renew` would be given.
    public var renewOptions: RenewOptions
    /// Builds the provision workflow from the environment (the process's, with `--env-file`'s
    /// values over it); nil with `--no-provision` (renew only).
    public var provision: (@Sendable ([String: String]) throws -> ProvisionWorkflow)?
    public var envFile: String?
    /// nil with `--no-verify`.
    public var verifier: InstallVerifier?
    public var alerter: Alerter
    /// Failed renewals of a lineage in a row before the alert.
    public var alertAfter = 3
    public var statusPath: String
    public var log: EventLog
    /// How often the provision sources (lineages, Traefik, Caddy, manual files) are looked at.
    public var interval: Duration = .seconds(60)
    /// The longest sleep: the status file is rewritten at least this often.
    public var heartbeat: Duration = .seconds(900)
    public var backoff = BackoffPolicy()
    /// Log every step of a renewal, not only its outcome.
    public var verbose = false
    /// Fleet mode (`--store`): renewal rounds sync with the store and renew under its locks.
    public var store: StoreHooks?

    public init(configDirectory: String, makeClient: @escaping ACMEClientFactory, renewOptions: RenewOptions,
                alerter: Alerter, statusPath: String, log: EventLog) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.makeClient = makeClient
        self.renewOptions = renewOptions
        self.alerter = alerter
        self.statusPath = statusPath
        self.log = log
    }
}

/// What one fleet round did (Sources/Fleet fills it; the daemon does not know the store).
public struct StoreRound: Sendable {
    public var summary: RenewalSummary
    /// Lineages given a new version (or created) from the store: to install.
    public var installed: [String]
    /// Lineages whose local version went to the store.
    public var published: [String]
    /// Why the store could not be reached; nil when it was.
    public var problem: String?

    public init(summary: RenewalSummary, installed: [String], published: [String], problem: String?) {
        (self.summary, self.installed, self.published, self.problem) = (summary, installed, published, problem)
    }
}

/// Fleet mode's hook into the daemon: a renewal round through the store (sync, locks, publish).
public struct StoreHooks: Sendable {
    /// The store's URL with the password redacted.
    public var description: String
    public var round: @Sendable (Renewer, RenewOptions, PlanFilter) async throws -> StoreRound

    public init(description: String, round: @escaping @Sendable (Renewer, RenewOptions, PlanFilter) async throws -> StoreRound) {
        self.description = description
        self.round = round
    }
}

/// `acme daemon`: the container's certificate supervisor. It provisions at start (issuing when
/// nothing usable exists), then sleeps until the earliest thing to do — a lineage's renewal
/// time (ARI first), an ARI re-check the CA asked for, a retry after a failure, the next look
/// at the provision sources — renews, installs, verifies that the daemons serve the new
/// certificate (rolling back when they do not), alerts once per incident, and writes its
/// status file. One lineage's failure never delays another's; nothing stops the loop but a
/// signal.
public final class Daemon: @unchecked Sendable {
    let settings: DaemonSettings
    var status: DaemonStatus
    var environment: [String: String] = [:]
    var nextProvisionCheck = Date.distantPast
    /// Backoff of the whole pass when the lineages could not be looked at (config directory, lock).
    var passRetry: RetryState?
    /// When each lineage was last renewed here: never again within a quarter of its lifetime
    /// (a CA whose renewal window stays in the past must not make the daemon loop).
    var renewedAt: [String: Date] = [:]
    let now: @Sendable () -> Date
    /// Why the previous status file could not be used (logged at start).
    var startNote: String?
    /// Fleet mode: the next look at the store (every --interval; backoff while it is down).
    var nextStoreLook = Date.distantPast
    var storeRetry: RetryState?
    /// Alerts raised or cleared and not yet sent (`sendAlerts`).
    var unsentAlerts: [(Incident, resolved: Bool)] = []

    public init(settings: DaemonSettings, now: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.now = now
        let started = now()
        var status = DaemonStatus(pid: getpid(), started: started, heartbeatSeconds: Int(settings.heartbeat.components.seconds))
        // Incidents, backoff and a held-back set survive a restart (no second alert for one incident).
        var note: String?
        if FS.exists(settings.statusPath) {
            do {
                let previous = try DaemonStatus.load(settings.statusPath)
                status.incidents = previous.incidents
                // A retry far ahead (or failed orders stamped in the future) must not hold a lineage back for ever.
                status.retries = previous.retries.mapValues { settings.backoff.restored($0, now: started) }
                status.heldBack = previous.heldBack
                status.lastInstall = previous.lastInstall
                status.lastVerification = previous.lastVerification
            } catch {
                note = "starting without the previous status (\(error)): open incidents and backoff are forgotten"
            }
        }
        self.status = status
        startNote = note
    }

    var log: EventLog { settings.log }

    /// Runs until SIGTERM/SIGINT (or `wakeUps` posts `.stop`).
    public func run(wakeUps: WakeUps) async throws {
        try loadEnvironment()
        log.log(.started, "acme daemon pid \(getpid()), config \(settings.configDirectory), status \(settings.statusPath)")
        if let startNote { log.log(.warning, startNote) }
        if let store = settings.store {
            // Every lineage of the store first (a node joining later), then provision installs them.
            log.log(.store, "fleet store \(store.description)")
            _ = await renewRound()
        }
        if settings.provision != nil { await provisionRound() }
        while true {
            let renewed = await renewRound()
            if settings.provision != nil && (renewed || now() >= nextProvisionCheck) { await provisionRound() }
            checkExpiry()
            await sendAlerts()
            let wake = nextWake()
            status.nextWake = wake
            saveStatus()
            switch await wakeUps.next(until: wake) {
            case .timer:
                continue
            case .storeChanged(let name):
                if !name.isEmpty { log.log(.notified, "the store has a new version", lineage: name) }
                nextStoreLook = .distantPast
            case .reload:
                log.log(.reload, "SIGHUP: reading the settings again, forgetting backoff and held-back certificates")
                do { try loadEnvironment() } catch { log.log(.error, "\(error); keeping the previous settings") }
                status.retries = [:]
                status.heldBack = nil
                renewedAt = [:]  // an edited conf (names, profile) may renew again at once
                nextProvisionCheck = .distantPast
            case .stop(let signal):
                log.log(.stopped, signal == 0 ? "the loop ended" : "after signal \(signal)")
                status.nextWake = nil
                saveStatus()
                return
            }
        }
    }

    func loadEnvironment() throws {
        var environment = LocalSystem.environment()
        if let file = settings.envFile {
            for (key, value) in try EnvFile.read(file) { environment[key] = value }
        }
        self.environment = environment
    }

    // MARK: Renewal

    /// One pass over the lineages that are not backing off; true when one was renewed. In fleet
    /// mode a lineage skipped for its backoff may have been given the fleet's new version by that
    /// pass's sync: it is looked at again at once, so its failure and old expiry do not linger.
    func renewRound() async -> Bool {
        _ = replacedWhileBackingOff()
        let renewed = await renewPass()
        guard settings.store != nil, !replacedWhileBackingOff().isEmpty else { return renewed }
        let again = await renewPass()
        return renewed || again
    }

    /// Lineages backing off after a failure whose live certificate is no longer the one that
    /// failed to renew (renewed elsewhere: another node, `acme renew`, certbot): their backoff
    /// ends now, so the next pass looks at them (and clears `renewal-failing` when they are fine).
    func replacedWhileBackingOff() -> [String] {
        let current = now()
        let lineages = LineageStore(configDirectory: settings.configDirectory)
        var replaced: [String] = []
        for (name, retry) in status.retries {
            guard let failedAt = retry.notAfter, let at = retry.retryAt, at > current else { continue }
            // Unreadable or gone: the pass reports it; nothing to compare here.
            guard let path = try? lineages.existingLineage(named: name).certPath,
                  let live = try? CertificateSummary(pem: FS.read(path)), live.notAfter != failedAt else { continue }
            status.retries[name]?.retryAt = nil
            replaced.append(name)
            log.log(.note, "a new certificate (expires \(live.notAfter.utcText)) replaced the one whose renewal failed; looking at it now", lineage: name)
        }
        return replaced.sorted()
    }

    func renewPass() async -> Bool {
        let current = now()
        // Fleet mode with the store down: wait for the backoff (or a notification from the
        // listener, whose connection came back) before looking again.
        if settings.store != nil, storeRetry != nil, current < nextStoreLook { return false }
        let (filter, waiting, calmDANE) = renewFilter(at: current)
        guard let (summary, synced) = await runRenewal(filter, at: current) else { return false }
        passRetry = nil
        for note in summary.notes { log.note(note) }
        var renewedAny = synced
        var seen = Set<String>()
        var lineages: [DaemonStatus.Lineage] = []
        for report in summary.reports {
            seen.insert(report.name)
            let (entry, renewed) = record(report, calm: calmDANE[report.name], at: current)
            renewedAny = renewedAny || renewed
            lineages.append(entry)
        }
        // Lineages skipped this round keep their entry, with the reason they wait.
        for (name, (at, action)) in waiting where !seen.contains(name) {
            guard var entry = status.lineages.first(where: { $0.name == name }) else { continue }
            (entry.nextAction, entry.nextActionAt) = (action, at)
            lineages.append(entry)
        }
        status.lineages = lineages.sorted { $0.name < $1.name }
        // Backoff of lineages that no longer exist is forgotten.
        for name in status.retries.keys where !seen.contains(name) && waiting[name] == nil {
            status.retries[name] = nil
        }
        return renewedAny
    }

    /// The daemon's filter of a pass: lineages backing off after a failure or calm after a
    /// renewal (`LifetimePolicy.calmUntil`) are left out, with when and why they wait; calm ones
    /// with a DANE step pending get the rollover's steps only (returned with their calm end).
    func renewFilter(at current: Date) -> (PlanFilter, waiting: [String: (Date, DaemonStatus.NextAction)], calm: [String: Date]) {
        var waiting: [String: (Date, DaemonStatus.NextAction)] = [:]
        var calmDANE: [String: Date] = [:]
        for (name, retry) in status.retries {
            if let at = retry.retryAt, at > current { waiting[name] = (at, .retry) }
        }
        for lineage in status.lineages {
            guard let renewed = renewedAt[lineage.name], let notBefore = lineage.notBefore, let notAfter = lineage.notAfter else { continue }
            let calm = LifetimePolicy.standard.calmUntil(renewedAt: renewed, lifetime: notAfter.timeIntervalSince(notBefore))
            guard calm > current, waiting[lineage.name] == nil else { continue }
            if lineage.nextAction.isDANE {
                // A DANE rollover step (removing the old key's record) does not wait for the calm
                // period, but the lineage is not renewed again in it.
                calmDANE[lineage.name] = calm
            } else {
                waiting[lineage.name] = (calm, .renew)
            }
        }
        // While the endpoints serve an older certificate (rolled back, not served), its key's TLSA record stays.
        let filter = PlanFilter(leaveOut: Set(waiting.keys), rolloverOnly: Set(calmDANE.keys),
                                keepRetiringRecords: status.incidents.open.values.contains { $0.kind == .rolledBack || $0.kind == .notServed })
        return (filter, waiting, calmDANE)
    }

    /// One renew run (through the store's round in fleet mode); nil when it could not look at all.
    /// The second value: the store's sync installed a new version.
    func runRenewal(_ filter: PlanFilter, at current: Date) async -> (RenewalSummary, Bool)? {
        var options = settings.renewOptions
        options.randomDelay = .zero
        let verbose = settings.verbose
        let log = self.log
        var renewer = Renewer(configDirectory: settings.configDirectory, makeClient: settings.makeClient,
                              progress: log.events(verbose: verbose))
        renewer.now = now
        renewer.keyRollover = DANEGate(progress: renewer.progress)
        let directory = settings.configDirectory
        renewer.waiting = { log.log(.waiting, "another acme or certbot holds the lock of \(directory); waiting") }
        do {
            guard let store = settings.store else { return (try await renewer.run(options, filter: filter), false) }
            let round = try await store.round(renewer, options, filter)
            for name in round.installed { log.log(.synced, "new version from the store \(store.description)", lineage: name) }
            for name in round.published { log.log(.published, "the version renewed here is now in the store", lineage: name) }
            storeLooked(round.problem, store: store, at: current)
            return (round.summary, !round.installed.isEmpty)
        } catch {
            // Could not look at all (config directory, lock): say so and look again soon.
            log.log(.error, "cannot look at the certificates: \(error)")
            passRetry = settings.backoff.failed(passRetry ?? RetryState(), reachedCA: false, error: "\(error)", now: current)
            return nil
        }
    }

    /// A report's effect on the lineage's status entry, backoff and incidents; true when renewed.
    func record(_ report: LineageReport, calm: Date?, at current: Date) -> (DaemonStatus.Lineage, Bool) {
        var renewedAny = false
        var entry = status.lineages.first { $0.name == report.name }
            ?? DaemonStatus.Lineage(name: report.name, names: [], nextAction: .renew, failures: 0)
        if let certificate = report.certificate {
            (entry.names, entry.notBefore, entry.notAfter) = (certificate.dnsNames, certificate.notBefore, certificate.notAfter)
        }
        switch report.outcome {
        case .notDue(let until, _):
            if let recheck = report.recheck, recheck < until {
                (entry.nextAction, entry.nextActionAt) = (.askARI, recheck)
            } else {
                (entry.nextAction, entry.nextActionAt) = (.renew, until)
            }
            if let step = report.daneStep, step < (entry.nextActionAt ?? until) {
                (entry.nextAction, entry.nextActionAt) = (.dane, step)
            }
            recovered(report.name, &entry)
        case .renewed(let notAfter, let version, let basis):
            log.log(.renewed, "version \(version), expires \(notAfter.utcText) (\(basis.description))", lineage: report.name)
            renewedAt[report.name] = current
            renewedAny = true
            entry.notAfter = notAfter
            (entry.nextAction, entry.nextActionAt) = report.daneStep.map { (.dane, $0) } ?? (.renew, nil)
            recovered(report.name, &entry)
        case .held(let until, let reason):
            // Not a failure: the DANE rollover waits for DNS; the daemon wakes when it may go on.
            log.log(.held, reason, lineage: report.name)
            (entry.nextAction, entry.nextActionAt) = (.daneWait, max(until, current.addingTimeInterval(1)))
            // A hold with a cause (the store cannot be reached) says nothing about an earlier
            // failure: its incident and backoff stay until a renewal or a look succeeds.
            if report.category == nil { recovered(report.name, &entry) }
        case .dryRun:
            break
        case .failed(let failure):
            let reason = failure.message
            let reachedCA = report.category == .caRefused || report.category == .validationFailed
            var retry = settings.backoff.failed(status.retries[report.name] ?? RetryState(), reachedCA: reachedCA,
                                                error: reason, now: current)
            retry.notAfter = report.certificate?.notAfter ?? entry.notAfter
            status.retries[report.name] = retry
            (entry.failures, entry.lastError) = (retry.failures, reason)
            (entry.nextAction, entry.nextActionAt) = (.retry, retry.retryAt)
            log.log(.renewalFailed, "\(reason); attempt \(retry.failures), next at \(retry.retryAt?.utcText ?? "-")",
                    lineage: report.name)
            // Clocks that disagree do not mend by retrying: alert at once.
            if retry.failures >= settings.alertAfter || report.codeName == IssuanceError.Code.clockDisagreement.name {
                raise(Incident(kind: .renewalFailing, lineage: report.name, since: current,
                               message: "\(report.name): \(retry.failures) renewals failed in a row; the last: \(reason)"))
            }
        }
        if let calm, !report.isFailure {
            // Only the DANE steps ran: the next is the rollover's, else the renewal after the calm period.
            (entry.nextAction, entry.nextActionAt) = report.daneStep.map { (.dane, $0) } ?? (.renew, calm)
        }
        return (entry, renewedAny)
    }

    /// Fleet mode: the store was looked at; `problem` says why it could not be reached. One
    /// incident per outage (alerted once), backoff between looks, resolved when it answers again.
    func storeLooked(_ problem: String?, store: StoreHooks, at current: Date) {
        let interval = Double(settings.interval.components.seconds)
        if let problem {
            let retry = settings.backoff.failed(storeRetry ?? RetryState(), reachedCA: false, error: problem, now: current)
            storeRetry = retry
            // Backoff, but never more than 5 minutes between looks (the listener also wakes the loop
            // when its connection comes back).
            let at = min(retry.retryAt ?? current.addingTimeInterval(interval), current.addingTimeInterval(300))
            nextStoreLook = at
            log.log(.storeUnreachable, "\(problem); serving what is installed, next look at \(at.utcText)")
            raise(Incident(kind: .storeUnreachable, lineage: nil, since: current,
                           message: "the fleet store \(store.description) cannot be reached: \(problem). This node keeps serving its certificates and does not renew them (another node may hold the lock) until it can."))
        } else {
            storeRetry = nil
            nextStoreLook = current.addingTimeInterval(interval)
            clear(.storeUnreachable, lineage: nil)
        }
    }

    private func recovered(_ name: String, _ entry: inout DaemonStatus.Lineage) {
        if status.retries.removeValue(forKey: name) != nil {
            (entry.failures, entry.lastError) = (0, nil)
        }
        clear(.renewalFailing, lineage: name)
    }

    /// Less than a sixth of the lifetime left: 15 days of 90, a day of 6, 20 s of 2 minutes.
    func checkExpiry() {
        let current = now()
        for lineage in status.lineages {
            guard let notBefore = lineage.notBefore, let notAfter = lineage.notAfter else { continue }
            if LifetimePolicy.standard.isExpiring(notBefore: notBefore, notAfter: notAfter, now: current) {
                let left = notAfter.timeIntervalSince(current)
                let words = left <= 0 ? "expired \(notAfter.utcText)" : "expires \(notAfter.utcText), in \(Self.duration(left))"
                raise(Incident(kind: .expiring, lineage: lineage.name, since: current,
                               message: "\(lineage.name): the certificate \(words)" + (lineage.lastError.map { "; renewal keeps failing: \($0)" } ?? "")))
            } else {
                clear(.expiring, lineage: lineage.name)
            }
        }
    }

    static func duration(_ seconds: Double) -> String {
        if seconds >= 2 * 86_400 { return "\(Int(saturating: seconds / 86_400)) days" }
        if seconds >= 2 * 3600 { return "\(Int(saturating: seconds / 3600)) hours" }
        if seconds >= 120 { return "\(Int(saturating: seconds / 60)) minutes" }
        return "\(Int(saturating: seconds)) seconds"
    }

    // MARK: Install and verify

    func provisionRound() async {
        guard let makeWorkflow = settings.provision else { return }
        nextProvisionCheck = now().addingTimeInterval(Double(settings.interval.components.seconds))
        var workflow: ProvisionWorkflow
        do {
            workflow = try makeWorkflow(environment)
        } catch {
            log.log(.provisionFailed, "\(error)")
            return
        }
        workflow.heldBack = status.heldBack
        let report: Provisioner.Report
        do {
            report = try await workflow.run()
        } catch {
            // What is installed stays; the next look tries again.
            log.log(.provisionFailed, "\(error); what is installed stays")
            return
        }
        for warning in report.warnings { log.log(.warning, warning) }
        if status.heldBack != nil && report.setDigest != status.heldBack {
            status.heldBack = nil  // the sources hold something new: it gets its chance
        }
        guard report.changed else { return }
        for note in report.notes { log.note(note) }
        for change in report.changes { log.log(.installed, change) }
        if !report.reloaded.isEmpty { log.log(.reloaded, report.reloaded.joined(separator: " and ")) }
        status.lastInstall = DaemonStatus.Install(at: now(), set: report.installedSet, origin: report.origin, serial: report.serial, rolledBack: false)
        guard let verifier = settings.verifier, report.installedSet != nil else { return }
        await verify(verifier, settings: workflow.settings, after: report)
    }

    func verify(_ verifier: InstallVerifier, settings provision: ProvisionSettings, after report: Provisioner.Report) async {
        let outcome = await verifier.verify(settings: provision, after: report)
        let at = now()
        switch outcome {
        case .nothingToCheck(let why):
            log.log(.verifySkipped, why)
        case .served(let results):
            status.lastVerification = .init(at: at, ok: true, endpoints: results)
            log.log(.verified, "\(results.count) endpoint(s) serve the new certificate: \(results.map(\.endpoint).joined(separator: " "))")
            clear(.notServed, lineage: nil)
            clear(.rolledBack, lineage: nil)
        case .rolledBack(let failed, let restored, let heldBack):
            status.lastVerification = .init(at: at, ok: false, endpoints: failed)
            status.heldBack = heldBack
            status.lastInstall?.rolledBack = true
            log.log(.notServed, failed.summary)
            log.log(.rolledBack, "the previous certificate is live again"
                    + (restored.allSatisfy(\.ok) ? " and served" : "; it is NOT served either: \(restored.summary)"))
            raise(Incident(kind: .rolledBack, lineage: nil, since: at,
                           message: (outcome.problem ?? "") + ". Fix the daemon's TLS settings, then send SIGHUP to acme daemon (or run acme provision)."))
        case .notServed(let failed, _):
            status.lastVerification = .init(at: at, ok: false, endpoints: failed)
            log.log(.notServed, outcome.problem ?? "")
            raise(Incident(kind: .notServed, lineage: nil, since: at, message: outcome.problem ?? ""))
        }
    }

    // MARK: Incidents, schedule, status

    func raise(_ incident: Incident) {
        guard status.incidents.raise(incident) else { return }
        log.log(.alert, incident.message, lineage: incident.lineage)
        unsentAlerts.append((incident, false))
    }

    func clear(_ kind: Incident.Kind, lineage: String?) {
        guard let incident = status.incidents.clear(kind, lineage: lineage) else { return }
        log.log(.resolved, "\(kind.rawValue) since \(incident.since.utcText) is over", lineage: lineage)
        unsentAlerts.append((incident, true))
    }

    /// Sends what `raise` and `clear` queued, in order. sendmail and the alert command are waited
    /// for on a thread of their own (`Alerter.send` async), so the loop sends them between steps.
    func sendAlerts() async {
        let unsent = unsentAlerts
        unsentAlerts = []
        for (incident, resolved) in unsent {
            for warning in await settings.alerter.send(incident, resolved: resolved) { log.log(.alertFailed, warning) }
        }
    }

    /// The earliest of: each lineage's next action, a retry of the whole pass, the next look at
    /// the provision sources, the heartbeat.
    func nextWake() -> Date {
        let current = now()
        var wake = current.addingTimeInterval(Double(settings.heartbeat.components.seconds))
        if let retry = passRetry?.retryAt ?? (storeRetry != nil ? nextStoreLook : nil) {
            // The last pass could not look at the lineages: their due times wait for its retry
            // (else a lineage due earlier would wake the loop again at once, over and over).
            wake = min(wake, retry)
        } else {
            for lineage in status.lineages { if let at = lineage.nextActionAt { wake = min(wake, at) } else { wake = current } }
        }
        if settings.provision != nil { wake = min(wake, nextProvisionCheck) }
        if settings.store != nil { wake = min(wake, nextStoreLook) }
        // A lineage backing off is looked at every --interval: renewed elsewhere, its failure is over.
        if status.retries.values.contains(where: { ($0.retryAt ?? current) > current }) {
            wake = min(wake, current.addingTimeInterval(Double(settings.interval.components.seconds)))
        }
        return max(wake, current)
    }

    func saveStatus() {
        status.updated = now()
        do { try status.save(settings.statusPath) } catch {
            log.log(.error, "cannot write the status file: \(error)")
        }
    }
}
