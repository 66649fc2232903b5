import ACME
import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// The state one renew run carries from gathering to execution: the ACME clients (one per
/// server), the ARI state file, the directory cache, the servers that could not be reached and
/// the run-wide notes.
struct RenewRun {
    let renewer: Renewer
    let options: RenewOptions
    let filter: PlanFilter
    let store: LineageStore
    var clients: ClientCache
    var ari: RenewalInfoState
    var directories: DirectoryCache
    var offline: [String: (reason: String, count: Int)] = [:]
    var notes: [Event] = []

    init(renewer: Renewer, options: RenewOptions, filter: PlanFilter) {
        (self.renewer, self.options, self.filter) = (renewer, options, filter)
        store = LineageStore(configDirectory: renewer.configDirectory)
        clients = ClientCache(makeClient: renewer.makeClient)
        ari = RenewalInfoState(configDirectory: renewer.configDirectory)
        directories = DirectoryCache(configDirectory: renewer.configDirectory)
        notes = [ari.note, directories.note].compactMap { $0.map { Event($0) } }
    }

    /// Reads each selected lineage (repairing what an interrupted run left) and, where the
    /// server's directory offers it, the CA's renewal information; a server that cannot be
    /// reached is not asked again in this run (its lineages are decided by their dates).
    mutating func gather(now: Date) async throws -> [Gathered] {
        notes += try store.finishInterruptedCreations(pairMatches: Issuer.keyMatchesCertificate).map { Event($0) }
        let askARI = !options.policy.force && options.policy.renewWithinDays == nil && !options.dryRun
        var gathered: [Gathered] = []
        for lineage in try selectedLineages() {
            var read: GatheredLineage
            do {
                read = try self.read(lineage)
            } catch {
                gathered.append(.unreadable(name: lineage.name, RenewalFailure(error)))
                continue
            }
            if askARI { read.renewalInfo = await lookUpRenewalInfo(read, now: now) }
            gathered.append(.lineage(read))
        }
        return gathered
    }

    private mutating func read(_ lineage: Lineage) throws -> GatheredLineage {
        if store.needsRepair(lineage) {
            let repairs = try store.repair(lineage, pairMatches: Issuer.keyMatchesCertificate)
            notes += repairs.map { Event("\(lineage.name): \($0)") }
        }
        let config = try store.renewalConfig(of: lineage)
        let certificate = try CertificateSummary(pem: try lineage.readLive("cert"))
        var read = GatheredLineage(lineage: lineage, config: config, certificate: certificate,
                                   server: config[param: "server"] ?? LetsEncrypt.production,
                                   caBundle: options.caBundle ?? config[param: "ca_bundle"])
        // A held certificate that cannot be read is as if none were held: the renewal orders anew.
        if let held = store.held(lineage), let leaf = try? CertificateSummary(pem: held.fullchain) {
            read.held = (leaf, store.heldPaths(lineage).fullchain)
        }
        // An unreadable acme_key_pair is reported when the lineage is renewed; here it means "not paired".
        if let partner = try? KeyPairing.partner(in: config, path: lineage.renewalConfigPath) {
            read.partnerConfExists = FS.exists(Lineage(name: partner, configDirectory: store.configDirectory).renewalConfigPath)
        }
        return read
    }

    private mutating func lookUpRenewalInfo(_ read: GatheredLineage, now: Date) async -> RenewalInfoLook {
        if offline[read.server] != nil {
            offline[read.server]!.count += 1
            return .serverUnreachable
        }
        do {
            let choice = try await renewalInfoChoice(read, now: now)
            return .answered(choice: choice, recheck: ari.entry(lineage: read.name, serial: read.certificate.serialHex)?.nextCheck)
        } catch {
            offline[read.server] = ("\(error)", 1)
            return .serverUnreachable
        }
    }

