import ACME
import ACMECrypto

/// How HTTP-01 challenges are answered.
public enum HTTP01Method: Sendable, Equatable {
    /// Our own responder on `address` (nil: all addresses) and `port`.
    case standalone(address: String?, port: Int)
    /// Token files under a web server's document root.
    case webroot(path: String)
}

/// Everything `acme issue` needs to know, already validated by the CLI.
public struct IssueRequest: Sendable {
    public var names: [String]
    public var server: String
    public var configDirectory: String
    public var certName: String?
    public var keyType: KeyType
    public var registration: RegistrationOptions
    public var challenge: HTTP01Method
    public var preferredChain: String?
    public var caBundle: String?
    public var forceRenewal: Bool
    /// The version written into the renewal conf.
    public var toolVersion: String

    public init(names: [String], server: String, configDirectory: String, certName: String? = nil,
                keyType: KeyType = .ecdsa(.p256), registration: RegistrationOptions = RegistrationOptions(),
                challenge: HTTP01Method = .standalone(address: nil, port: 80), preferredChain: String? = nil,
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
    }
    public var outcome: Outcome
    public var lineageName: String
    public var livePath: String
    public var notAfter: Date
    public var names: [String]
}
