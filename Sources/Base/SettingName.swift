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

    /// The names of a certificate (`-d`).
    public static let certificateNames = SettingName("the certificate's names")
    /// The CA's root for a private CA (`--ca-bundle`).
    public static let caBundle = SettingName("the CA bundle")
    /// How challenges are answered: the built-in responders (`--http-01-port`, `--http-01-address`,
    /// `--tls-alpn-01-port`, `--tls-alpn-01-address`), a webroot (`--webroot`), DNS-01 through a hook
    /// (`--dns-hook`, `--dns-propagation-wait`, `--dns-resolver`) or RFC 2136 (`--dns-rfc2136`).
    public static let http01Port = SettingName("the HTTP-01 port")
    public static let http01Address = SettingName("the HTTP-01 address")
    public static let tlsALPNPort = SettingName("the TLS-ALPN-01 port")
    public static let tlsALPNAddress = SettingName("the TLS-ALPN-01 address")
    public static let webroot = SettingName("the webroot directory")
    public static let dnsHook = SettingName("the DNS-01 hook command")
    public static let dnsPropagationWait = SettingName("the DNS propagation wait")
    public static let dnsResolver = SettingName("the DNS-01 resolver")
    public static let dnsUpdateServer = SettingName("the DNS-01 update server")
    /// The BIND key file that signs RFC 2136 updates (`--tsig-key`).
    public static let tsigKey = SettingName("the TSIG key file")
    /// DANE: the TLSA records' ports, usage, TTL and where they are published (`--dane-port`,
    /// `--dane-usage`, `--dane-ttl`, `--dane-rfc2136`, `--dane-resolver`).
    public static let danePorts = SettingName("the TLSA ports")
    public static let daneUsage = SettingName("the TLSA usage")
    public static let daneTTL = SettingName("the TLSA TTL")
    public static let daneUpdateServer = SettingName("the TLSA update server")
    public static let daneResolver = SettingName("the TLSA resolver")
    /// `acme check`: the deadline of each endpoint (`--timeout`, "the 10 s deadline for this
    /// endpoint") and the name expected when an endpoint is an address (`--servername`).
    public static let endpointTimeout = SettingName("deadline for this endpoint")
    public static let serverName = SettingName("the expected server name")

    /// The key file that encrypts the private keys in a fleet's store (`--store-key`).
    public static let storeKey = SettingName("the store's key file")
    /// The daemon's file of environment variables (`--env-file`).
    public static let envFile = SettingName("the environment file")

    /// The ACME profile to ask for (`--preferred-profile`) or to insist on (`--required-profile`).
    public static let preferredProfile = SettingName("the preferred ACME profile")
    public static let requiredProfile = SettingName("the required ACME profile")
    /// The key type of a new certificate (`--key-type`) and keeping the current key (`--reuse-key`).
    public static let keyType = SettingName("the requested key type")
    public static let reuseKey = SettingName("keeping the current key")
    /// The validating resolver `acme tlsa --check` asks about DNSSEC (`--resolver`).
    public static let validatingResolver = SettingName("the validating resolver")

    /// Every setting a library names; the CLI has a flag for each.
    public static let all: [SettingName] = [.acmeServerURL, .contactAddress, .termsAgreement, .eabKeyID, .eabHMACKey, .revocationReason,
                                            .mailHostname, .extraNames, .dovecotVersion, .manualCertificate, .manualKey, .caddyData,
                                            .certificateNames, .caBundle, .http01Port, .http01Address, .tlsALPNPort, .tlsALPNAddress,
                                            .webroot, .dnsHook, .dnsPropagationWait, .dnsResolver, .dnsUpdateServer, .tsigKey,
                                            .danePorts, .daneUsage, .daneTTL, .daneUpdateServer, .daneResolver, .endpointTimeout, .serverName,
                                            .storeKey, .envFile, .preferredProfile, .requiredProfile, .keyType, .reuseKey, .validatingResolver]
}
