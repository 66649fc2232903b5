import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Issuance

/// `acme selfsigned`: a test CA and a leaf for the mail server's FQDN, under the names
/// docker-mailserver's `SSL_TYPE=self-signed` reads from its `ssl/` folder:
/// `<FQDN>-key.pem`, `<FQDN>-cert.pem`, `<FQDN>-combined.pem` (certificate then key),
/// `demoCA/cacert.pem`, and the CA's key in `demoCA/private/cakey.pem` for issuing more.
public struct SelfSignedSet: Sendable {
    public var fqdn: String
    /// Further subjectAltNames besides the FQDN.
    public var extraNames: [String] = []
    public var keyType: KeyType = .ecdsa(.p256)
    public var leafDays = 825
    public var caDays = 3650
    public var caName = "acme self-signed test CA"

    public init(fqdn: String) { self.fqdn = fqdn.lowercased() }

    /// The set for `hostname` (else OVERRIDE_HOSTNAME, else HOSTNAME from `environment`) and
    /// `extraNames`, every name checked; the certificate's own name cannot be a wildcard.
    public init(hostname: String?, extraNames: [String], environment: [String: String]) throws {
        let given = [hostname, environment["OVERRIDE_HOSTNAME"], environment["HOSTNAME"]].compactMap { $0 }.first { !$0.isEmpty }
        guard let given else {
            throw ProvisionError(.invalidSetting, "give \(SettingName.mailHostname), e.g. mail.example.com")
        }
        let names = try DomainName.normalize(all: [given] + extraNames)
        if names[0].hasPrefix("*.") {
            throw ProvisionError(.invalidSetting, "\(SettingName.mailHostname) \(names[0]) is a wildcard; give the mail server's own name (add the wildcard to \(SettingName.extraNames))")
        }
        self.init(fqdn: names[0])
        self.extraNames = Array(names.dropFirst())
    }

    public struct Files: Sendable {
        public var key: String, cert: String, combined: String, caCert: String, caKey: String
    }

    public func paths(in directory: String) -> Files {
        Files(key: "\(directory)/\(fqdn)-key.pem", cert: "\(directory)/\(fqdn)-cert.pem",
              combined: "\(directory)/\(fqdn)-combined.pem", caCert: "\(directory)/demoCA/cacert.pem",
              caKey: "\(directory)/demoCA/private/cakey.pem")
    }

    /// Writes the set; refuses to replace existing files unless `overwrite`.
    public func write(to directory: String, overwrite: Bool, now: Date = Date()) throws -> Files {
        try validatePathComponent(fqdn, what: "hostname")
        let files = paths(in: directory)
        if !overwrite, let existing = [files.key, files.cert, files.caCert].first(where: FS.exists) {
            throw ProvisionError(.refused, "\(existing) already exists; pass --force to replace the whole set, or choose another --output")
        }
        let start = now.addingTimeInterval(-300)
        let caKey = try PrivateKey.generate(keyType)
        let ca = try CertificateBuilder.make(commonName: caName, dnsNames: [], key: caKey, notBefore: start,
                                             notAfter: now.addingTimeInterval(Double(caDays) * 86_400), isCA: true, issuer: nil)
        let key = try PrivateKey.generate(keyType)
        var names = [fqdn]
        for name in extraNames.map({ $0.lowercased() }) where !names.contains(name) { names.append(name) }
        let leaf = try CertificateBuilder.make(commonName: fqdn, dnsNames: names, key: key, notBefore: start,
                                               notAfter: now.addingTimeInterval(Double(leafDays) * 86_400), isCA: false,
                                               issuer: .init(certificate: ca, key: caKey))
        try FS.makeDirectories(directory + "/demoCA/private", mode: 0o700)
        try FS.writeAtomically(files.caKey, try caKey.pemPKCS8(), mode: 0o600)
        try FS.writeAtomically(files.caCert, ca.pem, mode: 0o644)
        try FS.writeAtomically(files.key, try key.pemPKCS8(), mode: 0o600)
        try FS.writeAtomically(files.combined, leaf.pem + (try key.pemPKCS8()), mode: 0o600)
        try FS.writeAtomically(files.cert, leaf.pem, mode: 0o644)
        return files
    }
}
