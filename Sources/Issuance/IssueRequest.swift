import ACME
import ACMECrypto
import Base
import Challenges

/// Fleet mode's hook (`IssueRequest.solverOverride`, `FleetInputs.solverOverride`): for a
/// challenge method and the order's names, the solver that answers instead, or nil for the method's own.
public typealias SolverOverride = @Sendable (ChallengeMethod, [String]) throws -> (any ChallengeSolver)?

/// An ACME profile request (Let's Encrypt's `classic`, `tlsserver`, `shortlived`).
public enum ProfileChoice: Sendable, Equatable {
    /// Used if the CA's directory lists it, else the CA's default.
    case preferred(String)
    /// Fail if the CA's directory does not list it.
    case required(String)

    public var name: String {
        switch self { case .preferred(let n), .required(let n): n }
    }

    /// From the preferred or the required profile (at most one; a name such as classic).
    public init?(preferred: String?, required: String?) throws {
        if preferred != nil, required != nil {
            throw IssuanceError(.invalidProfile, "\(SettingName.preferredProfile) and \(SettingName.requiredProfile) exclude each other; give one")
        }
        for name in [preferred, required].compactMap({ $0 }) where name.isEmpty || name.contains(where: { $0 == " " || $0 == "," }) {
            throw IssuanceError(.invalidProfile, "profile \"\(name)\" is not a profile name such as classic or tlsserver")
        }
        guard let choice = required.map({ Self.required($0) }) ?? preferred.map({ Self.preferred($0) }) else { return nil }
        self = choice
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
    /// The key to certify, chosen by the DANE rollover (its TLSA record is published and has been
    /// visible long enough): used instead of a new key, the prepared next key or the current one.
    public var pinnedKey: PrivateKey?
    /// `acme issue --dane` (`DANESettings`, in the DANE module): records of the lineage's key kept
    /// in DNS, saved in the renewal conf and published after issuance; a renewal here keeps the key.
    public var keyRecords: (any KeyRecords)?
    /// The account id to sign with (a renewal conf's `account`); nil: the server's oldest.
    public var accountID: String?
    /// The ARI id of the certificate being replaced (RFC 9773 §5).
    public var replaces: String?
    /// Obtain the certificate but write nothing.
    public var dryRun = false
    public var hooks = SavedHooks()
    /// The other lineage of an ECDSA + RSA pair (`acme_key_pair`, see `KeyPairing`), saved in the conf.
    public var pairedLineage: String?
    /// Called once when the CA is about to be contacted (not when a valid certificate makes
    /// the run a no-op): `IssueWorkflow` prints the CT notice and runs the pre hook there.
    public var beforeContactingCA: (@Sendable () async -> Void)?

    /// Fleet mode: consulted before `challenge.makeSolver`; a solver it returns answers instead
    /// (the store-backed one, so that any node of the fleet answers the CA), nil leaves the
    /// method's own. Set by the command when a fleet store is configured; not saved for renewal.
    public var solverOverride: SolverOverride?

    /// Directories besides the config directory that the run writes to (provision's TLS
    /// directory), with the setting they come from: checked for room before an order is placed.
    public var writableDirectories: [(path: String, setting: String)] = []

    /// The CA to ask.
    public var caServer: CAServer { CAServer(directoryURL: server, caBundle: caBundle) }

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
    /// Requests sent to the CA (0 when it was not contacted).
    public var requestCount = 0
    /// Names the CA validated for this certificate; 0 when it reused valid authorizations
    /// (or was not asked).
    public var validatedNames = 0

    public init(outcome: Outcome, lineageName: String, livePath: String, notAfter: Date, names: [String]) {
        self.outcome = outcome
        self.lineageName = lineageName
        self.livePath = livePath
        self.notAfter = notAfter
        self.names = names
    }
}
