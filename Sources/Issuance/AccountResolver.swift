#if canImport(Glibc)
import Glibc
#endif
import ACME
import ACMECrypto
import CertStore

/// What is needed to register an account when none is stored for the server.
public struct RegistrationOptions: Sendable {
    public var email: String?
    public var agreeTOS: Bool
    public var eab: ExternalAccountBinding?
    /// certbot (2.x) can only use RSA account keys, so that is the default.
    public var accountKeyType: KeyType
    public init(email: String? = nil, agreeTOS: Bool = false, eab: ExternalAccountBinding? = nil,
                accountKeyType: KeyType = .rsa(bits: 2048)) {
        self.email = email
        self.agreeTOS = agreeTOS
        self.eab = eab
        self.accountKeyType = accountKeyType
    }
}

/// An account as stored under `accounts/` together with its loaded key.
public struct ResolvedAccount: Sendable {
    public var stored: StoredAccount
    public var credentials: AccountCredentials
    public var created: Bool
}

/// Finds the account stored for a server (certbot's layout), or registers one.
public struct AccountResolver: Sendable {
    public var store: AccountStore
    public var client: ACMEClient
    public var server: String
    public var progress: @Sendable (String) -> Void

    public init(configDirectory: String, client: ACMEClient, server: String, progress: @escaping @Sendable (String) -> Void) {
        self.store = AccountStore(configDirectory: configDirectory)
        self.client = client
        self.server = server
        self.progress = progress
    }

    /// The stored account for the server (`id` if given, else the oldest), loaded without contacting the CA.
    public func existing(id: String? = nil) throws -> ResolvedAccount? {
        let all = try store.accounts(server: server)
        guard let stored = id.flatMap({ id in all.first { $0.id == id } }) ?? all.first else { return nil }
        let key: PrivateKey
        do {
            key = try PrivateKey(jwk: stored.privateKeyJWK)
        } catch {
            throw IssuanceError("account key \(store.serverDirectory(for: server))/\(stored.id)/private_key.json is unreadable: \(error)")
        }
        return ResolvedAccount(stored: stored, credentials: AccountCredentials(key: key, url: stored.uri), created: false)
    }

    /// The stored account, or a new one registered with `options`.
    public func resolve(_ options: RegistrationOptions, id: String? = nil) async throws -> ResolvedAccount {
        if let account = try existing(id: id) {
            progress("using account \(account.stored.id) (\(account.credentials.url))")
            return account
        }
        return try await register(options)
    }

    /// Registers a new account (or finds the one the CA already has for the same key) and stores it.
    public func register(_ options: RegistrationOptions, key existingKey: PrivateKey? = nil) async throws -> ResolvedAccount {
        let directory = try await client.directory()
        if let tos = directory.meta?.termsOfService, !options.agreeTOS {
            throw IssuanceError("the CA requires agreeing to its terms of service (\(tos)); read them and pass --agree-tos", usage: true)
        }
        if directory.meta?.externalAccountRequired == true, options.eab == nil {
            throw IssuanceError("the CA requires External Account Binding; pass --eab-kid and --eab-hmac-key from your CA account", usage: true)
        }
        let key = try existingKey ?? PrivateKey.generate(options.accountKeyType)
        let contact = options.email.map { ["mailto:" + $0] } ?? []
        let account = try await client.newAccount(key: key, contact: contact,
                                                  termsOfServiceAgreed: directory.meta?.termsOfService != nil,
                                                  externalAccountBinding: options.eab)
        let stored = StoredAccount(id: try Self.accountID(key), privateKeyJWK: try key.privateJWK(), uri: account.url,
                                   creationDate: Date(), creationHost: Self.hostName())
        try store.save(stored, server: server)
        progress("registered account \(stored.id) (\(account.url))")
        return ResolvedAccount(stored: stored, credentials: AccountCredentials(key: key, url: account.url), created: true)
    }

    /// certbot's account id: MD5 of the public key's PEM text.
    public static func accountID(_ key: PrivateKey) throws -> String {
        Digest.md5Hex(Array(try key.publicKeyPEM().utf8))
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}
