import ACME
import ACMECrypto
import Base
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

extension RegistrationOptions {
    /// From the registration flags: a plain mail address, EAB key id and base64url HMAC key together.
    public init(email: String?, agreeTOS: Bool, eabKid: String?, eabHmacKey: String?, accountKeyType: KeyType) throws {
        if let email, !email.contains("@") || email.contains(" ") || email.contains(",") {
            throw IssuanceError(.invalidRegistration, "\(SettingName.contactAddress) \(email) is not a mail address")
        }
        var eab: ExternalAccountBinding?
        switch (eabKid, eabHmacKey) {
        case (nil, nil): break
        case (let kid?, let key?):
            guard let mac = Base64URL.decode(key), !mac.isEmpty else {
                throw IssuanceError(.invalidRegistration, "\(SettingName.eabHMACKey) is not base64url text; copy it exactly as your CA shows it")
            }
            eab = ExternalAccountBinding(keyID: kid, macKey: mac)
        default:
            throw IssuanceError(.invalidRegistration, "\(SettingName.eabKeyID) and \(SettingName.eabHMACKey) go together; give both or neither")
        }
        self.init(email: email, agreeTOS: agreeTOS, eab: eab, accountKeyType: accountKeyType)
    }
}

/// An account as stored under `accounts/` together with its loaded key.
public struct ResolvedAccount: Sendable {
    public var stored: StoredAccount
    public var credentials: AccountCredentials
    public var created: Bool
}

/// What the CA says about a stored account (`acme account show`).
public struct AccountStatus: Sendable {
    public var stored: StoredAccount
    public var url: String
    public var status: String
    public var contact: [String]
    public var keyType: KeyType
}

/// The account workflows on certbot's `accounts/` layout: find or register, show, deactivate,
/// and the crash-safe key rollover.
public struct AccountService: Sendable {
    public var store: AccountStore
    public var client: ACMEClient
    public var server: String
    public var progress: EventSink

    public init(configDirectory: String, client: ACMEClient, server: String, progress: @escaping EventSink) {
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
            throw IssuanceError(.unreadableAccount, "account key \(store.serverDirectory(for: server))/\(stored.id)/private_key.json is unreadable: \(error)")
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
            throw IssuanceError(.termsNotAgreed, "the CA requires agreeing to its terms of service (\(tos)); read them, then give \(SettingName.termsAgreement)")
        }
        if directory.meta?.externalAccountRequired == true, options.eab == nil {
            throw IssuanceError(.eabRequired, "the CA requires External Account Binding; give \(SettingName.eabKeyID) and \(SettingName.eabHMACKey) from your CA account")
        }
        let key = try existingKey ?? PrivateKey.generate(options.accountKeyType)
        let contact = options.email.map { ["mailto:" + $0] } ?? []
        let account = try await client.newAccount(key: key, contact: contact,
                                                  termsOfServiceAgreed: directory.meta?.termsOfService != nil,
                                                  externalAccountBinding: options.eab)
        let stored = StoredAccount(id: try Self.accountID(key), privateKeyJWK: try key.privateJWK(), uri: account.url,
                                   creationDate: Date(), creationHost: LocalSystem.hostName())
        try store.save(stored, server: server)
        progress("registered account \(stored.id) (\(account.url))")
        return ResolvedAccount(stored: stored, credentials: AccountCredentials(key: key, url: account.url), created: true)
    }

    /// The stored account, or a CA error that says none is stored.
    func required() throws -> ResolvedAccount {
        guard let account = try existing() else {
            throw IssuanceError(.noAccount, "no account stored for \(server) under \(store.configDirectory)/accounts; run `acme account register` first")
        }
        return account
    }

    /// `acme account register`: the stored account if the CA still knows its key (RFC 8555
    /// §7.3.1, onlyReturnExisting), else a new registration. `created` says which.
    public func registerOrFind(_ options: RegistrationOptions) async throws -> (account: ResolvedAccount, created: Bool) {
        if let account = try existing() {
            let found = try await client.newAccount(key: account.credentials.key, contact: [], termsOfServiceAgreed: false,
                                                    onlyReturnExisting: true)
            progress("an account is already stored for \(server): \(account.stored.id)")
            var current = account
            current.credentials.url = found.url
            return (current, false)
        }
        return (try await register(options), true)
    }

    /// `acme account show`: looks the key up at the CA (so a stale URL on disk cannot mislead),
    /// then fetches the account.
    public func show() async throws -> AccountStatus {
        let account = try required()
        let found = try await client.newAccount(key: account.credentials.key, contact: [], termsOfServiceAgreed: false,
                                                onlyReturnExisting: true)
        let body = try await client.account(AccountCredentials(key: account.credentials.key, url: found.url)).body
        return AccountStatus(stored: account.stored, url: found.url, status: body.status ?? "unknown",
                             contact: body.contact ?? [], keyType: account.credentials.key.type)
    }

    /// `acme account deactivate`: deactivates at the CA (irreversible), then removes the files.
    public func deactivate() async throws -> (id: String, status: String) {
        let account = try required()
        let result = try await client.deactivateAccount(account.credentials)
        try store.delete(id: account.stored.id, server: server)
        return (account.stored.id, result.body.status ?? "deactivated")
    }

    /// `acme account key-rollover` (RFC 8555 §7.3.5). The new key is on disk
    /// (`private_key.next.json`) before the CA hears of it, so a run killed between the CA's
    /// answer and the final save loses nothing. The account keeps its id (renewal confs name
    /// it); only its key file changes. Holds the config directory lock meanwhile.
    public func rollKey(to type: KeyType, waiting: @escaping @Sendable () -> Void = {}) async throws -> ResolvedAccount {
        let lock = try await ConfigLock.acquire(configDirectory: store.configDirectory, create: false, waiting: waiting)
        defer { lock.release() }
        let account = try required()
        let id = account.stored.id
        let pending = store.pendingKeyPath(id: id, server: server)
        if FS.exists(pending) {
            throw IssuanceError(.interruptedKeyRollover, "\(pending) is left from an interrupted key rollover; if `acme account show` fails with the current key, the CA switched already: move that file over private_key.json; otherwise delete it, then run key-rollover again")
        }
        let newKey = try PrivateKey.generate(type)
        try store.savePendingKey(try newKey.privateJWK(), id: id, server: server)
        do {
            try await client.changeKey(account.credentials, to: newKey)
        } catch {
            // The CA kept the old key: the pending one must not suggest otherwise.
            try FS.remove(pending)
            throw error
        }
        var stored = account.stored
        stored.privateKeyJWK = try newKey.privateJWK()
        try store.save(stored, server: server)
        try FS.remove(pending)
        return ResolvedAccount(stored: stored, credentials: AccountCredentials(key: newKey, url: account.credentials.url), created: false)
    }

    /// certbot's account id: MD5 of the public key's PEM text.
    public static func accountID(_ key: PrivateKey) throws -> String {
        Digest.md5Hex(Array(try key.publicKeyPEM().utf8))
    }

}
