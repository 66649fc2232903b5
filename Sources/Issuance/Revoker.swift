import ACME
import ACMECrypto
import Base
import CertStore

/// Why a certificate is revoked: the RFC 5280 §5.3.1 reason codes ACME servers accept
/// (RFC 8555 §7.6; Let's Encrypt takes these five).
public enum RevocationReason: Int, Sendable, CaseIterable {
    case unspecified = 0
    case keyCompromise = 1
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5

    /// The command-line spelling, e.g. `key-compromise`.
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .keyCompromise: "key-compromise"
        case .affiliationChanged: "affiliation-changed"
        case .superseded: "superseded"
        case .cessationOfOperation: "cessation-of-operation"
        }
    }

    /// A `--reason` value, or a usage error listing the reasons.
    public init(flag text: String) throws {
        guard let reason = Self(name: text) else {
            throw IssuanceError(.invalidRevocationInput, "\(SettingName.revocationReason) \(text) is not one of \(Self.allCases.map(\.name).joined(separator: ", "))")
        }
        self = reason
    }

    /// `key-compromise` or certbot's `keycompromise`, any case.
    public init?(name: String) {
        let wanted = name.lowercased()
        guard let reason = Self.allCases.first(where: { $0.name == wanted || $0.name.replacing("-", with: "") == wanted }) else {
            return nil
        }
        self = reason
    }
}

/// What to revoke and how to sign the request.
public struct RevocationRequest: Sendable {
    public enum Target: Sendable {
        /// The current certificate of a lineage; its renewal conf names the server and account.
        case lineage(String)
        /// A certificate file.
        case file(String)
    }
    public var target: Target
    /// Sign with this private key of the certificate instead of the account (RFC 8555 §7.6).
    public var keyPath: String?
    public var reason: RevocationReason
    public var configDirectory: String
    /// The CA chosen on the command line; nil: the lineage's saved server, else `defaultServer`.
    public var server: String?
    public var defaultServer: String
    /// The CA bundle given (flag or environment); nil: the lineage's saved one.
    public var caBundle: String?

    public init(target: Target, keyPath: String?, reason: RevocationReason, configDirectory: String,
                server: String?, defaultServer: String, caBundle: String?) {
        self.target = target
        self.keyPath = keyPath
        self.reason = reason
        self.configDirectory = configDirectory
        self.server = server
        self.defaultServer = defaultServer
        self.caBundle = caBundle
    }
}

/// `acme revoke`: finds the certificate and the CA, signs with the account or the certificate's key.
public struct Revoker: Sendable {
    public var makeClient: ACMEClientFactory
    public var progress: EventSink

    public init(makeClient: @escaping ACMEClientFactory, progress: @escaping EventSink) {
        self.makeClient = makeClient
        self.progress = progress
    }

    /// Revokes and returns the certificate that is now revoked.
    public func revoke(_ request: RevocationRequest) async throws -> Certificate {
        var ca = CAServer(directoryURL: request.server ?? request.defaultServer, caBundle: request.caBundle)
        var accountID: String?
        let certificateFile: String
        switch request.target {
        case .lineage(let name):
            let store = LineageStore(configDirectory: request.configDirectory)
            let lineage = try store.existingLineage(named: name)
            // Only where the lineage came from: any authenticator (certbot's nginx too) can be revoked.
            let config = try store.renewalConfig(of: lineage)
            if request.server == nil, let saved = config[param: "server"] { ca.directoryURL = saved }
            if ca.caBundle == nil { ca.caBundle = config[param: "ca_bundle"] }
            accountID = config[param: "account"]
            certificateFile = lineage.certPath
        case .file(let path):
            certificateFile = path
        }
        let certificate = try Certificate(file: certificateFile)
        let client = try makeClient(ca)
        if let keyPath = request.keyPath {
            let key = try PrivateKey(file: keyPath)
            guard certificate.matches(key) else {
                throw IssuanceError(.invalidRevocationInput, "\(keyPath) is not the private key of \(certificateFile)")
            }
            try await client.revoke(certificateDER: certificate.der, reason: request.reason.rawValue, key: key, kid: nil)
        } else {
            let accounts = AccountService(configDirectory: request.configDirectory, client: client, server: ca.directoryURL,
                                          progress: progress)
            guard let account = try accounts.existing(id: accountID) else {
                throw IssuanceError(.noAccount, "no account stored for \(ca.directoryURL) under \(request.configDirectory)/accounts; pass --key-path to sign with the certificate's key")
            }
            try await client.revoke(certificateDER: certificate.der, reason: request.reason.rawValue, key: account.credentials.key,
                                    kid: account.credentials.url)
        }
        return certificate
    }
}
