#if canImport(Glibc)
import Glibc
#endif
import ACME
import ACMECrypto
import CertStore
import Challenges

/// `acme issue`: account, order, challenges, and a certbot-compatible lineage on disk.
public struct Issuer: Sendable {
    public var client: ACMEClient
    public var progress: @Sendable (String) -> Void

    public init(client: ACMEClient, progress: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.progress = progress
    }

    public func issue(_ request: IssueRequest) async throws -> IssueResult {
        let names = request.names
        // Wildcards need DNS-01 (RFC 8555 §7.1.3).
        let dnsChallenge: Bool
        switch request.challenge {
        case .dnsHook: dnsChallenge = true
        case .certbotManual(_, _, let challenge): dnsChallenge = challenge == "dns-01"
        default: dnsChallenge = false
        }
        if !dnsChallenge, let wildcard = names.first(where: { $0.hasPrefix("*.") }) {
            throw IssuanceError("\(wildcard) is a wildcard name, and CAs validate wildcards only with DNS-01: pass --dns-hook SCRIPT (see Docs/DNS-01.md), or list the exact names instead", usage: true)
        }
        let lineages = LineageStore(configDirectory: request.configDirectory)

        // An existing lineage: the one named, else the one with exactly these names.
        let existing = try findLineage(lineages, request: request)
        if let (lineage, certificate) = existing, !request.forceRenewal {
            let due = RenewalWindow().dueDate(notBefore: certificate.notBefore, notAfter: certificate.notAfter)
            if Set(certificate.dnsNames.map { $0.lowercased() }) == Set(names), Date() < due {
                return IssueResult(outcome: .notDue(until: due), lineageName: lineage.name, livePath: lineage.livePath,
                                   notAfter: certificate.notAfter, names: names)
            }
        }

        request.beforeContactingCA?()
        let accounts = AccountResolver(configDirectory: request.configDirectory, client: client,
                                       server: request.server, progress: progress)
        let account = try await accounts.resolve(request.registration, id: request.accountID)
        let profile = try await chooseProfile(request.profile)

        let solver: any ChallengeSolver
        switch request.challenge {
        case .standalone(let address, let port):
            solver = StandaloneSolver(address: address, port: port)
        case .webroot(let path):
            solver = try WebrootChallengeSolver(root: path)
        case .webrootMap(let map, let root):
            solver = try WebrootChallengeSolver(map: map, default: root)
        case .tlsALPN(let address, let port):
            solver = try TLSALPNSolver(address: address, port: port)
        case .certbotManual(let auth, let cleanup, let challenge):
            solver = ManualHookSolver(challengeType: challenge, authHook: auth, cleanupHook: cleanup, allDomains: names, progress: progress)
        case .dnsHook(let script, let seconds, let resolver):
            solver = DNS01HookSolver(script: script, propagationWait: .seconds(seconds),
                                     resolver: try resolver.map { try TXTLookup(resolver: $0) }, progress: progress)
        }

        let key = try certificateKey(request, existing: existing?.0)
        let csr = try CSR.der(names: names, key: key)
        let flow = OrderFlow(client: client, credentials: account.credentials, solver: solver, progress: progress)
        let result = try await flow.run(names: names, csr: csr, profile: profile, replaces: request.replaces,
                                        preferredChain: request.preferredChain)

        let files = try Self.lineageFiles(chainPEM: result.chainPEM, key: key)
        let leaf = try Certificate(pem: files.cert)
        if request.dryRun {
            progress("dry run: obtained a certificate for \(names.joined(separator: ", ")) and saved nothing")
            return IssueResult(outcome: .dryRun, lineageName: existing?.0.name ?? names[0], livePath: existing?.0.livePath ?? "",
                               notAfter: leaf.notAfter, names: names)
        }
        var params = renewalParams(request, accountID: account.stored.id)
        if let (lineage, _) = existing {
            // Finish or undo what an interrupted run left before adding a version on top of it.
            if lineages.needsRepair(lineage) {
                for action in try lineages.repair(lineage, pairMatches: Self.keyMatchesCertificate) { progress(action) }
            }
            // Keep what certbot (or a plugin) saved that we do not manage.
            let ours = Set(params.map(\.key) + Self.managedParams)
            let kept = ((try? lineages.renewalConfig(of: lineage))?.renewalParams ?? []).filter { !ours.contains($0.key) }
            params = kept + params
            try lineages.addVersion(to: lineage, files: files, renewalParams: params, version: request.toolVersion)
            // The prepared key is now the live key; the next renewal needs another one.
            if !request.reuseKey, FS.exists(lineage.nextKeyPath) { unlink(lineage.nextKeyPath) }
            let version = try lineages.currentVersion(of: lineage)
            progress("saved to \(lineage.livePath)/ (version \(version))")
            return IssueResult(outcome: .renewed(version: version), lineageName: lineage.name, livePath: lineage.livePath,
                               notAfter: leaf.notAfter, names: names)
        }
        let name = try lineages.chooseName(preferred: request.certName, firstDomain: names[0])
        let lineage = try lineages.create(name: name, files: files, renewalParams: params, version: request.toolVersion)
        progress("saved to \(lineage.livePath)/")
        return IssueResult(outcome: .issued, lineageName: lineage.name, livePath: lineage.livePath,
                           notAfter: leaf.notAfter, names: names)
    }

