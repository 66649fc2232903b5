import Base
import FoundationEssentials
import Issuance
import Renewal

/// DANE's key-rollover gate for `acme renew` and the daemon: runs a lineage's rollover steps
/// that are due now (`DANERollover.advance`, on a thread of its own: DNS updates, hooks and
/// visibility checks wait) and says whether a wanted renewal may go ahead, with which key.
public struct DANEGate: KeyRolloverGate {
    public var progress: EventSink

    public init(progress: @escaping EventSink) {
        self.progress = progress
    }

    public func step(_ subject: RolloverSubject, wantRenewal: Bool, reuseKey: Bool, keepRetiring: Bool, now: Date) async -> RolloverVerdict {
        // Most lineages have no DANE: parsing the conf in memory says so without a thread per lineage
        // (1,000 lineages: 11,000 fewer system calls). An invalid conf is reported by stepHere.
        if (try? DANESettings(params: subject.config.renewalParams, path: subject.lineage.renewalConfigPath)) == .some(nil) { return .off }
        return await onOwnThread {
            self.stepHere(subject, wantRenewal: wantRenewal, reuseKey: reuseKey, keepRetiring: keepRetiring, now: now) as RolloverVerdict
        }
    }

    /// `step` for code already on a thread of its own.
    public func stepHere(_ subject: RolloverSubject, wantRenewal: Bool, reuseKey: Bool, keepRetiring: Bool, now: Date) -> RolloverVerdict {
        let lineage = subject.lineage
        do {
            guard let settings = try DANESettings(params: subject.config.renewalParams, path: lineage.renewalConfigPath) else { return .off }
            let params = try RenewalParams(decoding: subject.config, path: lineage.renewalConfigPath, defaultServer: LetsEncrypt.production)
            let rollover = DANERollover(lineage: lineage, settings: settings, reuseKey: reuseKey || params.reuseKey, keyType: params.keyType,
                                        progress: progress)
            let outcome = try rollover.advance(wantRenewal: wantRenewal, notBefore: subject.certificate.notBefore,
                                               notAfter: subject.certificate.notAfter, now: now, keepRetiring: keepRetiring)
            switch outcome.decision {
            case nil, .renew(key: nil): return .proceed(nil, nextStep: outcome.nextStep)
            case .renew(let key?): return .proceed(.pinned(key), nextStep: outcome.nextStep)
            case .renewReusingKey(let warning): return .proceed(.reuseCurrent(warning: warning), nextStep: outcome.nextStep)
            case .hold(let until, let reason): return .hold(until: until, reason: reason, nextStep: outcome.nextStep)
            }
        } catch {
            return .failed(error)
        }
    }
}
