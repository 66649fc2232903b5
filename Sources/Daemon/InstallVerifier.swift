import ACMECrypto
import Base
import Check
import FoundationEssentials
import Provision

/// After an install and reload: do the daemons serve the new certificate? If not, the set
/// that was live before goes back, the daemons reload again, and that is verified too.
/// `acme provision --verify` and `acme daemon` both end an install here.
public struct InstallVerifier: Sendable {
    /// nil: the standard mail endpoints found listening on 127.0.0.1.
    public var endpoints: [Endpoint]?
    /// Trust anchors for the chain; nil: the system's, or the installed cacert.pem (self-signed).
    public var caFile: String?
    public var timeout: Duration = .seconds(30)

    public init(endpoints: [Endpoint]? = nil, caFile: String? = nil) {
        self.endpoints = endpoints
        self.caFile = caFile
    }

    public enum Outcome: Sendable {
        /// Nothing to ask: no endpoint configured or listening, or nothing installed (plaintext).
        case nothingToCheck(String)
        case served([ServedCheck.Result])
        /// Not served; the previous set is live again (`restored` says whether it is served).
        case rolledBack(failed: [ServedCheck.Result], restored: [ServedCheck.Result], heldBack: String?)
        /// Not served and nothing to go back to (the first install, or the old set is gone).
        case notServed([ServedCheck.Result], reason: String)

        public var ok: Bool { problem == nil }

        /// What went wrong, in one line (nil when served or nothing to check).
        public var problem: String? {
            switch self {
            case .nothingToCheck, .served:
                nil
            case .rolledBack(let failed, let restored, _):
                "not served: \(failed.summary); the previous certificate was put back"
                    + (restored.allSatisfy(\.ok) ? " and is served" : " but is not served either: \(restored.summary)")
            case .notServed(let failed, let reason):
                "not served: \(failed.summary) (no rollback: \(reason))"
            }
        }
    }

    /// Verifies what is installed under the settings' TLS directory; `report` is the install
    /// that just ran (nil: only verify, never roll back).
    public func verify(settings: ProvisionSettings, after report: Provisioner.Report?) async -> Outcome {
        let paths = InstalledPaths(tlsDir: settings.tlsDir)
        guard FS.exists(paths.chain) else { return .nothingToCheck("nothing is installed in \(settings.tlsDir) (no TLS)") }
        let found = endpoints ?? ServedCheck.listening()
        guard !found.isEmpty else {
            return .nothingToCheck("no mail endpoint listens on 127.0.0.1 (ports 25, 587, 465, 143, 993, 110, 995); name them with --endpoint")
        }
        let expected: (primary: String, rsa: String?)
        do {
            expected = try Self.installedFingerprints(paths)
        } catch {
            return .notServed([], reason: "cannot read the installed certificate \(paths.chain): \(error)")
        }
        var check = ServedCheck(endpoints: found, serverName: settings.fqdn,
                                caFile: caFile ?? (FS.exists(paths.caCertificate) ? paths.caCertificate : nil))
        check.timeout = timeout
        let results = await check.waitUntilServed(fingerprint: expected.primary, rsaFallback: expected.rsa)
        if results.allSatisfy(\.ok) { return .served(results) }
        let failed = results.filter { !$0.ok }
        guard let report, report.installedSet != nil, let previous = report.previousSet else {
            return .notServed(failed, reason: report?.installedSet == nil ? "the installed set was not changed now" : "there is no earlier set to go back to")
        }
        do {
            _ = try await Provisioner(settings: settings).restore(set: previous)
        } catch {
            return .notServed(failed, reason: "the rollback failed: \(error)")
        }
        var restored: [ServedCheck.Result]
        do {
            let restoredSet = try Self.installedFingerprints(paths)
            restored = await check.waitUntilServed(fingerprint: restoredSet.primary, rsaFallback: restoredSet.rsa)
        } catch {
            restored = [ServedCheck.Result(endpoint: paths.chain, ok: false, detail: "cannot read the restored certificate: \(error)", sha256: nil)]
        }
        return .rolledBack(failed: failed, restored: restored, heldBack: report.setDigest)
    }
}

extension InstallVerifier {
    /// The SHA-256 of the leaf every client is served and, when an ALT pair of the other key type
    /// is installed, of the RSA leaf that clients without ECDSA must be served instead (the
    /// daemons give ECDSA to those who can use it, whichever of the two is the primary).
    static func installedFingerprints(_ paths: InstalledPaths) throws -> (primary: String, rsa: String?) {
        guard let leaf = try Certificate.chain(file: paths.chain).first else { throw CryptoError(.invalidCertificate, "\(paths.chain) holds no certificate") }
        guard FS.exists(paths.altChain) else { return (leaf.fingerprint, nil) }
        guard let alt = try Certificate.chain(file: paths.altChain).first else { throw CryptoError(.invalidCertificate, "\(paths.altChain) holds no certificate") }
        let (leafIsRSA, altIsRSA) = (leaf.keyDescription().hasPrefix("RSA"), alt.keyDescription().hasPrefix("RSA"))
        switch (leafIsRSA, altIsRSA) {
        case (false, true): return (leaf.fingerprint, alt.fingerprint)
        case (true, false): return (alt.fingerprint, leaf.fingerprint)
        default: return (leaf.fingerprint, nil)  // not an ECDSA + RSA pair: only the primary is checked
        }
    }
}

extension [ServedCheck.Result] {
    /// "smtp://127.0.0.1:25: serves another certificate (…); imaps://…"
    public var summary: String { map { "\($0.endpoint): \($0.detail)" }.joined(separator: "; ") }
}
