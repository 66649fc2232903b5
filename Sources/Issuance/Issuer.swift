import Base
import ACME
import ACMECrypto
import CertStore
import Challenges

/// `acme issue`: account, order, challenges, and a certbot-compatible lineage on disk.
public struct Issuer: Sendable {
    public var client: ACMEClient
    public var progress: EventSink

    public init(client: ACMEClient, progress: @escaping EventSink) {
        self.client = client
        self.progress = progress
    }

    public func issue(_ request: IssueRequest) async throws -> IssueResult {
        let names = request.names
        // Wildcards need DNS-01 (RFC 8555 §7.1.3).
        if !request.challenge.validatesDNS, let wildcard = names.first(where: { $0.hasPrefix("*.") }) {
            throw IssuanceError(.wildcardNeedsDNS, "\(wildcard) is a wildcard name, and CAs validate wildcards only with DNS-01: give \(SettingName.dnsUpdateServer) with \(SettingName.tsigKey), or \(SettingName.dnsHook) (see Docs/DNS-01.md), or list the exact names instead")
        }
        try request.challenge.validate()
        let lineages = LineageStore(configDirectory: request.configDirectory)
        // A first issuance that died half-way is finished or removed, never forked as <name>-0001.
        for action in try lineages.finishInterruptedCreations(pairMatches: Self.keyMatchesCertificate) { progress(Event(action)) }

        // An existing lineage: the one named, else the one with exactly these names.
        let existing = try findLineage(lineages, request: request)
        if let (lineage, certificate) = existing, !request.forceRenewal {
            let due = RenewalWindow().dueDate(notBefore: certificate.notBefore, notAfter: certificate.notAfter)
            if Set(certificate.dnsNames.map { $0.lowercased() }) == Set(names), Date() < due {
                return IssueResult(outcome: .notDue(until: due), lineageName: lineage.name, livePath: lineage.livePath,
                                   notAfter: certificate.notAfter, names: names)
            }
        }

        if let existing, !request.dryRun, let promoted = try promoteHeld(request, existing: existing, lineages: lineages) {
            return promoted
        }
        if !request.dryRun {
            // A full or read-only disk must not cost the CA an order (and the account its limits).
            try DiskRoom.require(request.configDirectory, setting: "config directory")
            for (path, setting) in request.writableDirectories { try DiskRoom.require(path, setting: setting) }
        }
        await request.beforeContactingCA?()
        let accounts = AccountService(configDirectory: request.configDirectory, client: client,
                                      server: request.server, progress: progress)
        let account = try await accounts.resolve(request.registration, id: request.accountID)
        let profile = try await chooseProfile(request.profile)
        let solver = try request.solverOverride?(request.challenge, names) ?? request.challenge.makeSolver(names: names, progress: progress)

        let key = try certificateKey(request, existing: existing?.0)
        let csr = try CSR.der(names: names, key: key)
        let flow = OrderFlow(client: client, credentials: account.credentials, solver: solver, progress: progress)
        let result = try await flow.run(names: names, csr: csr, profile: profile, replaces: request.replaces,
                                        preferredChain: request.preferredChain)

        let files = try Self.lineageFiles(chainPEM: result.chainPEM, key: key)
        let leaf = try Certificate(pem: files.cert)
        var issued = try save(request, files: files, key: key, leaf: leaf, existing: existing, lineages: lineages, accountID: account.stored.id)
        issued.validatedNames = result.validatedNames
        return issued
    }

