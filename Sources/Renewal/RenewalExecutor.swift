import ACME
import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// Runs the renewals of a plan, with the hooks around them in certbot's order: every renewed
/// lineage's pre hook once before the first renewal, each renewal through the same `Issuer` as
/// `acme issue`, its deploy hook after it, the post hooks once at the end. A failure in one
/// lineage never stops the others. After a gated renewal the key rollover is asked again: the
/// new key is live, its record becomes current and the old one starts retiring.
struct RenewalExecutor {
    var renewer: Renewer
    var options: RenewOptions
    var filter: PlanFilter

    struct Result {
        var reports: [LineageReport] = []
        var hookFailed = false
    }

    func run(_ renewals: [RenewalPlan.Entry], run: inout RenewRun) async -> Result {
        let progress = renewer.progress
        if options.randomDelay > .zero {
            let seconds = Double.random(in: 0...Double(options.randomDelay.components.seconds))
            progress("waiting \(Int(seconds)) s before contacting the CA (spreads fleets out; --no-random-sleep skips it)")
            // Only cancellation ends the sleep early, and then renewing at once is right.
            try? await Task.sleep(for: .seconds(seconds))
        }
        let hooks = HookPlan(runner: HookRunner(configDirectory: renewer.configDirectory, useDirectoryHooks: options.useDirectoryHooks,
                                                report: progress))
        let effective = renewals.map { effectiveHooks($0.subject?.config) }
        // certbot's order: every due lineage's pre hook once, before the first renewal.
        await hooks.beforeContactingCA(pre: effective.compactMap(\.pre))
        var result = Result()
        for (entry, saved) in zip(renewals, effective) {
            guard let subject = entry.subject, case .renew(let basis) = entry.decision else { continue }
            var report = await renew(subject, basis: basis, key: entry.key, hooks: saved, run: &run, plan: hooks)
            if case .renewed = report.outcome, entry.gated, let gate = renewer.keyRollover {
                switch await gate.step(subject.subject, wantRenewal: false, reuseKey: options.reuseKey,
                                       keepRetiring: filter.keepRetiringRecords, now: renewer.now()) {
                case .proceed(_, let step): report.daneStep = step
                case .failed(let error): run.notes.append(Event(LineageReport(name: entry.name, outcome: .failed(RenewalFailure(error, prefix: "DANE: ")),
                                                                        certificate: subject.certificate).line))
                case .hold, .off: break
                }
            }
            result.reports.append(report)
        }
        await hooks.finish(post: effective.compactMap(\.post))
        run.notes += hooks.failures.map { Event($0) }
        result.hookFailed = !hooks.failures.isEmpty
        return result
    }

    private func effectiveHooks(_ config: RenewalConfig?) -> SavedHooks {
        SavedHooks(pre: options.hooks.pre ?? config?[param: "pre_hook"],
                   post: options.hooks.post ?? config?[param: "post_hook"],
                   deploy: options.hooks.deploy ?? config?[param: "renew_hook"])
    }

    private func renew(_ candidate: GatheredLineage, basis: DueBasis, key: RolloverKey?, hooks saved: SavedHooks,
                       run: inout RenewRun, plan: HookPlan) async -> LineageReport {
        let name = candidate.name
        let progress = renewer.progress
        do {
            var server = candidate.server
            if options.dryRun && server == LetsEncrypt.production { server = LetsEncrypt.staging }
            let certificate = try candidate.lineage.liveCertificate()
            let params = try RenewalParams(decoding: candidate.config, path: candidate.lineage.renewalConfigPath,
                                           defaultServer: LetsEncrypt.production)
            var request = try RenewalRequest(params: params, certificate: certificate, lineage: candidate.lineage, server: server,
                                             caBundle: candidate.caBundle, hooks: saved, options: options,
                                             solverOverride: renewer.fleet.solverOverride).make()
            switch key {
            case .pinned(let key)?: request.pinnedKey = key
            case .reuseCurrent?: request.pinnedKey = try candidate.lineage.liveKey()  // the warning is in the run's notes
            case nil: break
            }
            let client = try run.clients.client(server, candidate.caBundle)
            if try await client.directory().renewalInfo != nil { request.replaces = candidate.certificate.renewalInfoID }
            progress("\(name): renewing (\(basis.description))")
            let result = try await Issuer(client: client, progress: { progress(Event("\(name): \($0.message)", severity: $0.severity)) }).issue(request)
            switch result.outcome {
            case .dryRun:
                return LineageReport(name: name, outcome: .dryRun(notAfter: result.notAfter))
            case .renewed(let version):
                run.ari.forget(lineage: name)
                await plan.deployed(saved.deploy.map { [$0] } ?? [], livePath: candidate.lineage.livePath, names: result.names, lineage: name)
                // The new certificate, so that the daemon knows its lifetime (it holds a renewed
                // lineage back for a quarter of it); unreadable only if the disk just failed.
                let renewed = try? CertificateSummary(pem: try candidate.lineage.readLive("cert"))
                return LineageReport(name: name, outcome: .renewed(notAfter: result.notAfter, version: version, basis: basis),
                                     certificate: renewed)
            case .issued, .notDue:
                return LineageReport(name: name, outcome: .failed(RenewalFailure(message: "the issuer did not renew the existing lineage")))
            }
        } catch {
            return LineageReport(name: name, outcome: .failed(RenewalFailure(error)), certificate: candidate.certificate)
        }
    }
}