    /// The run's notes on the servers that could not be reached.
    func offlineNotes() -> [Event] {
        offline.sorted(by: { $0.key < $1.key }).map { server, failure in
            Event("cannot reach \(server) (\(failure.reason)); deciding its \(failure.count) certificate\(failure.count == 1 ? "" : "s") by their expiry dates")
        }
    }

    /// Runs the key-rollover gate for each readable entry (or those in `only`); a dry run and a
    /// renewer without a gate skip it. A hold or a failure replaces the decision.
    mutating func gate(_ plan: inout RenewalPlan, only: Set<String>? = nil, now: Date) async {
        guard let gate = renewer.keyRollover, !options.dryRun else { return }
        if let only, only.isEmpty { return }
        for index in plan.entries.indices {
            let entry = plan.entries[index]
            guard let subject = entry.subject, only?.contains(entry.name) ?? true else { continue }
            if case .failed = entry.decision { continue }
            let verdict = await gate.step(subject.subject, wantRenewal: entry.renews, reuseKey: options.reuseKey,
                                          keepRetiring: filter.keepRetiringRecords, now: now)
            switch verdict {
            case .off:
                plan.entries[index].gated = false
            case .proceed(let key, let nextStep):
                plan.entries[index].gated = true
                plan.entries[index].rolloverStep = nextStep
                guard entry.renews else { continue }
                plan.entries[index].key = key
                if case .reuseCurrent(let warning)? = key { notes.append(.warning(warning)) }
            case .hold(let until, let reason, let nextStep):
                (plan.entries[index].decision, plan.entries[index].rolloverStep) = (.hold(until: until, reason: reason), nextStep ?? until)
            case .failed(let error):
                plan.entries[index].decision = .failed(RenewalFailure(error, prefix: "DANE: "))
            }
        }
    }

    /// Saves the ARI state and the directory cache; a failure is a note.
    mutating func save() {
        do { try ari.save() } catch { notes.append("could not save ARI state: \(error)") }
        do { try directories.save() } catch { notes.append("could not save \(directories.path): \(error)") }
    }

    private func selectedLineages() throws -> [Lineage] {
        guard let name = options.certName else { return try store.allLineages().filter { !filter.leaveOut.contains($0.name) } }
        return Renewer.withPartner(try store.existingLineage(named: name), store: store)
    }

    /// The moment to renew according to ARI, or nil when the server has no ARI or the
    /// certificate cannot be identified. Throws when the server cannot be reached.
    /// With a fleet's `cache` that can be read, its row decides (a valid one for this certificate
    /// whose next check is ahead is used instead of asking the CA) and an answer from the CA is
    /// written back; when the cache cannot be read, this node's state file decides as without one.
    private mutating func renewalInfoChoice(_ candidate: GatheredLineage, now: Date) async throws -> Date? {
        let cache = renewer.fleet.ariCache
        let offered: Bool
        if let known = directories.offersRenewalInfo(candidate.server, now: now) {
            offered = known
        } else {
            offered = try await clients.client(candidate.server, candidate.caBundle).directory().renewalInfo != nil
            directories.record(candidate.server, renewalInfo: offered, now: now)
        }
        guard offered, let id = candidate.certificate.renewalInfoID else { return nil }
        let serial = candidate.certificate.serialHex
        let name = candidate.name
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
                        return ari.adopt(row, lineage: name, serial: serial).chosen
                    }
                }
            } catch let unusable as RenewalInfoCache.UnusableRow {
                notes.append("\(name): the fleet's renewal information is ignored: \(unusable); asking the CA (its answer replaces it)")
            } catch {
                shared = false
                notes.append("\(name): the fleet's renewal information cannot be read (\(error)); using this node's \(ari.path)")
            }
        }
        if !shared, let entry = ari.entry(lineage: name, serial: serial), now < entry.nextCheck {
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
            let entry = ari.record(info, lineage: name, serial: serial, now: now, fraction: fraction)
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
            renewer.progress("\(candidate.name): no renewal information from the CA (\(error)); using the local window")
            return ari.entry(lineage: candidate.name, serial: serial)?.chosen
        }
    }
}
