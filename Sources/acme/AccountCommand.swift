import ACMECrypto
import ArgumentParser
import Base
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
            try await ExitStatus.run {
                let (account, _) = try await common.accounts().registerOrFind(try registration.options())
                common.output.result("account: \(account.credentials.url)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the stored account and what the CA says about it.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await ExitStatus.run {
                let account = try await common.accounts().show()
                common.output.result("""
                id:       \(account.stored.id)
                url:      \(account.url)
                status:   \(account.status)
                contact:  \(account.contact.joined(separator: ", "))
                key:      \(account.keyType)
                created:  \(account.stored.creationDate.utcText) on \(account.stored.creationHost)
                """)
            }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate the stored account at the CA (irreversible) and remove it from disk.")
        @OptionGroup var common: CommonOptions
        @Flag(help: "Confirm: the CA will refuse this account from now on.") var yes = false

        func validate() throws {
            if !yes { throw ValidationError("deactivation cannot be undone; pass --yes to confirm") }
        }

        func run() async throws {
            try await ExitStatus.run {
                let (id, status) = try await common.accounts().deactivate()
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

        func run() async throws {
            try await ExitStatus.run {
                let account = try await common.accounts().rollKey(to: accountKeyType, waiting: common.output.waiting(common.configDirectory))
                common.output.result("account \(account.stored.id) now signs with a new \(accountKeyType) key (\(account.credentials.url))")
            }
        }
    }
}
