import FoundationEssentials

/// Where the certificate comes from: docker-mailserver's `SSL_TYPE`.
public enum SSLType: String, Sendable, CaseIterable {
    /// An ACME client's output: certbot/acme lineages, Traefik's acme.json, Caddy's storage.
    case letsencrypt
    /// SSL_CERT_PATH / SSL_KEY_PATH (+ optional ALT pair).
    case manual
    /// `<FQDN>-key.pem`, `<FQDN>-cert.pem`, `demoCA/cacert.pem` in the config's ssl/ folder.
    case selfSigned = "self-signed"
    /// Empty SSL_TYPE: no TLS at all (docker-mailserver's documented insecure mode).
    case plaintext = ""
}

/// docker-mailserver's `TLS_LEVEL`: both keep TLS 1.2 as the minimum.
public enum TLSLevel: String, Sendable {
    case modern, intermediate

    var ciphers: String {
        switch self {
        case .modern:
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
        case .intermediate:
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
                + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:"
                + "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA384:"
                + "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256"
        }
    }

    /// Postfix protocol exclusions: TLS 1.2 is the floor at both levels.
    var postfixProtocols: String { "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1" }
    var minimumProtocol: String { "TLSv1.2" }
}

/// Dovecot's configuration names changed in 2.4 (`ssl_cert` became `ssl_server_cert_file`, ...).
public enum DovecotVersion: String, Sendable {
    case v2_3 = "2.3", v2_4 = "2.4"

    /// Reads `dovecot --version` output such as `2.3.19.1 (9b53102964)`.
    public init?(versionOutput: String) {
        let parts = versionOutput.split(whereSeparator: { $0 == "." || $0 == " " || $0 == "\n" })
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]), major == 2 else { return nil }
        self = minor >= 4 ? .v2_4 : .v2_3
    }
}

/// Everything `acme provision` needs, already resolved from flags and the environment.
public struct ProvisionSettings: Sendable {
    public var sslType: SSLType
    /// The mail server's name, which the certificate must cover.
    public var fqdn: String
    /// docker-mailserver's SSL_DOMAIN, tried first (a leading `*.` is stripped).
    public var sslDomain: String?
    public var tlsLevel: TLSLevel = .modern

    /// certbot/acme layout (`live/<name>/`).
    public var letsencryptDir = "/etc/letsencrypt"
    /// Traefik's acme.json; nil means `<letsencryptDir>/acme.json` when it exists.
    public var traefikFile: String?
    /// Caddy's data directory (the one holding `certificates/`), when Caddy is a source.
    public var caddyData: String?
    public var certPath: String?
    public var keyPath: String?
    public var altCertPath: String?
    public var altKeyPath: String?
    /// docker-mailserver's config volume: `ssl/` for self-signed files, `dhparams.pem` for custom DH.
    public var dmsConfigDir = "/tmp/docker-mailserver"

    /// Where the checked files are installed.
    public var tlsDir = "/etc/dms/tls"
    public var postfixDir = "/etc/postfix"
    public var dovecotDir = "/etc/dovecot"
    /// nil: ask `dovecot --version` (cached by the binary's size and mtime).
    public var dovecotVersion: DovecotVersion?
    /// Warn when fewer days than this are left.
    public var warnDays = 14

    public init(sslType: SSLType, fqdn: String) {
        self.sslType = sslType
        self.fqdn = fqdn.lowercased()
    }

    /// Names whose `live/<name>/` lineage may serve the FQDN, in docker-mailserver's order:
    /// SSL_DOMAIN without `*.`, the FQDN, then its parent domain (for a wildcard lineage).
    public var lineageNames: [String] {
        var names: [String] = []
        if let domain = sslDomain?.lowercased(), !domain.isEmpty {
            names.append(domain.hasPrefix("*.") ? String(domain.dropFirst(2)) : domain)
        }
        names.append(fqdn)
        if let dot = fqdn.firstIndex(of: "."), fqdn[fqdn.index(after: dot)...].contains(".") {
            names.append(String(fqdn[fqdn.index(after: dot)...]))
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}

/// A refusal: one line naming the file and what is wrong with it.
public struct ProvisionError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// No candidate certificate at all (as opposed to a broken one): what --issue-if-missing reacts to.
    public var noUsableCertificate: Bool
    public init(_ description: String, noUsableCertificate: Bool = false) {
        self.description = description
        self.noUsableCertificate = noUsableCertificate
    }
}
