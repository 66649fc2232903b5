import ACME
import ACMECrypto
import Base
import CertStore
import Synchronization

/// `acme issue` as one call, also what `acme provision --issue-if-missing` and the daemon use:
/// takes the config directory's lock, connects to the CA, prints the Certificate Transparency
/// notice once the CA is really contacted (public CAs only), runs the request's hooks in
/// certbot's order (pre before contacting the CA, deploy after a new certificate, post after
/// any attempt, also a failed one), and issues through `Issuer`.
public struct IssueWorkflow: Sendable {
    public var makeClient: ACMEClientFactory
    public var progress: EventSink
    /// Run the request's saved hooks (`acme issue`); provisioning leaves them to renewals.
    public var runHooks = true
    /// Say that the names go to public CT logs (not with --quiet).
    public var transparencyNotice = true
    /// Called once if the config directory is locked by another run.
    public var waiting: @Sendable () -> Void = {}

    public init(makeClient: @escaping ACMEClientFactory, progress: @escaping EventSink) {
        self.makeClient = makeClient
        self.progress = progress
    }

    public func run(_ request: IssueRequest) async throws -> IssueResult {
        try await session(request) { issuer, client, request, deployed in
            var result = try await issueOne(request, issuer: issuer)
            await deployed(result, request)
            result.requestCount = await client.requestCount
            return result
        }
    }

    /// `acme issue --key-type ecdsa,rsa`: the ECDSA certificate (`request`, lineage `<name>`),
    /// then the RSA one for the same names (lineage `<name>-rsa`), in one run with one client,
    /// so that the second order finds the authorizations the first validated (if the CA reuses
    /// them; otherwise it validates again). Both confs record the pair (`KeyPairing`). When the
    /// RSA order fails, the ECDSA lineage stays and `PairIncompleteError` says what is missing.
    public func runPair(_ request: IssueRequest, rsaKeyType: KeyType) async throws -> IssuePairResult {
        guard request.keyType.isECDSA, !rsaKeyType.isECDSA else {
            throw IssuanceError(.invalidKeyTypePair, "a pair is one ECDSA and one RSA key type, not \(request.keyType) and \(rsaKeyType)")
        }
        let ecdsaName = request.certName ?? KeyPairing.defaultName(firstDomain: request.names[0])
        let rsaName = KeyPairing.rsaLineageName(for: ecdsaName)
        try validatePathComponent(rsaName, what: "certificate name")
        let progress = progress
        return try await session(request) { issuer, client, prepared, deployed in
            var ecdsa = prepared
            ecdsa.certName = ecdsaName
            ecdsa.pairedLineage = rsaName
            var rsa = prepared
            rsa.keyType = rsaKeyType
            rsa.certName = rsaName
            rsa.pairedLineage = ecdsaName
            let store = LineageStore(configDirectory: request.configDirectory)
            try KeyPairing.checkFamilies(ecdsaName: ecdsaName, rsaName: rsaName, store: store)
            progress("ECDSA certificate (\(request.keyType)), lineage \(ecdsaName)")
            var first = try await issueOne(ecdsa, issuer: issuer)
            first.requestCount = await client.requestCount
            await deployed(first, ecdsa)
            if case .notDue = first.outcome, let lineage = try store.lineage(named: ecdsaName),
               try KeyPairing.record(partner: rsaName, in: lineage, store: store) {
                progress("recorded in \(lineage.renewalConfigPath) that \(rsaName) is its RSA pair")
            }
            progress("RSA certificate (\(rsaKeyType)), lineage \(rsaName): a second order for the same names")
            var second: IssueResult
            do {
                second = try await issueOne(rsa, issuer: issuer)
            } catch {
                throw PairIncompleteError(underlying: error, ecdsaLineage: ecdsaName, rsaLineage: rsaName)
            }
            second.requestCount = await client.requestCount - first.requestCount
            await deployed(second, rsa)
            if case .notDue = second.outcome, let lineage = try store.lineage(named: rsaName),
               try KeyPairing.record(partner: ecdsaName, in: lineage, store: store) {
                progress("recorded in \(lineage.renewalConfigPath) that \(ecdsaName) is its ECDSA pair")
            }
            if second.validatedNames > 0, first.validatedNames > 0 {
                progress("the CA did not reuse the authorizations of the ECDSA order, so the names were validated again for the RSA certificate (correct, only slower)")
            } else if second.validatedNames == 0, first.validatedNames > 0 {
                progress("the RSA order reused the authorizations validated for the ECDSA one")
            }
            return IssuePairResult(ecdsa: first, rsa: second)
        }
    }

