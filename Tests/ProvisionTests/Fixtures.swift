import ACMECrypto
import Foundation
@testable import Provision

/// Certificates and directory trees for provisioning tests, made with our own
/// CertificateBuilder (verified against openssl in ACMECryptoTests).
struct Fixtures {
    let root: String
    let ca: CertificateBuilder.Issuer
    let fqdn = "mail.example.test"

    init(_ label: String) throws {
        root = NSTemporaryDirectory() + "acme-provision-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let now = Date()
        ca = .init(certificate: try CertificateBuilder.make(commonName: "Fixture Root", dnsNames: [], key: key, notBefore: now - 86400,
                                                           notAfter: now + 86400 * 3650, isCA: true, issuer: nil), key: key)
    }

    struct Pair {
        var key: PrivateKey
        var leaf: Certificate
        var keyPEM: String
        /// Leaf then issuer, like fullchain.pem.
        var chainPEM: String
    }

    func pair(_ names: [String], type: KeyType = .ecdsa(.p256), days: Double = 60, startDaysAgo: Double = 1) throws -> Pair {
        let key = try PrivateKey.generate(type)
        let now = Date()
        let leaf = try CertificateBuilder.make(commonName: names[0], dnsNames: names, key: key, notBefore: now - startDaysAgo * 86400,
                                               notAfter: now + days * 86400, isCA: false, issuer: ca)
        return Pair(key: key, leaf: leaf, keyPEM: try key.pemPKCS8(), chainPEM: leaf.pem + ca.certificate.pem)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A certbot-style lineage: live/<name>/{fullchain,privkey}.pem.
    func lineage(_ name: String, _ pair: Pair, keyFile: String = "privkey.pem") throws {
        try write("le/live/\(name)/fullchain.pem", pair.chainPEM)
        try write("le/live/\(name)/\(keyFile)", pair.keyPEM)
    }

    /// Postfix and Dovecot configuration directories as a fresh install has them.
    func daemonDirs() throws {
        try write("postfix/main.cf", "# main.cf\nmyhostname = mail.example.test\nmydomain = example.test\nsmtpd_banner = $myhostname ESMTP\nsmtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem\n")
        try write("postfix/master.cf", "smtp      inet  n       -       y       -       -       smtpd\n")
        try write("dovecot/dovecot.conf", "!include conf.d/*.conf\n")
        try write("dovecot/conf.d/10-ssl.conf", "ssl = yes\n")
    }

    func settings(_ type: SSLType) -> ProvisionSettings {
        var settings = ProvisionSettings(sslType: type, fqdn: fqdn)
        settings.letsencryptDir = root + "/le"
        settings.dmsConfigDir = root + "/dms"
        settings.tlsDir = root + "/tls"
        settings.postfixDir = root + "/postfix"
        settings.dovecotDir = root + "/dovecot"
        settings.dovecotVersion = .v2_3
        return settings
    }

    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
    }

    /// Every regular file and link under the installed paths with its content, to prove nothing changed.
    func snapshot() -> [String: String] {
        var result: [String: String] = [:]
        for top in ["tls", "postfix", "dovecot"] {
            let base = root + "/" + top
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            for case let relative as String in walker {
                let path = base + "/" + relative
                if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                    result[top + "/" + relative] = "-> " + link
                } else if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                    let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                    result[top + "/" + relative] = "\(mtime) " + text
                }
            }
        }
        return result
    }

    static func traefikV2(_ entries: [(main: String, sans: [String], pair: Pair)]) -> String {
        let certificates = entries.map { entry in
            """
            {"domain": {"main": "\(entry.main)", "sans": [\(entry.sans.map { "\"\($0)\"" }.joined(separator: ","))]},
             "certificate": "\(Data(entry.pair.chainPEM.utf8).base64EncodedString())",
             "key": "\(Data(entry.pair.keyPEM.utf8).base64EncodedString())", "Store": "default"}
            """
        }
        return """
        {"letsencrypt": {"Account": {"Email": "admin@example.test", "Registration": null, "PrivateKey": "x", "KeyType": "4096"},
          "Certificates": [\(certificates.joined(separator: ","))]}}
        """
    }

    static func traefikV1(_ entries: [(main: String, sans: [String], pair: Pair)]) -> String {
        let certificates = entries.map { entry in
            """
            {"Domain": {"Main": "\(entry.main)", "SANs": [\(entry.sans.map { "\"\($0)\"" }.joined(separator: ","))]},
             "Certificate": "\(Data(entry.pair.chainPEM.utf8).base64EncodedString())",
             "Key": "\(Data(entry.pair.keyPEM.utf8).base64EncodedString())"}
            """
        }
        return """
        {"Account": {"Email": "admin@example.test"}, "Certificates": [\(certificates.joined(separator: ","))], "HTTPChallenge": {}}
        """
    }
}
