import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// DANE's key-rollover gate (Docs/DANE.md): runs a lineage's rollover steps that are due now
/// (records published, retired, checked for visibility) and says whether a wanted renewal may
/// go ahead, with the next key, held until its record is visible, or with the current key near expiry.
public struct DANEGate: KeyRolloverGate {
    public var progress: @Sendable (String) -> Void

    public init(progress: @escaping @Sendable (String) -> Void) { self.progress = progress }

    /// The DNS updates, hooks and visibility checks wait, on a thread of their own.
    public func step(_ subject: RolloverSubject, wantRenewal: Bool, reuseKey: Bool, keepRetiring: Bool, now: Date) async -> RolloverVerdict {
        await onOwnThread { self.stepHere(subject, wantRenewal: wantRenewal, reuseKey: reuseKey, keepRetiring: keepRetiring, now: now) }
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
            case nil: return .proceed(nil, nextStep: outcome.nextStep)
            case .renew(let key): return .proceed(key.map(RolloverKey.pinned), nextStep: outcome.nextStep)
            case .renewReusingKey(let warning): return .proceed(.reuseCurrent(warning: warning), nextStep: outcome.nextStep)
            case .hold(let until, let reason): return .hold(until: until, reason: reason, nextStep: outcome.nextStep)
            }
        } catch {
            return .failed(error)
        }
    }
}
