import ACMECrypto
import Base
import CertStore
import FoundationEssentials

/// Finds the certificate set for the configured `SSL_TYPE` and checks it.
/// Nothing here writes anything.
public struct CertificateFinder: Sendable {
    public var settings: ProvisionSettings
    public var now: Date

    public init(settings: ProvisionSettings, now: Date = Date()) {
        self.settings = settings
        self.now = now
    }

    /// The set to install, or nil in plaintext mode.
    public func find() throws -> CertificateSet? {
        switch settings.sslType {
        case .plaintext: return nil
        case .letsencrypt: return try fromACMEClients()
        case .manual: return try manual()
        case .selfSigned: return try selfSigned()
        }
    }

    // MARK: letsencrypt: lineages, Traefik, Caddy

    struct Candidate {
        var pair: KeyPair
        var origin: String
    }

    /// Every candidate that covers the FQDN and passes the checks; among them
    /// the one that expires last, per key type. When both types are there the
    /// ECDSA one is the primary and the RSA one its ALT pair (the fallback for
    /// clients without ECDSA), whichever expires later.
    func fromACMEClients() throws -> CertificateSet {
        var notes: [String] = []
        var usable: [(Candidate, KeyPair.Findings)] = []
        func consider(_ load: () throws -> Candidate?) {
            do {
                guard let candidate = try load() else { return }
                let findings = try candidate.pair.check(fqdn: settings.fqdn, now: now, warnDays: settings.warnDays)
                usable.append((candidate, findings))
            } catch {
                notes.append("skipped: \(error)")
            }
        }
        for name in settings.lineageNames {
            consider { try lineage(named: name) }
        }
        let traefik = settings.traefikFile ?? settings.letsencryptDir + "/acme.json"
        if settings.traefikFile != nil || FS.exists(traefik) {
            // A broken acme.json is a configuration error, not a candidate to skip.
            for entry in try TraefikStore(path: traefik).entries() {
                consider { entry.covers(settings.fqdn) ? try entry.candidate() : nil }
            }
        }
        if let caddyData = settings.caddyData {
            for found in try CaddyStore(dataDir: caddyData).entries() {
                consider { try found() }
            }
        }
        let byExpiry = usable.sorted { $0.0.pair.leaf.notAfter > $1.0.pair.leaf.notAfter }
        guard let best = byExpiry.first(where: { $0.0.pair.isECDSA }) ?? byExpiry.first else {
            let tried = "live/{\(settings.lineageNames.joined(separator: ","))} under \(settings.letsencryptDir)"
                + (FS.exists(traefik) ? ", \(traefik)" : "") + (settings.caddyData.map { ", Caddy data \($0)" } ?? "")
            let reasons = notes.isEmpty ? "" : " (" + notes.map { String($0.dropFirst("skipped: ".count)) }.joined(separator: "; ") + ")"
            throw ProvisionError(.noUsableCertificate, "no usable certificate for \(settings.fqdn) in \(tried)\(reasons); issue one with `acme issue -d \(settings.fqdn)` or use --issue-if-missing")
        }
        var set = CertificateSet(primary: best.0.pair, origin: best.0.origin, warnings: best.1.warnings, notes: notes)
        if best.0.pair.isECDSA, let rsa = byExpiry.first(where: { !$0.0.pair.isECDSA }) {
            set.alt = rsa.0.pair
            set.warnings += rsa.1.warnings
            set.origin += "; RSA fallback from \(rsa.0.origin)"
        }
        return set
    }

    /// `live/<name>/fullchain.pem` with `privkey.pem` (certbot, acme) or `key.pem` (acme-companion, simp_le).
    func lineage(named name: String) throws -> Candidate? {
        try validatePathComponent(name, what: "lineage name")
        let dir = settings.letsencryptDir + "/live/" + name
        guard FS.exists(dir + "/fullchain.pem") else { return nil }
        let keyPath = FS.exists(dir + "/privkey.pem") ? dir + "/privkey.pem" : dir + "/key.pem"
        return Candidate(pair: try KeyPair.load(keyPath: keyPath, certPath: dir + "/fullchain.pem"), origin: "lineage \(dir)")
    }

    // MARK: manual

    func manual() throws -> CertificateSet {
        guard let certPath = settings.certPath, let keyPath = settings.keyPath, !certPath.isEmpty, !keyPath.isEmpty else {
            throw ProvisionError(.invalidSetting, "SSL_TYPE=manual needs SSL_CERT_PATH and SSL_KEY_PATH (or \(SettingName.manualCertificate) and \(SettingName.manualKey))")
        }
        let primary = try KeyPair.load(keyPath: keyPath, certPath: certPath)
        var set = CertificateSet(primary: primary, origin: "manual \(certPath)")
        set.warnings = try primary.check(fqdn: settings.fqdn, now: now, warnDays: settings.warnDays).warnings
        switch (settings.altCertPath.flatMap { $0.isEmpty ? nil : $0 }, settings.altKeyPath.flatMap { $0.isEmpty ? nil : $0 }) {
        case (nil, nil):
            break
        case let (altCert?, altKey?):
            let alt = try KeyPair.load(keyPath: altKey, certPath: altCert)
            guard alt.isECDSA != primary.isECDSA else {
                let kind = primary.isECDSA ? "ECDSA" : "RSA", other = primary.isECDSA ? "RSA" : "ECDSA"
                throw ProvisionError(.refused, "\(altKey): the ALT key is \(kind) like the primary key; the ALT pair must be the other type (\(other)), so that clients which cannot use \(kind) still get a certificate")
            }
            set.warnings += try alt.check(fqdn: settings.fqdn, now: now, warnDays: settings.warnDays).warnings
            set.alt = alt
            set.origin += " with ALT \(altCert)"
        default:
            throw ProvisionError(.invalidSetting, "SSL_ALT_CERT_PATH and SSL_ALT_KEY_PATH go together; set both or neither")
        }
        return set
    }

    // MARK: self-signed

    func selfSigned() throws -> CertificateSet {
        try validatePathComponent(settings.fqdn, what: "hostname")
        let dir = settings.dmsConfigDir + "/ssl"
        let caPath = dir + "/demoCA/cacert.pem"
        let pair = try KeyPair.load(keyPath: dir + "/\(settings.fqdn)-key.pem", certPath: dir + "/\(settings.fqdn)-cert.pem")
        let caPEM = try KeyPair.readFile(caPath, what: "CA certificate")
        let ca: Certificate
        do {
            guard let first = try Certificate.chain(pem: caPEM).first else { throw ProvisionError(.refused, "no PEM certificate in it") }
            ca = first
        } catch {
            throw ProvisionError(.refused, "\(caPath): \(error)")
        }
        var set = CertificateSet(primary: pair, caPEM: ca.pem, origin: "self-signed \(dir)")
        set.warnings = try pair.check(fqdn: settings.fqdn, now: now, warnDays: settings.warnDays, issuer: ca).warnings
        return set
    }
}
