import Base

/// The flags that set the settings libraries name in their messages: a library says "the ACME
/// server URL", the line the CLI prints says "the ACME server URL (--server)".
enum SettingFlags {
    static let flags: [SettingName: String] = [
        .acmeServerURL: "--server",
        .contactAddress: "--email",
        .termsAgreement: "--agree-tos",
        .eabKeyID: "--eab-kid",
        .eabHMACKey: "--eab-hmac-key",
        .revocationReason: "--reason",
        .mailHostname: "--hostname",
        .extraNames: "--san",
        .dovecotVersion: "--dovecot-version",
        .manualCertificate: "--cert-path",
        .manualKey: "--key-path",
        .caddyData: "--caddy-data",
        .certificateNames: "-d",
        .caBundle: "--ca-bundle",
        .http01Port: "--http-01-port",
        .http01Address: "--http-01-address",
        .tlsALPNPort: "--tls-alpn-01-port",
        .tlsALPNAddress: "--tls-alpn-01-address",
        .webroot: "--webroot",
        .dnsHook: "--dns-hook",
        .dnsPropagationWait: "--dns-propagation-wait",
        .dnsResolver: "--dns-resolver",
        .dnsUpdateServer: "--dns-rfc2136",
        .tsigKey: "--tsig-key",
        .danePorts: "--dane-port",
        .daneUsage: "--dane-usage",
        .daneTTL: "--dane-ttl",
        .daneUpdateServer: "--dane-rfc2136",
        .daneResolver: "--dane-resolver",
        .endpointTimeout: "--timeout",
        .serverName: "--servername",
        .storeKey: "--store-key",
        .envFile: "--env-file",
        .preferredProfile: "--preferred-profile",
        .requiredProfile: "--required-profile",
        .keyType: "--key-type",
        .reuseKey: "--reuse-key",
        .validatingResolver: "--resolver",
    ]

    /// `message` with the flag after each setting it names.
    static func naming(_ message: String) -> String {
        var text = message
        for (setting, flag) in flags.sorted(by: { $0.key.description < $1.key.description }) {
            text = text.replacing(setting.description, with: "\(setting) (\(flag))")
        }
        return text
    }
}