    /// Params this tool writes whenever it applies; absent ones are cleared on renewal.
    static let managedParams = ["account", "server", "authenticator", "http01_port", "http01_address", "webroot_path",
                                "key_type", "rsa_key_size", "elliptic_curve", "preferred_chain", "ca_bundle",
                                "preferred_profile", "required_profile", "reuse_key", "pre_hook", "post_hook", "renew_hook",
                                "acme_dns_hook", "acme_dns_propagation_wait", "acme_dns_resolver",
                                "tls_alpn_01_port", "tls_alpn_01_address", "manual_auth_hook", "manual_cleanup_hook", "pref_challs"]

    /// The profile to ask for: a preferred one only if the directory lists it, a required one or fail.
    private func chooseProfile(_ choice: ProfileChoice?) async throws -> String? {
        guard let choice else { return nil }
        let offered = try await client.directory().meta?.profiles ?? [:]
        if offered[choice.name] != nil { return choice.name }
        let list = offered.isEmpty ? "none" : offered.keys.sorted().joined(separator: ", ")
        if case .required = choice {
            throw IssuanceError("the CA does not offer the required profile \(choice.name) (it offers: \(list)); choose one of those or drop --required-profile", usage: true)
        }
        progress("the CA does not offer profile \(choice.name) (it offers: \(list)); using its default")
        return nil
    }

    /// A new key, the one made in advance for the next renewal (`acme tlsa --next`), or with
    /// `reuseKey` the lineage's current one.
    private func certificateKey(_ request: IssueRequest, existing: Lineage?) throws -> PrivateKey {
        guard let existing else { return try PrivateKey.generate(request.keyType) }
        if !request.reuseKey {
            guard FS.exists(existing.nextKeyPath) else { return try PrivateKey.generate(request.keyType) }
            if let next = try? PrivateKey(pem: try FS.read(existing.nextKeyPath)), next.type == request.keyType {
                progress("using the key prepared for this renewal (its TLSA record was printed by acme tlsa --next)")
                return next
            }
            progress("ignoring \(existing.nextKeyPath): it is not a \(request.keyType) key; a new key is made")
            return try PrivateKey.generate(request.keyType)
        }
        do {
            return try PrivateKey(pem: try FS.read(existing.privkeyPath))
        } catch {
            throw IssuanceError("--reuse-key: cannot read the current key \(existing.privkeyPath): \(error)")
        }
    }

    private func findLineage(_ store: LineageStore, request: IssueRequest) throws -> (Lineage, Certificate)? {
        if let certName = request.certName {
            try validatePathComponent(certName, what: "certificate name")
            guard let lineage = try store.lineage(named: certName) else { return nil }
            return (lineage, try liveCertificate(store, lineage))
        }
        // Several lineages may hold the same names (an ECDSA one and an RSA one for a
        // mail server's dual certificates): renew the one of the requested key family,
        // preferring the one named after the first name, never silently switching an
        // RSA lineage to ECDSA or back.
        let wanted = Set(request.names)
        let wantECDSA = request.keyType.isECDSA
        var best: (lineage: Lineage, cert: Certificate, rank: Int)?
        for lineage in try store.allLineages() {
            guard let cert = try? liveCertificate(store, lineage), Set(cert.dnsNames.map { $0.lowercased() }) == wanted else { continue }
            let liveKey = (try? FS.read(lineage.privkeyPath)).flatMap { try? PrivateKey(pem: $0) }
            let rank = (liveKey.map { $0.type.isECDSA == wantECDSA } ?? false ? 2 : 0) + (lineage.name == request.names[0] ? 1 : 0)
            if rank > (best?.rank ?? -1) { best = (lineage, cert, rank) }
        }
        guard let best else { return nil }
        if best.rank < 2 {
            throw IssuanceError("lineage \(best.lineage.name) holds these names with another key type than --key-type \(request.keyType); pass --cert-name \(best.lineage.name) to change its key type, or --cert-name NEW for a second lineage", usage: true)
        }
        return (best.lineage, best.cert)
    }

