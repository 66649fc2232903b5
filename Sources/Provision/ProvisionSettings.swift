import Base
import FoundationEssentials
import Issuance

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
    /// SSL_DOMAIN without `*.`, the FQDN, then its parent domain (for a wildcard lineage),
    /// each followed by its `-rsa` pair lineage.
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
        // Each name's `<name>-rsa` too: the RSA lineage of an ECDSA + RSA pair (acme issue
        // --key-type ecdsa,rsa), which becomes the ALT pair with no setting of its own.
        return names.flatMap { [$0, KeyPairing.rsaLineageName(for: $0)] }.filter { seen.insert($0).inserted }
    }
}

/// A refusal: one line naming the file and what is wrong with it.
public typealias ProvisionError = ModuleError<ProvisionModule>
public enum ProvisionModule {}

extension ErrorCode where Domain == ProvisionError {
    /// No candidate certificate at all (as opposed to a broken one): what --issue-if-missing reacts to.
    public static var noUsableCertificate: Self { Self("provision.noUsableCertificate", .localState) }
    /// A certificate, key, chain or source file failed a check; the installed state is untouched.
    public static var refused: Self { Self("provision.refused", .localState) }
    /// The settings (SSL_TYPE and friends, the host name) do not describe a usable setup.
    public static var invalidSetting: Self { Self("provision.invalidSetting", .usage) }
    /// Installing failed: a file, a lock, postconf.
    public static var installFailed: Self { Self("provision.installFailed", .localState) }
}

/// What the command line gave for `acme provision`; every nil falls back to docker-mailserver's
/// environment variable of the same meaning, then to the default.
public struct ProvisionInputs: Sendable {
    public var sslType: String?
    public var hostname: String?
    public var sslDomain: String?
    public var certPath: String?
    public var keyPath: String?
    public var altCertPath: String?
    public var altKeyPath: String?
    public var tlsLevel: String?
    public var letsencryptDir = "/etc/letsencrypt"
    public var traefikFile: String?
    public var caddyData: String?
    public var dmsConfigDir = "/tmp/docker-mailserver"
    public var tlsDir = "/etc/dms/tls"
    public var postfixDir = "/etc/postfix"
    public var dovecotDir = "/etc/dovecot"
    public var dovecotVersion: String?

    public init() {}
}

extension ProvisionSettings {
    /// Settings from the flags, then the environment (SSL_TYPE, OVERRIDE_HOSTNAME, SSL_DOMAIN,
    /// SSL_CERT_PATH, SSL_KEY_PATH, SSL_ALT_CERT_PATH, SSL_ALT_KEY_PATH, TLS_LEVEL), then
    /// `hostName()` (what `hostname -f` says). Relative paths are made absolute.
    public init(_ inputs: ProvisionInputs, environment: [String: String],
                hostName: () -> String = LocalSystem.fullyQualifiedHostName) throws {
        func value(_ flag: String?, _ variable: String) -> String? {
            (flag ?? environment[variable]).flatMap { $0.isEmpty ? nil : $0 }
        }
        func path(_ flag: String?, _ variable: String) -> String? { value(flag, variable).map(LocalSystem.absolutePath) }

        let typeText = inputs.sslType ?? environment["SSL_TYPE"] ?? ""
        let sslType: SSLType
        if typeText == "plaintext" || typeText == "none" {
            sslType = .plaintext
        } else if let type = SSLType(rawValue: typeText) {
            sslType = type
        } else {
            throw ProvisionError(.invalidSetting, "SSL_TYPE \(typeText) is not supported: use letsencrypt, manual, self-signed, or empty for no TLS")
        }
        let fqdn = value(inputs.hostname, "OVERRIDE_HOSTNAME") ?? hostName()
        guard fqdn.contains(".") else {
            throw ProvisionError(.invalidSetting, "the hostname \(fqdn) is not fully qualified; set OVERRIDE_HOSTNAME or \(SettingName.mailHostname) to e.g. mail.example.com")
        }
        self.init(sslType: sslType, fqdn: fqdn)
        sslDomain = value(inputs.sslDomain, "SSL_DOMAIN")
        certPath = path(inputs.certPath, "SSL_CERT_PATH")
        keyPath = path(inputs.keyPath, "SSL_KEY_PATH")
        altCertPath = path(inputs.altCertPath, "SSL_ALT_CERT_PATH")
        altKeyPath = path(inputs.altKeyPath, "SSL_ALT_KEY_PATH")
        if let level = value(inputs.tlsLevel, "TLS_LEVEL") {
            guard let parsed = TLSLevel(rawValue: level) else {
                throw ProvisionError(.invalidSetting, "TLS_LEVEL \(level) is not modern or intermediate")
            }
            tlsLevel = parsed
        }
        if let version = inputs.dovecotVersion {
            guard let parsed = DovecotVersion(rawValue: version) else {
                throw ProvisionError(.invalidSetting, "\(SettingName.dovecotVersion) \(version) is not 2.3 or 2.4")
            }
            dovecotVersion = parsed
        }
        letsencryptDir = LocalSystem.absolutePath(inputs.letsencryptDir)
        traefikFile = inputs.traefikFile.map(LocalSystem.absolutePath)
        caddyData = inputs.caddyData.map(LocalSystem.absolutePath)
        dmsConfigDir = LocalSystem.absolutePath(inputs.dmsConfigDir)
        tlsDir = LocalSystem.absolutePath(inputs.tlsDir)
        postfixDir = LocalSystem.absolutePath(inputs.postfixDir)
        dovecotDir = LocalSystem.absolutePath(inputs.dovecotDir)
    }
}
