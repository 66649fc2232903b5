import ACME
import Base
import ACMECrypto
import CertStore

/// `acme issue` as one call, also what `acme provision --issue-if-missing` and the daemon use:
/// takes the config directory's lock, connects to the CA, prints the Certificate Transparency
/// notice once the CA is really contacted (public CAs only), runs the request's hooks in
/// certbot's order (pre before contacting the CA, deploy after a new certificate, post after
/// any attempt, also a failed one), and issues through `Issuer`.
public struct IssueWorkflow: Sendable {
    public var makeClient: ACMEClientFactory
    public var progress: @Sendable (String) -> Void
    /// Run the request's saved hooks (`acme issue`); provisioning leaves them to renewals.
    public var runHooks = true
    /// Say that the names go to public CT logs (not with --quiet).
    public var transparencyNotice = true
    /// Called once if the config directory is locked by another run.
    public var waiting: @Sendable () -> Void = {}

    public init(makeClient: @escaping ACMEClientFactory, progress: @escaping @Sendable (String) -> Void) {
        self.makeClient = makeClient
        self.progress = progress
    }

    public func run(_ request: IssueRequest) async throws -> IssueResult {
        let client = try makeClient(request.caServer)
        let lock = try ConfigLock.acquire(configDirectory: request.configDirectory, create: true, waiting: waiting)
        defer { withExtendedLifetime(lock) {} }

        let hooks = runHooks ? HookPlan(runner: HookRunner(configDirectory: request.configDirectory, useDirectoryHooks: false,
                                                          report: progress)) : nil
        let notice = transparencyNotice && TransparencyNotice.applies(server: request.server, caBundle: request.caBundle)
            ? TransparencyNotice.text(names: request.names) : nil
        var request = request
        let pre = request.hooks.pre.map { [$0] } ?? []
        let progress = progress
        request.beforeContactingCA = {
            if let notice { progress(notice) }
            hooks?.beforeContactingCA(pre: pre)
        }
        // As certbot: the post hook runs after any attempt, also a failed one.
        defer { hooks?.finish(post: request.hooks.post.map { [$0] } ?? []) }
        if request.dane != nil, request.pinnedKey == nil, !request.dryRun,
           let existing = try LineageStore(configDirectory: request.configDirectory).lineage(named: request.certName ?? request.names[0]),
           FS.exists(existing.privkeyPath) {
            // DANE: a key whose record is not published is never deployed. A renewal here keeps the
            // current key; acme renew changes keys through the rollover (Docs/DANE.md).
            request.pinnedKey = try PrivateKey(file: existing.privkeyPath)
        }
        var result = try await Issuer(client: client, progress: progress).issue(request)
        // The key's TLSA record is published before the deploy hook installs the certificate.
        if let dane = request.dane, result.outcome != .dryRun {
            try enableDANE(dane, lineageName: result.lineageName, request: request)
        }
        switch result.outcome {
        case .issued, .renewed:
            hooks?.deployed(request.hooks.deploy.map { [$0] } ?? [], livePath: result.livePath, names: result.names,
                            lineage: result.lineageName)
        case .notDue, .dryRun:
            break
        }
        result.requestCount = await client.requestCount
        return result
    }

    /// Saves the DANE settings in the lineage's renewal conf and publishes its records: the live
    /// key's and, when keys change on renewal, the next key's, so that its record has long been
    /// visible when the renewal comes (Docs/DANE.md).
    private func enableDANE(_ dane: DANESettings, lineageName: String, request: IssueRequest) throws {
        let store = LineageStore(configDirectory: request.configDirectory)
        let lineage = try store.existingLineage(named: lineageName)
        var config = try store.renewalConfig(of: lineage)
        config.renewalParams = dane.merged(into: config.renewalParams)
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: FS.mode(lineage.renewalConfigPath) ?? 0o644)
        if dane.usage == 2 {
            progress("warning: DANE-TA (2 1 1) pins the issuing CA's key: when the CA changes its intermediate, the record no longer matches until acme renew publishes the new one; 3 1 1 (the default) does not have this problem")
        }
        let certificate = try Certificate(file: lineage.certPath)
        let reuses = try request.reuseKey || RenewalParams.reusesKey(config, path: lineage.renewalConfigPath)
        let rollover = DANERollover(lineage: lineage, settings: dane, reuseKey: reuses,
                                    keyType: request.keyType, progress: progress)
        _ = try rollover.advance(wantRenewal: false, notBefore: certificate.notBefore, notAfter: certificate.notAfter, now: Date())
    }
}