    /// One certificate: with key records (DANE), a renewal here keeps the current key (a key whose
    /// record is not published is never deployed; acme renew changes keys through the rollover,
    /// Docs/DANE.md), and the key's records are published before the deploy hook installs it.
    private func issueOne(_ request: IssueRequest, issuer: Issuer) async throws -> IssueResult {
        var request = request
        if request.keyRecords != nil, request.pinnedKey == nil, !request.dryRun,
           let existing = try LineageStore(configDirectory: request.configDirectory).lineage(named: request.certName ?? request.names[0]),
           FS.exists(existing.privkeyPath) {
            request.pinnedKey = try existing.liveKey()
        }
        let result = try await issuer.issue(request)
        if let records = request.keyRecords, result.outcome != .dryRun {
            // DNS updates, hooks and visibility checks wait: on a thread of their own.
            try await onOwnThread(throwing: { [request, progress] in
                let lineage = try LineageStore(configDirectory: request.configDirectory).existingLineage(named: result.lineageName)
                try records.publish(for: lineage, request: request, progress: progress)
            })
        }
        return result
    }

    /// One run: the lock, one client, the CT notice and the pre hook once before the CA is first
    /// contacted, the post hook after any attempt; `body` issues and calls `deployed` for each
    /// result (the deploy hook after a new certificate).
    private func session<T: Sendable>(
        _ request: IssueRequest,
        _ body: (Issuer, ACMEClient, IssueRequest, _ deployed: (IssueResult, IssueRequest) async -> Void) async throws -> T
    ) async throws -> T {
        let client = try makeClient(request.caServer)
        let lock = try await ConfigLock.acquire(configDirectory: request.configDirectory, create: true, waiting: waiting)
        defer { lock.release() }

        let hooks = runHooks ? HookPlan(runner: HookRunner(configDirectory: request.configDirectory, useDirectoryHooks: false,
                                                          report: progress)) : nil
        let notice = transparencyNotice && TransparencyNotice.applies(server: request.server, caBundle: request.caBundle)
            ? TransparencyNotice.text(names: request.names) : nil
        var request = request
        let pre = request.hooks.pre.map { [$0] } ?? []
        let progress = progress
        let contacted = Mutex(false)
        request.beforeContactingCA = {
            // Once per run, also when a pair makes two orders.
            guard contacted.withLock({ done in defer { done = true }; return !done }) else { return }
            if let notice { progress(.notice(notice)) }
            await hooks?.beforeContactingCA(pre: pre)
        }
        let issuer = Issuer(client: client, progress: progress)
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body(issuer, client, request) { result, request in
                switch result.outcome {
                case .issued, .renewed:
                    await hooks?.deployed(request.hooks.deploy.map { [$0] } ?? [], livePath: result.livePath, names: result.names,
                                          lineage: result.lineageName)
                case .notDue, .dryRun:
                    break
                }
            })
        } catch {
            outcome = .failure(error)
        }
        // As certbot: the post hook runs after any attempt, also a failed one.
        await hooks?.finish(post: request.hooks.post.map { [$0] } ?? [])
        return try outcome.get()
    }
}

/// What `acme issue --key-type ecdsa,rsa` did: the ECDSA lineage's result, then the RSA one's
/// (each with the requests of its own order and the names the CA validated for it).
public struct IssuePairResult: Sendable {
    public var ecdsa: IssueResult
    public var rsa: IssueResult
    /// Requests sent to the CA for both.
    public var requestCount: Int { ecdsa.requestCount + rsa.requestCount }
}
