import ACME
import ACMECrypto

/// How challenges are answered.
public enum ChallengeMethod: Sendable, Equatable {
    /// Our own responder on `address` (nil: all addresses) and `port`.
    case standalone(address: String?, port: Int)
    /// Token files under a web server's document root.
    case webroot(path: String)
    /// certbot's `webroot_map`: a document root per name (`default` for names not listed).
    case webrootMap([String: String], default: String?)
    /// DNS-01 through a script that adds and removes the TXT records; the only way to
    /// wildcard names. `propagationSeconds`: how long to wait (or, with a `resolver`
    /// `host:port` to check against, the longest wait).
    case dnsHook(script: String, propagationSeconds: Int, resolver: String?)
    /// certbot's `manual` authenticator with its auth and cleanup hooks (`challenge`: dns-01 or http-01).
    case certbotManual(authHook: String, cleanupHook: String?, challenge: String)
    /// TLS-ALPN-01 (RFC 8737) through our own TLS responder on `address` (nil: all) and `port`.
    case tlsALPN(address: String?, port: Int)
}

/// An ACME profile request (Let's Encrypt's `classic`, `tlsserver`, `shortlived`).
public enum ProfileChoice: Sendable, Equatable {
    /// Used if the CA's directory lists it, else the CA's default.
    case preferred(String)
    /// Fail if the CA's directory does not list it.
    case required(String)

    public var name: String {
        switch self { case .preferred(let n), .required(let n): n }
    }
}

/// Hook commands saved in the renewal conf as certbot does (`pre_hook`, `post_hook`, `renew_hook`).
public struct SavedHooks: Sendable, Equatable {
    public var pre: String?
    public var post: String?
    public var deploy: String?
    public init(pre: String? = nil, post: String? = nil, deploy: String? = nil) {
        self.pre = pre
        self.post = post
        self.deploy = deploy
    }
}

/// Everything `acme issue` needs to know, already validated by the CLI.
public struct IssueRequest: Sendable {
    public var names: [String]
    public var server: String
    public var configDirectory: String
    public var certName: String?
    public var keyType: KeyType
    public var registration: RegistrationOptions
    public var challenge: ChallengeMethod
    public var preferredChain: String?
    public var caBundle: String?
    public var forceRenewal: Bool
    /// The version written into the renewal conf.
    public var toolVersion: String
    public var profile: ProfileChoice?
    /// Keep the lineage's current private key (DANE TLSA records stay valid).
    public var reuseKey = false
    /// The account id to sign with (a renewal conf's `account`); nil: the server's oldest.
    public var accountID: String?
    /// The ARI id of the certificate being replaced (RFC 9773 §5).
    public var replaces: String?
    /// Obtain the certificate but write nothing.
    public var dryRun = false
    public var hooks = SavedHooks()
    /// Called once when the CA is about to be contacted (not when a valid certificate makes
    /// the run a no-op): the CLI prints the CT notice and runs the pre hook there.
    public var beforeContactingCA: (@Sendable () -> Void)?

    public init(names: [String], server: String, configDirectory: String, certName: String? = nil,
                keyType: KeyType = .ecdsa(.p256), registration: RegistrationOptions = RegistrationOptions(),
                challenge: ChallengeMethod = .standalone(address: nil, port: 80), preferredChain: String? = nil,
                caBundle: String? = nil, forceRenewal: Bool = false, toolVersion: String) {
        self.names = names
        self.server = server
        self.configDirectory = configDirectory
        self.certName = certName
        self.keyType = keyType
        self.registration = registration
        self.challenge = challenge
        self.preferredChain = preferredChain
        self.caBundle = caBundle
        self.forceRenewal = forceRenewal
        self.toolVersion = toolVersion
    }
}

/// What `acme issue` did.
public struct IssueResult: Sendable {
    public enum Outcome: Sendable, Equatable {
        case issued
        case renewed(version: Int)
        /// A valid certificate for these names exists and is not due before the date.
        case notDue(until: Date)
        /// `dryRun`: a certificate was obtained and thrown away.
        case dryRun
    }
    public var outcome: Outcome
    public var lineageName: String
    public var livePath: String
    public var notAfter: Date
    public var names: [String]
}