    private func liveCertificate(_ store: LineageStore, _ lineage: Lineage) throws -> Certificate {
        do {
            return try Certificate(pem: try store.readLive(lineage).cert)
        } catch {
            throw IssuanceError("cannot read the certificate of lineage \(lineage.name) (\(lineage.certPath)): \(error)")
        }
    }

    /// Whether a PEM private key belongs to a PEM certificate (for `LineageStore.repair`).
    public static func keyMatchesCertificate(_ keyPEM: String, _ certPEM: String) -> Bool {
        guard let key = try? PrivateKey(pem: keyPEM), let cert = try? Certificate(pem: certPEM) else { return false }
        return cert.matches(key)
    }

    /// Splits the CA's chain into certbot's four files; the leaf must match our key.
    static func lineageFiles(chainPEM: String, key: PrivateKey) throws -> LineageFiles {
        let chain = try Certificate.chain(pem: chainPEM)
        guard let leaf = chain.first, leaf.matches(key) else {
            throw IssuanceError("the CA returned a certificate that does not match the private key we sent; nothing was saved")
        }
        let rest = chain.dropFirst().map(\.pem).joined()
        return LineageFiles(cert: leaf.pem, chain: rest, fullchain: leaf.pem + rest, privkey: try key.pemPKCS8())
    }

    /// The `[renewalparams]` certbot writes, so that certbot and `acme renew` can renew the lineage.
    func renewalParams(_ request: IssueRequest, accountID: String) -> [(key: String, value: String)] {
        var params: [(key: String, value: String)] = [("account", accountID), ("server", request.server)]
        switch request.challenge {
        case .standalone(let address, let port):
            params.append(("authenticator", "standalone"))
            params.append(("http01_port", String(port)))
            if let address { params.append(("http01_address", address)) }
        case .webroot(let path):
            params.append(("authenticator", "webroot"))
            params.append(("webroot_path", path + ","))
        case .webrootMap(_, let root):
            params.append(("authenticator", "webroot"))
            if let root { params.append(("webroot_path", root + ",")) }
        case .certbotManual(let auth, let cleanup, let challenge):
            params.append(("authenticator", "manual"))
            params.append(("manual_auth_hook", auth))
            if let cleanup { params.append(("manual_cleanup_hook", cleanup)) }
            params.append(("pref_challs", challenge + ","))
        case .tlsALPN(let address, let port):
            params.append(("authenticator", "acme-tls-alpn"))
            params.append(("tls_alpn_01_port", String(port)))
            if let address { params.append(("tls_alpn_01_address", address)) }
        case .dnsHook(let script, let seconds, let resolver):
            params.append(("authenticator", "acme-dns-hook"))
            params.append(("acme_dns_hook", script))
            params.append(("acme_dns_propagation_wait", String(seconds)))
            if let resolver { params.append(("acme_dns_resolver", resolver)) }
        }
        switch request.keyType {
        case .ecdsa(let curve):
            params.append(("key_type", "ecdsa"))
            params.append(("elliptic_curve", curve == .p384 ? "secp384r1" : "secp256r1"))
        case .rsa(let bits):
            params.append(("key_type", "rsa"))
            params.append(("rsa_key_size", String(bits)))
        }
        if let chain = request.preferredChain { params.append(("preferred_chain", chain)) }
        if let bundle = request.caBundle { params.append(("ca_bundle", bundle)) }
        switch request.profile {
        case .preferred(let name): params.append(("preferred_profile", name))
        case .required(let name): params.append(("required_profile", name))
        case nil: break
        }
        if request.reuseKey { params.append(("reuse_key", "True")) }
        if let hook = request.hooks.pre { params.append(("pre_hook", hook)) }
        if let hook = request.hooks.post { params.append(("post_hook", hook)) }
        if let hook = request.hooks.deploy { params.append(("renew_hook", hook)) }
        return params
    }
}
