import ACME
import Base
import DNS

/// How challenges are answered, as `acme issue` flags and renewal confs describe it.
public enum ChallengeMethod: Sendable, Equatable {
    /// Our own responder on `address` (nil: all addresses) and `port`.
    case standalone(address: String?, port: Int)
    /// Token files under a web server's document root.
    case webroot(path: String)
    /// certbot's `webroot_map`: a document root per name (`default` for names not listed).
    case webrootMap([String: String], default: String?)
    /// DNS-01 through a script that adds and removes the TXT records; the only way to
    /// wildcard names. `propagationSeconds`: how long to wait (or, with a `resolver`
    /// `host:port` to check against, the longest wait). `parallel`: the user declared that the
    /// script may run for several names at once (`--dns-hook-parallel`); else one call at a time.
    case dnsHook(script: String, propagationSeconds: Int, resolver: String?, parallel: Bool = false)
    /// DNS-01 through RFC 2136 updates at `server` (`host[:port]`) signed with the TSIG key in
    /// `keyFile`; `propagationSeconds`: the longest wait for every authoritative server to serve them.
    case dnsRFC2136(server: String, keyFile: String, propagationSeconds: Int)
    /// certbot's `manual` authenticator with its auth and cleanup hooks (`challenge`: dns-01 or http-01).
    case certbotManual(authHook: String, cleanupHook: String?, challenge: String)
    /// TLS-ALPN-01 (RFC 8737) through our own TLS responder on `address` (nil: all) and `port`.
    case tlsALPN(address: String?, port: Int)

    /// The method the settings choose: a DNS hook, else RFC 2136 updates, else a TLS-ALPN-01 port,
    /// else a webroot, else the built-in HTTP-01 responder. Which settings go together is the
    /// caller's to check (the CLI checks its flags); here each value is checked, and errors name
    /// the setting.
    public init(http01Port: Int = 80, http01Address: String? = nil, webroot: String? = nil, tlsALPNPort: Int? = nil,
                tlsALPNAddress: String? = nil, dnsHook: String? = nil, dnsPropagationWait: Int? = nil, dnsResolver: String? = nil,
                dnsRFC2136: String? = nil, tsigKey: String? = nil, dnsHookParallel: Bool = false) throws {
        func refuse(_ message: String) -> ChallengeError { ChallengeError(.invalidSetting, message) }
        for (setting, port) in [(SettingName.http01Port, http01Port), (.tlsALPNPort, tlsALPNPort ?? 443)] where !(1...65535).contains(port) {
            throw refuse("\(setting) \(port) is not a port number (1-65535)")
        }
        if let wait = dnsPropagationWait, !(0...3600).contains(wait) {
            throw refuse("\(SettingName.dnsPropagationWait) \(wait) is not between 0 and 3600 seconds")
        }
        if let dnsHook {
            guard !dnsHook.trimmed.isEmpty else { throw refuse("\(SettingName.dnsHook) is empty; give a command") }
            self = .dnsHook(script: dnsHook, propagationSeconds: dnsPropagationWait ?? (dnsResolver == nil ? 0 : 120), resolver: dnsResolver,
                            parallel: dnsHookParallel)
        } else if let dnsRFC2136 {
            guard let tsigKey else { throw refuse("\(SettingName.dnsUpdateServer) needs \(SettingName.tsigKey): updates are signed with the key") }
            self = .dnsRFC2136(server: dnsRFC2136, keyFile: LocalSystem.absolutePath(tsigKey), propagationSeconds: dnsPropagationWait ?? 120)
        } else if let tlsALPNPort {
            self = .tlsALPN(address: tlsALPNAddress, port: tlsALPNPort)
        } else if let webroot {
            self = .webroot(path: LocalSystem.absolutePath(webroot))
        } else {
            self = .standalone(address: http01Address, port: http01Port)
        }
        try validate()
    }

    /// Whether the CA validates over DNS, which wildcard names need (RFC 8555 §7.1.3).
    public var validatesDNS: Bool {
        switch self {
        case .dnsHook, .dnsRFC2136: true
        case .certbotManual(_, _, let challenge): challenge == "dns-01"
        default: false
        }
    }

    /// Checks what can be checked before the CA is contacted (addresses, the resolver, the TSIG key file).
    public func validate() throws {
        switch self {
        case .standalone(let address?, _): try TCPListener.validate(address: address, setting: .http01Address)
        case .tlsALPN(let address?, _): try TCPListener.validate(address: address, setting: .tlsALPNAddress)
        case .dnsHook(_, _, let resolver?, _): _ = try TXTLookup(resolver: resolver)
        case .dnsRFC2136(let server, let keyFile, _): _ = try Self.updater(server: server, keyFile: keyFile)
        default: break
        }
    }

    /// The solver that answers this way; the one place a method becomes a solver.
    /// `names`: every name of the order (the manual hooks' CERTBOT_ALL_DOMAINS).
    public func makeSolver(names: [String], progress: @escaping EventSink) throws -> any ChallengeSolver {
        switch self {
        case .standalone(let address, let port):
            return StandaloneSolver(address: address, port: port)
        case .webroot(let path):
            return try WebrootChallengeSolver(root: path)
        case .webrootMap(let map, let root):
            return try WebrootChallengeSolver(map: map, default: root)
        case .tlsALPN(let address, let port):
            return try TLSALPNSolver(address: address, port: port)
        case .certbotManual(let auth, let cleanup, let challenge):
            return ManualHookSolver(challengeType: challenge, authHook: auth, cleanupHook: cleanup, allDomains: names, progress: progress)
        case .dnsHook(let script, let seconds, let resolver, let parallel):
            return DNS01HookSolver(script: script, propagationWait: .seconds(seconds),
                                   resolver: try resolver.map { try TXTLookup(resolver: $0) }, parallel: parallel, progress: progress)
        case .dnsRFC2136(let server, let keyFile, let seconds):
            return DNS01UpdateSolver(updater: try Self.updater(server: server, keyFile: keyFile), propagationWait: .seconds(seconds), progress: progress)
        }
    }

    /// The RFC 2136 updater: the server parsed, the key file read (its errors name the file).
    private static func updater(server: String, keyFile: String) throws -> DNSUpdater {
        DNSUpdater(server: try DNSServer(parsing: server, setting: .dnsUpdateServer), key: try TSIGKey(file: keyFile))
    }
}