    private func save(_ request: IssueRequest, files: LineageFiles, key: PrivateKey, leaf: Certificate, existing: (Lineage, Certificate)?,
                      lineages: LineageStore, accountID: String) throws -> IssueResult {
        let names = request.names
        if request.dryRun {
            progress("dry run: obtained a certificate for \(names.joined(separator: ", ")) and saved nothing")
            return IssueResult(outcome: .dryRun, lineageName: existing?.0.name ?? names[0], livePath: existing?.0.livePath ?? "",
                               notAfter: leaf.notAfter, names: names)
        }
        let params = RenewalParams(request, accountID: accountID)
        let encoded = params.encoded()
        let clock = ClockDisagreement.check(notBefore: leaf.notBefore, notAfter: leaf.notAfter, now: Date())
        if let clock, let (lineage, live) = existing, ClockDisagreement.check(notBefore: live.notBefore, notAfter: live.notAfter, now: clock.now) == nil {
            // Never replace a working certificate with one this host rejects; no new order while it is held (Renewer).
            try lineages.hold(lineage, privkey: files.privkey, fullchain: files.fullchain)
            throw IssuanceError(.clockDisagreement, "\(lineage.name): \(clock); the current certificate stays (valid until \(live.notAfter.utcText)), the new one is held in \(lineages.heldPaths(lineage).fullchain) and no other is ordered while the current one is valid: set this host's clock right (the held one is installed once it is valid), or renew by force once the CA's clock is right")
        }
        if let (lineage, _) = existing {
            // Finish or undo what an interrupted run left before adding a version on top of it.
            if lineages.needsRepair(lineage) {
                for action in try lineages.repair(lineage, pairMatches: Self.keyMatchesCertificate) { progress(Event(action)) }
            }
            // Keep what certbot (or a plugin) saved that we do not manage.
            let config = try lineages.renewalConfig(of: lineage)
            try lineages.addVersion(to: lineage, files: files, renewalParams: params.merged(into: config.renewalParams),
                                    webrootMap: encoded.webrootMap, version: request.toolVersion)
            if !request.reuseKey, try Self.isPreparedNextKey(key, of: lineage, pinned: request.pinnedKey) { try NextKey.consumed(lineage) }
            let version = try lineages.currentVersion(of: lineage)
            progress("saved to \(lineage.livePath)/ (version \(version))")
            if lineages.held(lineage) != nil {
                do { try lineages.dropHeld(lineage) } catch { progress("cannot remove the held certificate: \(error)") }
            }
            if let clock { throw IssuanceError(.clockDisagreement, "\(lineage.name): \(clock); saved as version \(version) since the previous certificate was not valid either: check this host's clock") }
            return IssueResult(outcome: .renewed(version: version), lineageName: lineage.name, livePath: lineage.livePath,
                               notAfter: leaf.notAfter, names: names)
        }
        let name = try lineages.chooseName(preferred: request.certName, firstDomain: names[0])
        let lineage = try lineages.create(name: name, files: files, renewalParams: encoded.params, webrootMap: encoded.webrootMap,
                                          version: request.toolVersion)
        progress("saved to \(lineage.livePath)/")
        if let clock { throw IssuanceError(.clockDisagreement, "\(lineage.name): \(clock); saved to \(lineage.livePath)/ as there was no certificate to keep: check this host's clock") }
        return IssueResult(outcome: .issued, lineageName: lineage.name, livePath: lineage.livePath,
                           notAfter: leaf.notAfter, names: names)
    }

    /// A certificate held because this host's clock rejected it (`save`), for the request's names
    /// (and its pinned key, with DANE), that the clock now accepts: made live instead of ordering.
    private func promoteHeld(_ request: IssueRequest, existing: (Lineage, Certificate), lineages: LineageStore) throws -> IssueResult? {
        let lineage = existing.0
        guard let held = lineages.held(lineage) else { return nil }
        // Held files that cannot be used are as if none were held: the run orders anew (and replaces them).
        guard let key = try? PrivateKey(pem: held.privkey), let files = try? Self.lineageFiles(chainPEM: held.fullchain, key: key),
              let leaf = try? Certificate(pem: files.cert), Set(leaf.dnsNames.map { $0.lowercased() }) == Set(request.names),
              ClockDisagreement.check(notBefore: leaf.notBefore, notAfter: leaf.notAfter, now: Date()) == nil else { return nil }
        if let pinned = request.pinnedKey, try pinned.publicKeyDER() != key.publicKeyDER() { return nil }
        progress("the certificate held because the clocks disagreed is valid now: installing it instead of ordering another")
        let account = try lineages.renewalConfig(of: lineage)[param: "account"] ?? ""
        return try save(request, files: files, key: key, leaf: leaf, existing: existing, lineages: lineages, accountID: account)
    }

    /// The profile to ask for: a preferred one only if the directory lists it, a required one or fail.
    private func chooseProfile(_ choice: ProfileChoice?) async throws -> String? {
        guard let choice else { return nil }
        let offered = try await client.directory().meta?.profiles ?? [:]
        if offered[choice.name] != nil { return choice.name }
        let list = offered.isEmpty ? "none" : offered.keys.sorted().joined(separator: ", ")
        if case .required = choice {
            throw IssuanceError(.profileUnavailable, "the CA does not offer the required profile \(choice.name) (it offers: \(list)); choose one of those or drop \(SettingName.requiredProfile)")
        }
        progress("the CA does not offer profile \(choice.name) (it offers: \(list)); using its default")
        return nil
    }

    /// Whether `key` used for a renewal is the one prepared for it (then the next renewal needs
    /// another): always when acme chose it, and for a key pinned by the DANE rollover only when it
    /// is that file's key (near expiry the rollover pins the current key and keeps the next one).
    static func isPreparedNextKey(_ key: PrivateKey, of lineage: Lineage, pinned: PrivateKey?) throws -> Bool {
        guard pinned != nil else { return true }
        guard case .usable(let next) = try NextKey.read(lineage, type: key.type) else { return false }
        return try next.publicKeyDER() == key.publicKeyDER()
    }

