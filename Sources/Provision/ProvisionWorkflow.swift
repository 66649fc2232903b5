import ACMECrypto
import Base
import Issuance

/// `acme provision` as one call (and the daemon's start): check and install what the sources
/// hold; with `issueIfMissing`, issue a certificate for the FQDN first when there is none at all.
public struct ProvisionWorkflow: Sendable {
    public var settings: ProvisionSettings
    public var dryRun = false
    /// The issuance to run when no usable certificate exists (`--issue-if-missing`, letsencrypt only):
    /// its names are replaced by the FQDN.
    public var issueIfMissing: (request: IssueRequest, workflow: IssueWorkflow)?
    /// With `issueIfMissing`: also an RSA certificate of this type beside the request's ECDSA one
    /// (`--key-type ecdsa,rsa`: lineages `<fqdn>` and `<fqdn>-rsa`, installed as primary and ALT pair).
    public var issuePairRSAKeyType: KeyType?
    public var progress: EventSink
    /// A file set not to install again (see `Provisioner.heldBack`).
    public var heldBack: String?

    public init(settings: ProvisionSettings, progress: @escaping EventSink) {
        self.settings = settings
        self.progress = progress
    }

    public func run() async throws -> Provisioner.Report {
        var provisioner = Provisioner(settings: settings)
        provisioner.heldBack = heldBack
        do {
            return try await provisioner.run(dryRun: dryRun)
        } catch let error as ProvisionError where error.code == .noUsableCertificate && !dryRun {
            guard let (template, workflow) = issueIfMissing else { throw error }
            progress("no usable certificate for \(settings.fqdn); issuing one")
            var request = template
            request.names = try DomainName.normalize(all: [settings.fqdn])
            request.writableDirectories.append((settings.tlsDir, "TLS directory"))
            if let rsa = issuePairRSAKeyType {
                _ = try await workflow.runPair(request, rsaKeyType: rsa)
            } else {
                _ = try await workflow.run(request)
            }
            return try await provisioner.run(dryRun: false)
        }
    }

    /// Runs every `interval` until cancelled: each round's report goes to `report` (`first` is
    /// true for the first round), a refused round's error to `failed`, and what is installed stays.
    public func watch(interval: Duration, report: (Provisioner.Report, _ first: Bool) -> Void,
                      failed: (any Error) -> Void) async throws {
        var first = true
        while true {
            do {
                report(try await run(), first)
                first = false
            } catch {
                failed(error)
            }
            try await Task.sleep(for: interval)
        }
    }
}
