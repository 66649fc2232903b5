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
    /// Lineages not to look at in this run (the daemon's, while they back off after a failure).
    public var skip: Set<String> = []
    /// Lineages looked at only for their DANE rollover steps, never renewed in this run (the
    /// daemon's, in the calm period after a renewal).
    public var daneStepsOnly: Set<String> = []
    /// The endpoints do not serve the newest certificate (the daemon's verification failed, the
    /// previous set is back): old keys' TLSA records stay until they do.
    public var keepRetiringDANERecords = false
    /// Fleet mode: the store-backed challenge solver for every renewal (see `IssueRequest.solverOverride`).
    public var solverOverride: SolverOverride?
    /// Fleet mode: the renewal information the fleet shares (the store's `acme_ari`), read
    /// before asking the CA and written after; nil: this node's state file only.
    public var ariCache: RenewalInfoCache?
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
        case failed(String)
    }
    public var name: String
    public var outcome: Outcome
    /// Not due: when the CA's renewal information should be asked again (its Retry-After, or
    /// an hour when the CA could not be reached); nil without ARI.
    public var recheck: Date?
    /// A failure's kind: whether the CA was reached (its limits count) or not.
    public var category: ErrorCategory?
    /// A failure's error code (`issuance.clockDisagreement`, …), when it had one.
    public var codeName: String?
    /// The certificate the decision was about (nil when the lineage could not be read).
    public var certificate: CertificateSummary?
    /// When the lineage's DANE rollover next has something to do by itself (remove an old
    /// record, see the next one become visible); nil without DANE or nothing pending.
    public var daneStep: Date?

    public init(name: String, outcome: Outcome, recheck: Date? = nil, category: ErrorCategory? = nil,
                certificate: CertificateSummary? = nil) {
        self.name = name
        self.outcome = outcome
        self.recheck = recheck
        self.category = category
        self.certificate = certificate
    }

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
        case .failed(let reason): "\(name): failed: \(reason.escapedForDisplay)"
        }
    }
}

public struct RenewalSummary: Sendable {
    public var reports: [LineageReport] = []
    /// Run-wide remarks: repairs, unreachable servers, failed hooks.
    public var notes: [String] = []
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
    /// Asked for every lineage looked at (DANE's rollover, `DANEGate`); nil: no lineage rolls keys.
    public var keyRollover: (any KeyRolloverGate)?

