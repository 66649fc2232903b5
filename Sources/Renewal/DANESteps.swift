import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// What the DANE rollover says about one lineage in a renew run.
enum DANEStep {
    /// No DANE for this lineage (or a dry run, which never touches DNS).
    case off
    /// Go ahead (renew if due, with this plan); `step`: when the rollover next has work of its own.
    case renew(DANEPlan?, step: Date?)
    /// Due, but held by the rollover: the report says until when and why.
    case held(LineageReport)
    case failed(LineageReport)
}

/// The key a DANE lineage's renewal uses.
enum DANEPlan {
    /// The prepared next key whose record has been visible long enough (nil: the usual choice,
    /// for lineages whose leaf key is not pinned or does not change).
    case key(PrivateKey?)
    /// The certificate would expire before the next key may be used: keep the current key.
    case reuseCurrent(warning: String)
}

extension Renewer {
    /// `daneStep` for async code: the DNS updates, hooks and visibility checks wait, on a thread of their own.
    func daneStep(_ candidate: Candidate, due: Bool, reuseKey: Bool, keepRetiring: Bool = false, now: Date) async -> DANEStep {
        await onOwnThread { self.daneStep(candidate, due: due, reuseKey: reuseKey, keepRetiring: keepRetiring, now: now) as DANEStep }
    }

    /// Runs the lineage's DANE rollover steps that are due now; `due`: a renewal is wanted.
    func daneStep(_ candidate: Candidate, due: Bool, reuseKey: Bool, keepRetiring: Bool = false, now: Date) -> DANEStep {
        let lineage = candidate.lineage
        do {
            guard let settings = try DANESettings(params: candidate.config.renewalParams, path: lineage.renewalConfigPath) else { return .off }
            let params = try RenewalParams(decoding: candidate.config, path: lineage.renewalConfigPath, defaultServer: LetsEncrypt.production)
            let rollover = DANERollover(lineage: lineage, settings: settings, reuseKey: reuseKey || params.reuseKey, keyType: params.keyType,
                                        progress: progress)
            let outcome = try rollover.advance(wantRenewal: due, notBefore: candidate.certificate.notBefore,
                                               notAfter: candidate.certificate.notAfter, now: now, keepRetiring: keepRetiring)
            switch outcome.decision {
            case nil: return .renew(nil, step: outcome.nextStep)
            case .renew(let key): return .renew(.key(key), step: outcome.nextStep)
            case .renewReusingKey(let warning): return .renew(.reuseCurrent(warning: warning), step: outcome.nextStep)
            case .hold(let until, let reason):
                var report = LineageReport(name: lineage.name, outcome: .held(until: until, reason: reason), certificate: candidate.certificate)
                report.daneStep = outcome.nextStep ?? until
                return .held(report)
            }
        } catch {
            return .failed(LineageReport(name: lineage.name, outcome: .failed("DANE: \(error)"),
                                         category: (error as? any CodedError)?.category, certificate: candidate.certificate))
        }
    }

    /// Sets the key of a DANE lineage's renewal.
    func apply(_ plan: DANEPlan, to request: inout IssueRequest, lineage: Lineage) throws {
        switch plan {
        case .key(let key):
            if let key { request.pinnedKey = key }
        case .reuseCurrent:
            // The warning is in the run's notes.
            request.pinnedKey = try lineage.liveKey()
        }
    }
}
