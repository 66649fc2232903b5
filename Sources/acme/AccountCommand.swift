#if canImport(Glibc)
import Glibc
#endif
import ACME
import ACMECrypto
import ArgumentParser
import CertStore
import Issuance

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Register, show, roll the key of, or deactivate the ACME account stored for a CA.",
        subcommands: [Register.self, Show.self, KeyRollover.self, Deactivate.self]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an account with the CA and store it (certbot's accounts/ layout).")
        @OptionGroup var common: CommonOptions
        @OptionGroup var registration: RegistrationArguments

        func run() async throws {
            let output = common.output
            do {
                let (client, _) = try common.makeClient(output: output)
                let resolver = AccountResolver(configDirectory: common.configDirectory, client: client,
                                               server: common.directoryURL, progress: { output.step($0) })
                if let account = try resolver.existing() {
                    // Ask the CA whether it still knows this key (RFC 8555 §7.3.1), rather than registering a second account.
                    let found = try await client.newAccount(key: account.credentials.key, contact: [], termsOfServiceAgreed: false,
                                                            onlyReturnExisting: true)
                    output.step("an account is already stored for \(common.directoryURL): \(account.stored.id)")
                    output.result("account: \(found.url)")
                    return
                }
                let account = try await resolver.register(try registration.options())
                output.result("account: \(account.credentials.url)")
            } catch {
                throw ExitStatus.fail(error)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the stored account and what the CA says about it.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let output = common.output
            do {
                let (client, _) = try common.makeClient(output: output)
                let resolver = AccountResolver(configDirectory: common.configDirectory, client: client,
                                               server: common.directoryURL, progress: { output.step($0) })
                guard let account = try resolver.existing() else {
                    throw UsageError("no account stored for \(common.directoryURL) under \(common.configDirectory)/accounts; run `acme account register` first")
                }
                // Look the key up (RFC 8555 §7.3.1) so a stale URL on disk cannot mislead, then fetch the account.
                let found = try await client.newAccount(key: account.credentials.key, contact: [], termsOfServiceAgreed: false,
                                                        onlyReturnExisting: true)
                let body = try await client.account(AccountCredentials(key: account.credentials.key, url: found.url)).body
                output.result("""
                id:       \(account.stored.id)
                url:      \(found.url)
                status:   \(body.status ?? "unknown")
                contact:  \((body.contact ?? []).joined(separator: ", "))
                key:      \(account.credentials.key.type)
                created:  \(formatDate(account.stored.creationDate)) on \(account.stored.creationHost)
                """)
            } catch {
                throw ExitStatus.fail(error)
            }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate the stored account at the CA (irreversible) and remove it from disk.")
        @OptionGroup var common: CommonOptions
        @Flag(name: .long, help: "Confirm: the CA will refuse this account from now on.")
        var yes = false

        func validate() throws {
            if !yes { throw ValidationError("deactivation cannot be undone; pass --yes to confirm") }
        }

        func run() async throws {
            let output = common.output
            do {
                let (client, _) = try common.makeClient(output: output)
                let resolver = AccountResolver(configDirectory: common.configDirectory, client: client,
                                               server: common.directoryURL, progress: { output.step($0) })
                guard let account = try resolver.existing() else {
                    throw UsageError("no account stored for \(common.directoryURL) under \(common.configDirectory)/accounts")
                }
                let result = try await client.deactivateAccount(account.credentials)
                try resolver.store.delete(id: account.stored.id, server: common.directoryURL)
                output.result("account \(account.stored.id) is \(result.body.status ?? "deactivated")")
            } catch {
                throw ExitStatus.fail(error)
            }
        }
    }

    struct KeyRollover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key-rollover",
            abstract: "Replace the account key at the CA (RFC 8555 §7.3.5) and on disk; the account and its certificates stay.")
        @OptionGroup var common: CommonOptions
        @Option(name: .long, help: ArgumentHelp("Type of the new key: rsa2048 (default, certbot can use it), rsa3072, rsa4096, ec256, ec384.", valueName: "TYPE"))
        var accountKeyType = "rsa2048"

        func validate() throws {
            if KeyType(parsing: accountKeyType) == nil {
                throw ValidationError("--account-key-type \(accountKeyType) is not one of rsa2048, rsa3072, rsa4096, ec256, ec384")
            }
        }

        func run() async throws {
            let output = common.output
            do {
                let lock = try common.lockConfigDirectory()
                defer { withExtendedLifetime(lock) {} }
                let (client, _) = try common.makeClient(output: output)
                let resolver = AccountResolver(configDirectory: common.configDirectory, client: client,
                                               server: common.directoryURL, progress: { output.step($0) })
                guard let account = try resolver.existing() else {
                    throw UsageError("no account stored for \(common.directoryURL) under \(common.configDirectory)/accounts; run `acme account register` first")
                }
                let newKey = try PrivateKey.generate(KeyType(parsing: accountKeyType) ?? .rsa(bits: 2048))
                let store = resolver.store, server = common.directoryURL, id = account.stored.id
                let pending = store.pendingKeyPath(id: id, server: server)
                if FS.exists(pending) {
                    throw UsageError("\(pending) is left from an interrupted key rollover; if `acme account show` fails with the current key, the CA switched already: move that file over private_key.json; otherwise delete it, then run key-rollover again")
                }
                // The new key is on disk before the CA hears of it.
                try store.savePendingKey(try newKey.privateJWK(), id: id, server: server)
                do {
                    try await client.changeKey(account.credentials, to: newKey)
                } catch {
                    unlink(pending)
                    throw error
                }
                // The account keeps its id (renewal confs name it); only its key file changes.
                var stored = account.stored
                stored.privateKeyJWK = try newKey.privateJWK()
                try store.save(stored, server: server)
                unlink(pending)
                output.result("account \(stored.id) now signs with a new \(newKey.type) key (\(account.credentials.url))")
            } catch {
                throw ExitStatus.fail(error)
            }
        }
    }
}
