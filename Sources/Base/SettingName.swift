/// A setting as a library's message names it ("the ACME server URL"): libraries name settings,
/// never command-line flags; the CLI knows which flag sets which setting and adds it to the line it
/// prints (Sources/acme/SettingFlags.swift).
public struct SettingName: Sendable, Hashable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// The CA's ACME directory URL (`--server`, `server =` in a renewal conf).
    public static let acmeServerURL = SettingName("the ACME server URL")
    /// The mail address an account is registered with (`--email`).
    public static let contactAddress = SettingName("the account's contact address")
    /// Agreeing to the CA's terms of service (`--agree-tos`).
    public static let termsAgreement = SettingName("your agreement to the terms")
    /// External Account Binding: the key ID and the HMAC key the CA gave (`--eab-kid`, `--eab-hmac-key`).
    public static let eabKeyID = SettingName("the External Account Binding key ID")
    public static let eabHMACKey = SettingName("the External Account Binding HMAC key")
    /// Why a certificate is revoked (`--reason`).
    public static let revocationReason = SettingName("the revocation reason")
    /// The mail server's name (`--hostname`, OVERRIDE_HOSTNAME) and the extra names of its certificate (`--san`).
    public static let mailHostname = SettingName("the mail server's hostname")
    public static let extraNames = SettingName("the certificate's extra names")
    /// The Dovecot version the settings are written for (`--dovecot-version`).
    public static let dovecotVersion = SettingName("the Dovecot version")
    /// SSL_TYPE=manual's files (`--cert-path`, `--key-path`).
    public static let manualCertificate = SettingName("the manual certificate file")
    public static let manualKey = SettingName("the manual key file")
    /// Caddy's data directory (`--caddy-data`).
    public static let caddyData = SettingName("Caddy's data directory")

    /// Every setting a library names; the CLI has a flag for each.
    public static let all: [SettingName] = [.acmeServerURL, .contactAddress, .termsAgreement, .eabKeyID, .eabHMACKey, .revocationReason,
                                            .mailHostname, .extraNames, .dovecotVersion, .manualCertificate, .manualKey, .caddyData]
}
