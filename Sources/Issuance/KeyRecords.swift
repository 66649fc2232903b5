import Base
import CertStore

/// Records of a lineage's key that live in DNS beside its certificate (DANE's TLSA records:
/// `DANESettings` in the DANE module, which sits above Issuance). `acme issue` passes them in
/// the request; `IssueWorkflow` keeps the current key when it renews such a lineage and calls
/// `publish` once the certificate is in place.
public protocol KeyRecords: Sendable {
    /// Saves the settings in the lineage's renewal conf and publishes the records its live key
    /// (and the next key, where keys change) needs. Called on a thread of its own, not on a dry run.
    func publish(for lineage: Lineage, request: IssueRequest, progress: @escaping EventSink) throws
}
