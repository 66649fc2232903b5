import ArgumentParser

/// Which of `acme issue`'s challenge and DANE flags go together: checked here, before anything
/// runs; the libraries (`ChallengeMethod`, `DANESettings`) check the values they receive and
/// name settings, not flags.
struct ChallengeFlags {
    var webroot: String?
    var http01Address: String?
    var tlsALPNPort: Int?
    var tlsALPNAddress: String?
    var dnsHook: String?
    var dnsPropagationWait: Int?
    var dnsResolver: String?
    var dnsRFC2136: String?
    /// The TSIG key of the DNS-01 updates: `--tsig-key` unless it only signs `--dane-rfc2136`'s.
    var dnsTSIGKey: String?
    var dnsHookParallel = false

    /// At most one way to answer the CA, and each flag with the one it belongs to.
    func checkCombination() throws {
        func refuse(_ message: String) -> ValidationError { ValidationError(message) }
        let chosen = [dnsHook.map { _ in "--dns-hook" }, dnsRFC2136.map { _ in "--dns-rfc2136" }, webroot.map { _ in "--webroot" },
                      tlsALPNPort.map { _ in "--tls-alpn-01-port" }].compactMap { $0 }
        if chosen.count > 1 { throw refuse("\(chosen.joined(separator: " and ")) are different ways to answer the CA; give one") }
        if (dnsRFC2136 == nil) != (dnsTSIGKey == nil) {
            throw refuse("--dns-rfc2136 SERVER and --tsig-key FILE go together: updates are signed with the key (see Docs/DNS-01.md)")
        }
        if dnsRFC2136 != nil, dnsResolver != nil {
            throw refuse("--dns-resolver goes with --dns-hook; with --dns-rfc2136 every authoritative server of the zone is asked")
        }
        if webroot != nil, http01Address != nil {
            throw refuse("--webroot and --http-01-address exclude each other: with --webroot your web server answers")
        }
        if tlsALPNAddress != nil, tlsALPNPort == nil { throw refuse("--tls-alpn-01-address goes with --tls-alpn-01-port") }
        if dnsHook == nil, dnsRFC2136 == nil, dnsPropagationWait != nil || dnsResolver != nil {
            throw refuse("--dns-propagation-wait and --dns-resolver go with --dns-hook (--dns-propagation-wait also with --dns-rfc2136)")
        }
        if dnsHook == nil, dnsHookParallel {
            throw refuse("--dns-hook-parallel must go with --dns-hook")
        }
    }

    /// With `--dane`: one way to publish the TLSA records (its own or the DNS-01 method's).
    func checkDANE(rfc2136: String?, hook: String?, tsigKey: String?) throws {
        if rfc2136 != nil, hook != nil {
            throw ValidationError("--dane-rfc2136 and --dane-hook both given; choose one way to publish the TLSA records")
        }
        if rfc2136 != nil, tsigKey == nil {
            throw ValidationError("--dane-rfc2136 needs --tsig-key FILE (the BIND key file that signs the updates)")
        }
        if rfc2136 == nil, hook == nil, dnsRFC2136 == nil, dnsHook == nil {
            throw ValidationError("--dane needs a way to publish TLSA records: --dane-rfc2136 SERVER --tsig-key FILE, or --dane-hook COMMAND (see Docs/DANE.md)")
        }
    }
}
