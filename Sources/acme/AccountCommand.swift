import ACMECrypto
import ArgumentParser
import Base
import Fleet
import Issuance

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Register, show, roll the key of, or deactivate the ACME account stored for a CA (with --store: the fleet's account, under the store's lock).",
        subcommands: [Register.self, Show.self, KeyRollover.self, Deactivate.self]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an account with the CA and store it (certbot's accounts/ layout).")
        @OptionGroup var common: CommonOptions
        @OptionGroup var registration: RegistrationArguments
        @OptionGroup var fleet: StoreOptions

        func run() async throws {
            try await ExitStatus.run {
                let account: ResolvedAccount
                if let store = fleet.settings {
                    account = try await common.fleetAccount(store).register(try registration.options()).account
                } else {
                    account = try await common.accounts().registerOrFind(try registration.options()).account
                }
                common.output.result("account: \(account.credentials.url)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the stored account and what the CA says about it.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var fleet: StoreOptions

        func run() async throws {
            try await ExitStatus.run {
                let account: AccountStatus
                if let store = fleet.settings { account = try await common.fleetAccount(store).show() } else { account = try await common.accounts().show() }
                // Every field escaped before layout: the values come from the CA and our JSON files.
                common.output.result("""
                id:       \(account.stored.id.escapedForDisplay)
                url:      \(account.url.escapedForDisplay)
                status:   \(account.status.escapedForDisplay)
                contact:  \(account.contact.joined(separator: ", ").escapedForDisplay)
                key:      \(account.keyType)
                created:  \(account.stored.creationDate.utcText) on \(account.stored.creationHost.escapedForDisplay)
                """)
            }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate the stored account at the CA (irreversible) and remove it from disk.")
        @OptionGroup var common: CommonOptions
        @Flag(help: "Confirm: the CA will refuse this account from now on.") var yes = false
        @OptionGroup var fleet: StoreOptions

        func validate() throws {
            if !yes { throw ValidationError("deactivation cannot be undone; pass --yes to confirm") }
        }

        func run() async throws {
            try await ExitStatus.run {
                let (id, status): (String, String)
                if let store = fleet.settings {
                    (id, status) = try await common.fleetAccount(store).deactivate()
                } else {
                    (id, status) = try await common.accounts().deactivate()
                }
                common.output.result("account \(id) is \(status)")
            }
        }
    }

    struct KeyRollover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key-rollover",
            abstract: "Replace the account key at the CA (RFC 8555 §7.3.5) and on disk; the account and its certificates stay.")
        @OptionGroup var common: CommonOptions
        @Option(help: .init("Type of the new key: rsa2048 (default, certbot can use it), rsa3072, rsa4096, ec256, ec384.", valueName: "TYPE"),
                transform: { try KeyType(parsing: $0, flag: "--account-key-type") }) var accountKeyType: KeyType = .rsa(bits: 2048)
        @OptionGroup var fleet: StoreOptions

        func run() async throws {
            try await ExitStatus.run {
                let waiting = common.output.waiting(common.configDirectory)
                guard let store = fleet.settings else {
                    let account = try await common.accounts().rollKey(to: accountKeyType, waiting: waiting)
                    common.output.result("account \(account.stored.id) now signs with a new \(accountKeyType) key (\(account.credentials.url))")
                    return
                }
                let (account, rolledHere) = try await common.fleetAccount(store).rollKey(to: accountKeyType, waiting: waiting)
                if rolledHere {
                    common.output.result("account \(account.stored.id) now signs with a new \(accountKeyType) key (\(account.credentials.url)); published to the store")
                } else {
                    common.output.result("account \(account.stored.id): another node rolled its key meanwhile; this node now signs with that key, not rolled again")
                }
            }
        }
    }
}

extension CommonOptions {
    /// The account workflows through the fleet's store (`--store`).
    func fleetAccount(_ store: StoreSettings) throws -> FleetAccount {
        let output = output
        return FleetAccount(store: store, service: try accounts(), toolVersion: acmeVersion, progress: { output.step($0) })
    }
}