    /// A new key, the one made in advance for the next renewal (`acme tlsa --next`), or with
    /// `reuseKey` the lineage's current one.
    private func certificateKey(_ request: IssueRequest, existing: Lineage?) throws -> PrivateKey {
        if let pinned = request.pinnedKey { return pinned }
        guard let existing else { return try PrivateKey.generate(request.keyType) }
        if request.reuseKey {
            do {
                return try existing.liveKey()
            } catch {
                throw IssuanceError(.unreadableLineage, "\(SettingName.reuseKey): cannot read the current key \(existing.privkeyPath): \(error)")
            }
        }
        switch try NextKey.read(existing, type: request.keyType) {
        case .usable(let key):
            progress("using the key prepared for this renewal (its TLSA record was printed by acme tlsa --next)")
            return key
        case .unusable(let reason):
            progress("ignoring \(existing.nextKeyPath) (\(reason)); a new key is made")
            return try PrivateKey.generate(request.keyType)
        case .absent:
            return try PrivateKey.generate(request.keyType)
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
        // The lineage a new certificate for these names would be named after: if it cannot be
        // read, issuing must fail rather than fork `<name>-0001` beside it.
        let ownName = request.names[0].hasPrefix("*.") ? String(request.names[0].dropFirst(2)) : request.names[0]
        for lineage in try store.allLineages() {
            let cert: Certificate
            do {
                cert = try liveCertificate(store, lineage)
            } catch {
                if lineage.name == ownName { throw error }
                progress("skipping lineage \(lineage.name): \(error)")
                continue
            }
            guard Set(cert.dnsNames.map { $0.lowercased() }) == wanted else { continue }
            let liveKey: PrivateKey
            do {
                liveKey = try lineage.liveKey()
            } catch {
                throw IssuanceError(.unreadableLineage, "cannot read the key of lineage \(lineage.name) (\(lineage.privkeyPath)): \(error); restore it, or delete the lineage with acme delete --cert-name \(lineage.name)")
            }
            let rank = (liveKey.type.isECDSA == wantECDSA ? 2 : 0) + (lineage.name == request.names[0] ? 1 : 0)
            if rank > (best?.rank ?? -1) { best = (lineage, cert, rank) }
        }
        guard let best else { return nil }
        if best.rank < 2 {
            throw IssuanceError(.keyTypeConflict, "lineage \(best.lineage.name) holds these names with another key type than \(SettingName.keyType) \(request.keyType); pass --cert-name \(best.lineage.name) to change its key type, or --cert-name NEW for a second lineage")
        }
        return (best.lineage, best.cert)
    }

    /// The lineage's live certificate, after repairing what an interrupted run left (links
    /// that disagree, a version never made live). The caller holds the config lock.
    private func liveCertificate(_ store: LineageStore, _ lineage: Lineage) throws -> Certificate {
        do {
            if store.needsRepair(lineage) {
                for action in try store.repair(lineage, pairMatches: Self.keyMatchesCertificate) { progress("\(lineage.name): \(action)") }
            }
            return try lineage.liveCertificate()
        } catch {
            throw IssuanceError(.unreadableLineage, "cannot read the certificate of lineage \(lineage.name) (\(lineage.certPath)): \(error); restore it, or delete the lineage with acme delete --cert-name \(lineage.name)")
        }
    }

    /// Whether a PEM private key belongs to a PEM certificate (for `LineageStore.repair`).
    public static func keyMatchesCertificate(_ keyPEM: String, _ certPEM: String) -> Bool {
        // Unreadable PEM is simply "does not match": repair then looks at an older version.
        guard let key = try? PrivateKey(pem: keyPEM), let cert = try? Certificate(pem: certPEM) else { return false }
        return cert.matches(key)
    }

    /// Splits the CA's chain into certbot's four files; the leaf must match our key.
    static func lineageFiles(chainPEM: String, key: PrivateKey) throws -> LineageFiles {
        let chain = try Certificate.chain(pem: chainPEM)
        guard let leaf = chain.first, leaf.matches(key) else {
            throw IssuanceError(.certificateMismatch, "the CA returned a certificate that does not match the private key we sent; nothing was saved")
        }
        let rest = chain.dropFirst().map(\.pem).joined()
        return LineageFiles(cert: leaf.pem, chain: rest, fullchain: leaf.pem + rest, privkey: try key.pemPKCS8())
    }

}

extension RenewalParams {
    /// What an issuance saves for its renewal.
    init(_ request: IssueRequest, accountID: String) {
        self.init(account: accountID, server: request.server, challenge: request.challenge, keyType: request.keyType,
                  preferredChain: request.preferredChain, caBundle: request.caBundle, profile: request.profile,
                  reuseKey: request.reuseKey, hooks: request.hooks, names: request.names,
                  issuedProfile: Self.profileLabel(request.profile), pairedLineage: request.pairedLineage)
    }
}
