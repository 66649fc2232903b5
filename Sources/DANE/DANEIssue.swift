import Base
import CertStore
import FoundationEssentials
import Issuance

/// `acme issue --dane`: the settings go in the request (`IssueRequest.keyRecords`) and are
/// applied once the certificate is in place.
extension DANESettings: KeyRecords {
    /// Saves the DANE settings in the lineage's renewal conf and publishes its records: the live
    /// key's and, when keys change on renewal, the next key's, so that its record has long been
    /// visible when the renewal comes (Docs/DANE.md).
    public func publish(for lineage: Lineage, request: IssueRequest, progress: @escaping EventSink) throws {
        let store = LineageStore(configDirectory: request.configDirectory)
        var config = try store.renewalConfig(of: lineage)
        config.renewalParams = merged(into: config.renewalParams)
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: FS.mode(lineage.renewalConfigPath) ?? 0o644)
        if usage == 2 {
            progress(.warning("DANE-TA (2 1 1) pins the issuing CA's key: when the CA changes its intermediate, the record no longer matches until acme renew publishes the new one; 3 1 1 (the default) does not have this problem"))
        }
        let certificate = try lineage.liveCertificate()
        let reuses = try request.reuseKey || RenewalParams.reusesKey(config, path: lineage.renewalConfigPath)
        let rollover = DANERollover(lineage: lineage, settings: self, reuseKey: reuses, keyType: request.keyType, progress: progress)
        _ = try rollover.advance(wantRenewal: false, notBefore: certificate.notBefore, notAfter: certificate.notAfter, now: Date())
    }
}
