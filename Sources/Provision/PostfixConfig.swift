import Base
import FoundationEssentials

/// The TLS files as installed: fixed names inside `<tlsDir>/current/`, which is
/// a symlink swapped in one rename, so a daemon never sees a key from one set
/// next to a certificate from another.
public struct InstalledPaths: Sendable {
    public var tlsDir: String
    public init(tlsDir: String) { self.tlsDir = tlsDir }
    public var current: String { tlsDir + "/current" }
    public var key: String { current + "/key.pem" }
    public var chain: String { current + "/fullchain.pem" }
    public var altKey: String { current + "/alt_key.pem" }
    public var altChain: String { current + "/alt_fullchain.pem" }
    public var caCertificate: String { current + "/cacert.pem" }
    public var dhParameters: String { current + "/dhparams.pem" }
}

/// What main.cf (and in plaintext mode master.cf) should say.
struct PostfixConfig {
    var settings: [(String, String)]

    static func render(set: CertificateSet?, level: TLSLevel, paths: InstalledPaths, current: [String: String]) -> PostfixConfig {
        guard let set else {
            return PostfixConfig(settings: [
                ("smtpd_tls_security_level", "none"),
                ("smtp_tls_security_level", "none"),
                ("smtpd_tls_auth_only", "no"),
            ])
        }
        var chainFiles = [paths.key, paths.chain]
        if set.alt != nil { chainFiles += [paths.altKey, paths.altChain] }
        var settings: [(String, String)] = [
            // Key before its chain, then the ALT pair: Postfix's required order.
            ("smtpd_tls_chain_files", chainFiles.joined(separator: " ")),
            ("smtpd_tls_security_level", "may"),
            ("smtp_tls_security_level", "may"),
            ("smtpd_tls_auth_only", "yes"),
            ("smtpd_tls_protocols", level.postfixProtocols),
            ("smtpd_tls_mandatory_protocols", level.postfixProtocols),
            ("smtp_tls_protocols", level.postfixProtocols),
            ("smtp_tls_mandatory_protocols", level.postfixProtocols),
            ("smtpd_tls_ciphers", "high"),
            ("smtpd_tls_mandatory_ciphers", "high"),
            ("tls_high_cipherlist", level.ciphers),
            ("tls_preempt_cipherlist", "yes"),
            ("smtpd_tls_dh1024_param_file", paths.dhParameters),
        ]
        for name in ["smtpd_tls_CAfile", "smtp_tls_CAfile"] {
            if set.caPEM != nil {
                settings.append((name, paths.caCertificate))
            } else if current[name] == paths.caCertificate {
                // Only undo what we set; a CA file the admin chose stays.
                settings.append((name, ""))
            }
        }
        return PostfixConfig(settings: settings)
    }

    /// Plaintext mode also turns off TLS in master.cf's per-service overrides
    /// (submissions' wrapper mode, submission's encrypt level), as docker-mailserver does.
    static func plaintextMasterOverrides(_ postconfP: String) -> [(String, String)] {
        var result: [(String, String)] = []
        for line in postconfP.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmed(of: " "), value = line[line.index(after: eq)...].trimmed(of: " ")
            let parameter = key.split(separator: "/").last.map(String.init) ?? ""
            let wanted: String? = switch parameter {
            case "smtpd_tls_security_level", "smtp_tls_security_level": "none"
            case "smtpd_tls_wrappermode", "smtpd_tls_auth_only": "no"
            default: nil
            }
            if let wanted, value != wanted { result.append((String(key), wanted)) }
        }
        return result
    }

    /// `name = value` assignments of main.cf (continuation lines joined, last one wins).
    static func parseMainCF(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        var name: String?
        var value = ""
        func flush() { if let name { values[name] = normalize(value) } }
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.hasPrefix("#") || line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if line.first == " " || line.first == "\t" {
                if name != nil { value += " " + line }
                continue
            }
            flush()
            guard let eq = line.firstIndex(of: "=") else { name = nil; continue }
            name = String(line[..<eq].trimmed(of: " \t"))
            value = String(line[line.index(after: eq)...])
        }
        flush()
        return values
    }

    static func normalize(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }
}

/// conf.d/10-ssl.conf, written whole: ours to own, with the names of the installed Dovecot version.
enum DovecotConfig {
    static func render(set: CertificateSet?, level: TLSLevel, paths: InstalledPaths, version: DovecotVersion, origin: String) -> String {
        var lines = [
            "# Written by `acme provision` (\(origin)); changes here are overwritten.",
            "# Dovecot \(version.rawValue) setting names.",
        ]
        guard let set else {
            lines.append("# SSL_TYPE is empty: no TLS, passwords allowed in cleartext. NOT FOR PRODUCTION.")
            lines.append("ssl = no")
            lines.append(version == .v2_4 ? "auth_allow_cleartext = yes" : "disable_plaintext_auth = no")
            return lines.joined(separator: "\n") + "\n"
        }
        lines.append("ssl = required")
        switch version {
        case .v2_3:
            lines += ["ssl_cert = <\(paths.chain)", "ssl_key = <\(paths.key)"]
            if set.alt != nil { lines += ["ssl_alt_cert = <\(paths.altChain)", "ssl_alt_key = <\(paths.altKey)"] }
            lines += [
                "ssl_dh = <\(paths.dhParameters)",
                "ssl_min_protocol = \(level.minimumProtocol)",
                "ssl_cipher_list = \(level.ciphers)",
                "ssl_prefer_server_ciphers = yes",
            ]
        case .v2_4:
            lines += ["ssl_server_cert_file = \(paths.chain)", "ssl_server_key_file = \(paths.key)"]
            if set.alt != nil { lines += ["ssl_server_alt_cert_file = \(paths.altChain)", "ssl_server_alt_key_file = \(paths.altKey)"] }
            lines += [
                "ssl_server_dh_file = \(paths.dhParameters)",
                "ssl_min_protocol = \(level.minimumProtocol)",
                "ssl_cipher_list = \(level.ciphers)",
                "ssl_server_prefer_ciphers = server",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
