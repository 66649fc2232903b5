import ACMECrypto
import Base
import CertStore
import FoundationEssentials

/// A private key with its certificate chain (leaf first), and where each came from.
public struct KeyPair: Sendable {
    public var key: PrivateKey
    public var keyPEM: String
    public var chain: [Certificate]
    public var chainPEM: String
    /// Human names of the sources, used in every message: a path, or an acme.json entry.
    public var keySource: String
    public var certSource: String

    public var leaf: Certificate { chain[0] }

    /// Parses PEM text; every failure names the source it came from.
    public init(keyPEM: String, chainPEM: String, keySource: String, certSource: String) throws {
        let chain: [Certificate]
        do {
            chain = try Certificate.chain(pem: chainPEM)
        } catch {
            throw ProvisionError(.refused, "\(certSource): \(error)")
        }
        guard !chain.isEmpty else { throw ProvisionError(.refused, "\(certSource): no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)") }
        let key: PrivateKey
        do {
            key = try PrivateKey(pem: keyPEM)
        } catch {
            throw ProvisionError(.refused, "\(keySource): not a usable private key: \(error)")
        }
        self.key = key
        self.chain = chain
        self.keySource = keySource
        self.certSource = certSource
        // Installed as normalised PEM: no stray text, the key as PKCS#8.
        self.keyPEM = try key.pemPKCS8()
        self.chainPEM = chain.map(\.pem).joined()
    }

    /// Reads both files.
    public static func load(keyPath: String, certPath: String) throws -> KeyPair {
        try KeyPair(keyPEM: try readFile(keyPath, what: "key"), chainPEM: try readFile(certPath, what: "certificate"),
                    keySource: keyPath, certSource: certPath)
    }

    static func readFile(_ path: String, what: String) throws -> String {
        guard FS.exists(path) else { throw ProvisionError(.refused, "\(path): \(what) file does not exist") }
        do {
            return try FS.read(path)
        } catch {
            throw ProvisionError(.refused, "\(error)")
        }
    }

    public var isECDSA: Bool { key.type.isECDSA }

    /// What the checks found acceptable but worth saying.
    public struct Findings: Sendable {
        public var warnings: [String] = []
    }

    /// The checks that must pass before anything is installed: the key belongs
    /// to the leaf, every certificate is signed by the next one, the leaf covers
    /// `fqdn` and is within its validity period. Under `warnDays` left: a warning.
    public func check(fqdn: String, now: Date, warnDays: Int, issuer: Certificate? = nil) throws -> Findings {
        var findings = Findings()
        guard leaf.matches(key) else {
            if let position = chain.firstIndex(where: { $0.matches(key) }) {
                throw ProvisionError(.refused, "\(certSource): the certificate of \(keySource) is number \(position + 1) in the chain; put the leaf first and each issuer after what it signed")
            }
            throw ProvisionError(.refused, "\(keySource) does not belong to the certificate in \(certSource) (their public keys differ)")
        }
        for index in chain.indices.dropLast() where !chain[index].isSigned(by: chain[index + 1]) {
            throw ProvisionError(.refused, "\(certSource): certificate \(index + 2) (\(chain[index + 1].label)) did not sign certificate \(index + 1) (\(chain[index].label)); put the leaf first and each issuer after what it signed")
        }
        if let issuer, !chain[chain.count - 1].isSigned(by: issuer) {
            throw ProvisionError(.refused, "\(certSource): not signed by the CA certificate \(issuer.label)")
        }
        guard leaf.covers(name: fqdn) else {
            let names = leaf.dnsNames.isEmpty ? "no DNS names" : leaf.dnsNames.joined(separator: ", ")
            throw ProvisionError(.refused, "\(certSource): the certificate is for \(names), not \(fqdn)")
        }
        if now < leaf.notBefore {
            throw ProvisionError(.refused, "\(certSource): the certificate is not valid before \(leaf.notBefore.utcText); check the clock")
        }
        if leaf.isExpired(at: now) {
            throw ProvisionError(.refused, "\(certSource): the certificate expired on \(leaf.notAfter.utcText); renew it")
        }
        let daysLeft = Int(leaf.notAfter.timeIntervalSince(now) / 86400)
        if daysLeft < warnDays {
            findings.warnings.append("\(certSource): the certificate expires in \(daysLeft) day\(daysLeft == 1 ? "" : "s") (\(leaf.notAfter.utcText)); renew it soon")
        }
        return findings
    }
}

/// What gets installed: the primary pair, an optional ALT pair of the other key
/// type, and for self-signed setups the CA that Postfix should trust.
public struct CertificateSet: Sendable {
    public var primary: KeyPair
    public var alt: KeyPair?
    public var caPEM: String?
    /// One line: where this set came from.
    public var origin: String
    public var warnings: [String] = []
    public var notes: [String] = []
}