    public init(configDirectory: String, makeClient: @escaping ACMEClientFactory, progress: @escaping EventSink) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.makeClient = makeClient
        self.progress = progress
    }

    struct Candidate {
        var lineage: Lineage
        var config: RenewalConfig
        var certificate: CertificateSummary
        var server: String
        var caBundle: String?
    }

    /// Renews what is due. Throws only when it cannot look at all: a config directory that
    /// does not exist (never created here), an unreadable renewal/, the lock.
    public func run(_ options: RenewOptions) async throws -> RenewalSummary {
        let lock = try await ConfigLock.acquire(configDirectory: configDirectory, create: false, waiting: waiting)
        defer { withExtendedLifetime(lock) {} }
        var summary = RenewalSummary()
        let store = LineageStore(configDirectory: configDirectory)
        var ari = RenewalInfoState(configDirectory: configDirectory)
        var clients = ClientCache(makeClient: makeClient)

        // One pass: read each selected lineage (repairing what an interrupted run left) and
        // decide. ARI only where the server's directory offers it; a server that cannot be
        // reached falls back to the local window for its lineages. Not-due lineages keep
        // nothing but their report line.
        let current = now()
        var directories = DirectoryCache(configDirectory: configDirectory)
        summary.notes += [ari.note, directories.note].compactMap { $0 }
        var due: [(Candidate, DueBasis)] = []
        var danePlans: [String: DANEPlan] = [:]
        let askARI = !options.policy.force && options.policy.renewWithinDays == nil && !options.dryRun
        let policy = options.dryRun ? DuePolicy(force: true) : options.policy
        var offline: [String: (reason: String, count: Int)] = [:]
        var notDue: [String: Candidate] = [:]
        summary.notes += try store.finishInterruptedCreations(pairMatches: Issuer.keyMatchesCertificate)
        for lineage in try selectedLineages(store, options) {
            let candidate: Candidate
            do {
                if store.needsRepair(lineage) {
                    let repairs = try store.repair(lineage, pairMatches: Issuer.keyMatchesCertificate)
                    summary.notes += repairs.map { "\(lineage.name): \($0)" }
                }
                let config = try store.renewalConfig(of: lineage)
                let certificate = try CertificateSummary(pem: try lineage.readLive("cert"))
                candidate = Candidate(lineage: lineage, config: config, certificate: certificate,
                                      server: config[param: "server"] ?? LetsEncrypt.production,
                                      caBundle: options.caBundle ?? config[param: "ca_bundle"])
            } catch {
                summary.reports.append(LineageReport(name: lineage.name, outcome: .failed("\(error)"),
                                                     category: (error as? any CodedError)?.category))
                continue
            }
            var ariChoice: Date?
            if askARI {
                if offline[candidate.server] != nil {
                    offline[candidate.server]!.count += 1
                } else {
                    do {
                        ariChoice = try await renewalInfoChoice(candidate, clients: &clients, directories: &directories,
                                                                state: &ari, cache: options.ariCache, notes: &summary.notes, now: current)
                    } catch {
                        offline[candidate.server] = ("\(error)", 1)
                    }
                }
            }
            var decision = policy.dueDate(notBefore: candidate.certificate.notBefore, notAfter: candidate.certificate.notAfter,
                                          ariChoice: ariChoice, renewBeforeExpiry: candidate.config.topLevelValue("renew_before_expiry"),
                                          now: current)
            let config = candidate.config
            if !policy.force, let change = DuePolicy.changeForcingRenewal(
                names: config[param: "acme_domains"], issuedProfile: config[param: "acme_issued_profile"],
                requiredProfile: config[param: "required_profile"], preferredProfile: config[param: "preferred_profile"],
                certificateNames: candidate.certificate.dnsNames) {
                decision = (current, change)
            }
            if options.daneStepsOnly.contains(lineage.name) { decision.date = max(decision.date, current.addingTimeInterval(1)) }
            if decision.date <= current, !policy.force, let report = Self.heldByClock(candidate, store: store, now: current) {
                summary.reports.append(report)  // not ordered again: the same clocks would give the same certificate
                continue
            }
            // DANE: the rollover's steps, and whether a due renewal may go ahead (Docs/DANE.md).
            let dane = options.dryRun ? DANEStep.off : await daneStep(candidate, due: decision.date <= current, reuseKey: options.reuseKey, keepRetiring: options.keepRetiringDANERecords, now: current)
            if case .failed(let report) = dane {
                summary.reports.append(report)
                continue
            }
            if case .held(let report) = dane {
                summary.reports.append(report)
            } else if decision.date <= current {
                if case .renew(let plan, _) = dane { danePlans[lineage.name] = plan }
                if case .renew(let plan?, _) = dane, case .reuseCurrent(let warning)? = plan.key { summary.notes.append(warning) }
                due.append((candidate, decision.basis))
            } else {
                let recheck = askARI ? (offline[candidate.server] != nil ? current.addingTimeInterval(3600)
                    : ari.entry(lineage: lineage.name, serial: candidate.certificate.serialHex)?.nextCheck) : nil
                var report = LineageReport(name: lineage.name, outcome: .notDue(until: decision.date, basis: decision.basis),
                                           recheck: recheck, certificate: candidate.certificate)
                if case .renew(_, let step) = dane { report.daneStep = step }
                summary.reports.append(report)
                notDue[lineage.name] = candidate
            }
        }
        // An ECDSA + RSA pair is renewed together, ECDSA first (PairedRenewal.swift).
        summary.notes += Self.pairUp(&due, notDue: notDue, reports: &summary.reports, store: store)
        // A partner pulled in by its pair asks its own DANE rollover too: it changes keys only
        // with a published record, else it is held (and renewed on its own later).
        if !options.dryRun {
            var kept: [(Candidate, DueBasis)] = []
            for (candidate, basis) in due {
                guard case .pairedWith = basis else { kept.append((candidate, basis)); continue }
                switch await daneStep(candidate, due: true, reuseKey: options.reuseKey, keepRetiring: options.keepRetiringDANERecords, now: current) {
                case .off:
                    kept.append((candidate, basis))
                case .renew(let plan, _):
                    danePlans[candidate.lineage.name] = plan
                    kept.append((candidate, basis))
                case .held(let report), .failed(let report):
                    summary.reports.append(report)
                }
            }
            due = kept
        }
        for (server, failure) in offline.sorted(by: { $0.key < $1.key }) {
            summary.notes.append("cannot reach \(server) (\(failure.reason)); deciding its \(failure.count) certificate\(failure.count == 1 ? "" : "s") by their expiry dates")
        }

        // 3. Renew what is due, with the hooks around it.
        if !due.isEmpty {
            if options.randomDelay > .zero {
                let seconds = Double.random(in: 0...Double(options.randomDelay.components.seconds))
                progress("waiting \(Int(seconds)) s before contacting the CA (spreads fleets out; --no-random-sleep skips it)")
                // Only cancellation ends the sleep early, and then renewing at once is right.
                try? await Task.sleep(for: .seconds(seconds))
            }
            let hooks = HookPlan(runner: HookRunner(configDirectory: configDirectory, useDirectoryHooks: options.useDirectoryHooks,
                                                    report: progress))
            let effective = due.map { effectiveHooks($0.0.config, options) }
            // certbot's order: every due lineage's pre hook once, before the first renewal.
            await hooks.beforeContactingCA(pre: effective.compactMap(\.pre))
            for ((candidate, basis), saved) in zip(due, effective) {
                var report = await renew(candidate, basis: basis, hooks: saved, options: options,
                                         clients: &clients, ari: &ari, plan: hooks, dane: danePlans[candidate.lineage.name])
                if case .renewed = report.outcome, danePlans[candidate.lineage.name] != nil {
                    // The new key is live: its record becomes current, the old one starts retiring.
                    switch await daneStep(candidate, due: false, reuseKey: options.reuseKey, keepRetiring: options.keepRetiringDANERecords, now: now()) {
                    case .renew(_, let step): report.daneStep = step
                    case .failed(let failure): summary.notes.append(failure.line)
                    case .held, .off: break
                    }
                }
                summary.reports.append(report)
            }
            await hooks.finish(post: effective.compactMap(\.post))
            summary.notes += hooks.failures
            summary.hookFailed = !hooks.failures.isEmpty
        }
        do { try ari.save() } catch { summary.notes.append("could not save ARI state: \(error)") }
        do { try directories.save() } catch { summary.notes.append("could not save \(directories.path): \(error)") }
        summary.reports.sort { $0.name < $1.name }
        return summary
    }

    private func selectedLineages(_ store: LineageStore, _ options: RenewOptions) throws -> [Lineage] {
        guard let name = options.certName else { return try store.allLineages().filter { !options.skip.contains($0.name) } }
        return Self.withPartner(try store.existingLineage(named: name), store: store)
    }

    /// The moment to renew according to ARI, or nil when the server has no ARI or the
    /// certificate cannot be identified. Throws when the server cannot be reached.
    /// With a fleet's `cache` that can be read, its row decides (a valid one for this certificate
    /// whose next check is ahead is used instead of asking the CA) and an answer from the CA is
    /// written back; when the cache cannot be read, this node's state file decides as without one.
    private func renewalInfoChoice(_ candidate: Candidate, clients: inout ClientCache, directories: inout DirectoryCache,
                                   state: inout RenewalInfoState, cache: RenewalInfoCache?, notes: inout [String],
                                   now: Date) async throws -> Date? {
        let offered: Bool
        if let known = directories.offersRenewalInfo(candidate.server, now: now) {
            offered = known
        } else {
            offered = try await clients.client(candidate.server, candidate.caBundle).directory().renewalInfo != nil
            directories.record(candidate.server, renewalInfo: offered, now: now)
        }
        guard offered, let id = candidate.certificate.renewalInfoID else { return nil }
        let serial = candidate.certificate.serialHex
        let name = candidate.lineage.name
        var shared = cache != nil
        if let cache {
            do {
                if let row = try await cache.load(name) {
                    if row.certificateID != id {
                        // The lineage was renewed since (or not yet here): the next answer replaces the row.
                    } else if let problem = row.problem(notBefore: candidate.certificate.notBefore,
                                                        notAfter: candidate.certificate.notAfter, now: now) {
                        notes.append("\(name): the fleet's renewal information is ignored: \(problem); asking the CA (its answer replaces it)")
                    } else if now < row.nextCheck {
                        return state.adopt(row, lineage: name, serial: serial).chosen
                    }
                }
            } catch let unusable as RenewalInfoCache.UnusableRow {
                notes.append("\(name): the fleet's renewal information is ignored: \(unusable); asking the CA (its answer replaces it)")
            } catch {
                shared = false
                notes.append("\(name): the fleet's renewal information cannot be read (\(error)); using this node's \(state.path)")
            }
        }
        if !shared, let entry = state.entry(lineage: name, serial: serial), now < entry.nextCheck {
            return entry.chosen
        }
        let client = try clients.client(candidate.server, candidate.caBundle)
        do {
            guard var info = try await client.renewalInfo(certificateID: id) else { return nil }
            if let problem = info.problem(notBefore: candidate.certificate.notBefore, notAfter: candidate.certificate.notAfter) {
                // Issue 21: refused, neither kept nor shared; the local rules decide and the CA is asked next run.
                notes.append("\(name): the CA's renewal window is refused: \(problem); the lifetime rule (or renew_before_expiry) decides")
                return nil
            }
            if cache != nil {
                // Whole seconds, as the store keeps them: every node then picks the very same moment.
                info.start = Date(timeIntervalSince1970: info.start.timeIntervalSince1970.rounded(.down))
                info.end = Date(timeIntervalSince1970: info.end.timeIntervalSince1970.rounded(.down))
            }
            let fraction = cache.map { _ in RenewalInfoCache.fraction(certificateID: id) }
            let entry = state.record(info, lineage: name, serial: serial, now: now, fraction: fraction)
            if shared, let cache {
                do {
                    try await cache.save(name, SharedRenewalInfo(certificateID: id, start: info.start, end: info.end,
                                                                 explanationURL: info.explanationURL, nextCheck: entry.nextCheck))
                } catch {
                    notes.append("\(name): the CA's renewal information could not be shared with the fleet (\(error)); the other nodes ask the CA themselves")
                }
            }
            return entry.chosen
        } catch let error as ACMEError where error.code == .unavailable {
            // A CA in maintenance after the client's retries: like one that cannot be reached, its
            // other lineages are decided by their dates without waiting for it again.
            throw error
        } catch let error as ACMEError {
            // The CA answered but not with a window: use what we knew, else the local rules.
            progress("\(candidate.lineage.name): no renewal information from the CA (\(error)); using the local window")
            return state.entry(lineage: candidate.lineage.name, serial: serial)?.chosen
        }
    }

    private func effectiveHooks(_ config: RenewalConfig, _ options: RenewOptions) -> SavedHooks {
        SavedHooks(pre: options.hooks.pre ?? config[param: "pre_hook"],
                   post: options.hooks.post ?? config[param: "post_hook"],
                   deploy: options.hooks.deploy ?? config[param: "renew_hook"])
    }

    private func renew(_ candidate: Candidate, basis: DueBasis, hooks saved: SavedHooks, options: RenewOptions,
                       clients: inout ClientCache, ari: inout RenewalInfoState, plan: HookPlan, dane: DANEPlan? = nil) async -> LineageReport {
        let name = candidate.lineage.name
        do {
            var server = candidate.server
            if options.dryRun && server == LetsEncrypt.production { server = LetsEncrypt.staging }
            let certificate = try candidate.lineage.liveCertificate()
            let params = try RenewalParams(decoding: candidate.config, path: candidate.lineage.renewalConfigPath,
                                           defaultServer: LetsEncrypt.production)
            var request = try RenewalRequest(params: params, certificate: certificate, lineage: candidate.lineage,
                                             server: server, caBundle: candidate.caBundle, hooks: saved, options: options).make()
            if let dane { try apply(dane, to: &request, lineage: candidate.lineage) }
            let client = try clients.client(server, candidate.caBundle)
            var withARI = request
            if try await client.directory().renewalInfo != nil { withARI.replaces = candidate.certificate.renewalInfoID }
            progress("\(name): renewing (\(basis.description))")
            let result = try await Issuer(client: client, progress: { progress(Event("\(name): \($0.message)", severity: $0.severity)) }).issue(withARI)
            switch result.outcome {
            case .dryRun:
                return LineageReport(name: name, outcome: .dryRun(notAfter: result.notAfter))
            case .renewed(let version):
                ari.forget(lineage: name)
                await plan.deployed(saved.deploy.map { [$0] } ?? [], livePath: candidate.lineage.livePath, names: result.names, lineage: name)
                // The new certificate, so that the daemon knows its lifetime (it holds a renewed
                // lineage back for a quarter of it); unreadable only if the disk just failed.
                let renewed = try? CertificateSummary(pem: try candidate.lineage.readLive("cert"))
                return LineageReport(name: name, outcome: .renewed(notAfter: result.notAfter, version: version, basis: basis),
                                     certificate: renewed)
            case .issued, .notDue:
                return LineageReport(name: name, outcome: .failed("the issuer did not renew the existing lineage"))
            }
        } catch {
            var report = LineageReport(name: name, outcome: .failed("\(error)"), category: (error as? any CodedError)?.category,
                                       certificate: candidate.certificate)
            report.codeName = (error as? any CodedError)?.codeName
            return report
        }
    }

    /// A due lineage whose last renewal was held because this host's clock rejected the new
    /// certificate (`Issuer`), while the current one is still valid: a failure that does not
    /// contact the CA. Nil when nothing is held, the held one is valid now (the renewal
    /// installs it) or the current one is not valid any more (a new order is worth it).
    static func heldByClock(_ candidate: Candidate, store: LineageStore, now: Date) -> LineageReport? {
        let live = candidate.certificate
        guard let held = store.held(candidate.lineage), live.notBefore <= now, now < live.notAfter,
              // A held certificate that cannot be read is as if none were held: the renewal orders anew.
              let leaf = try? CertificateSummary(pem: held.fullchain),
              let clock = ClockDisagreement.check(notBefore: leaf.notBefore, notAfter: leaf.notAfter, now: now) else { return nil }
        var report = LineageReport(name: candidate.lineage.name, outcome: .failed(
            "\(clock); the certificate held in \(store.heldPaths(candidate.lineage).fullchain) is not installed and no other is ordered while the current one is valid (until \(live.notAfter.utcText)): set this host's clock right, or renew by force once the CA's clock is right"),
            category: .caRefused, certificate: live)
        report.codeName = IssuanceError.Code.clockDisagreement.name
        return report
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

/// What the key-rollover gate says about one lineage in a renew run.
enum DANEStep {
    /// No rollover for this lineage (or a dry run, which never touches DNS).
    case off
    /// Go ahead (renew if due, with this plan); `step`: when the rollover next has work of its own.
    case renew(DANEPlan?, step: Date?)
    /// Due, but held by the rollover: the report says until when and why.
    case held(LineageReport)
    case failed(LineageReport)
}

/// The key a gated lineage's renewal uses: the gate's (nil: the usual choice).
struct DANEPlan {
    var key: RolloverKey?
}

extension Renewer {
    /// Asks `keyRollover` about the lineage; `due`: a renewal is wanted.
    func daneStep(_ candidate: Candidate, due: Bool, reuseKey: Bool, keepRetiring: Bool = false, now: Date) async -> DANEStep {
        guard let keyRollover else { return .off }
        let subject = RolloverSubject(lineage: candidate.lineage, config: candidate.config, certificate: candidate.certificate)
        switch await keyRollover.step(subject, wantRenewal: due, reuseKey: reuseKey, keepRetiring: keepRetiring, now: now) {
        case .off:
            return .off
        case .proceed(let key, let step):
            return .renew(DANEPlan(key: key), step: step)
        case .hold(let until, let reason, let step):
            var report = LineageReport(name: candidate.lineage.name, outcome: .held(until: until, reason: reason), certificate: candidate.certificate)
            report.daneStep = step ?? until
            return .held(report)
        case .failed(let error):
            return .failed(LineageReport(name: candidate.lineage.name, outcome: .failed("DANE: \(error)"),
                                         category: (error as? any CodedError)?.category, certificate: candidate.certificate))
        }
    }

    /// Sets the key of a gated lineage's renewal.
    func apply(_ plan: DANEPlan, to request: inout IssueRequest, lineage: Lineage) throws {
        switch plan.key {
        case nil: break
        case .pinned(let key): request.pinnedKey = key
        case .reuseCurrent:
            // The warning is in the run's notes.
            request.pinnedKey = try lineage.liveKey()
        }
    }
}
