import ArgumentParser
import Base
import FleetStore

/// `--store URL` (or ACME_STORE) and `--store-key FILE`, for every command that uses the fleet store.
struct StoreArguments: ParsableArguments {
    @Option(help: .init("The fleet store: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or libpq key=value settings (env ACME_STORE).", valueName: "URL")) var store: String?
    @Option(help: .init("File with the 32-byte AES-256-GCM key (base64, mode 0600) that encrypts private keys in the store.", valueName: "FILE")) var storeKey: String?

    func validate() throws {
        if store == nil, LocalSystem.environment("ACME_STORE") == nil {
            throw ValidationError("give the store: --store postgresql://USER@HOST/DB, or set ACME_STORE")
        }
    }

    var url: String { store ?? LocalSystem.environment("ACME_STORE") ?? "" }
    var keyFile: String? { storeKey.map(LocalSystem.absolutePath) }
}

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "The PostgreSQL store several mail front-ends share (fleet mode): create, inspect, import into, export from.",
        discussion: "See Docs/FLEET.md.",
        subcommands: [Init.self, Status.self, Import.self, Export.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the store's tables, or migrate them to this acme's schema.")
        @OptionGroup var store: StoreArguments

        func run() async throws {
            try await ExitStatus.runBlocking {
                let opened = try FleetStore.open(url: store.url, keyFile: store.keyFile)
                let was = opened.foundSchemaVersion.map { "was \($0)" } ?? "created"
                Output.print("store \(opened.url.redacted): schema version \(StoreSchema.latest) (\(was))")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the store's schema version and what it holds; changes nothing.")
        @OptionGroup var store: StoreArguments

        func run() async throws {
            try await ExitStatus.runBlocking {
                let status = try FleetStore.status(url: store.url)
                guard let version = status.schemaVersion else {
                    Output.print("store \(try StoreURL(store.url).redacted): no acme tables yet (acme store init creates them)")
                    return
                }
                Output.print("""
                schema:     version \(version)
                lineages:   \(status.lineages) (\(status.versions) versions)
                accounts:   \(status.accounts)
                challenges: \(status.challenges) live
                keys:       \(status.encrypted ? "encrypted (--store-key)" : "not encrypted")
                """)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a certbot layout (certbot's or acme's) into the store: lineages with every version, renewal confs, accounts.",
            discussion: "Example: acme store import --config-dir /etc/letsencrypt --store postgresql://acme@db/acme --store-key /etc/acme/store.key")
        @OptionGroup var config: ConfigDirectoryArguments
        @OptionGroup var store: StoreArguments

        func run() async throws {
            try await ExitStatus.runBlocking {
                let report = try LayoutImport.run(configDirectory: config.configDirectory, storeURL: store.url, keyFile: store.keyFile,
                                                  waiting: Output().waiting(config.configDirectory))
                Output.print("imported \(report.lineages) lineages (\(report.versionsAdded) new versions, \(report.versionsAlreadyStored) already stored) and \(report.accounts) accounts from \(config.configDirectory)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the store as a certbot layout into a new directory.",
            discussion: "Example: acme store export /root/letsencrypt-backup --store postgresql://acme@db/acme --store-key /etc/acme/store.key")
        @Argument(help: .init("A directory that does not exist yet (or is empty).", valueName: "DIR")) var directory: String
        @OptionGroup var store: StoreArguments

        func run() async throws {
            try await ExitStatus.runBlocking {
                let report = try LayoutExport.run(storeURL: store.url, keyFile: store.keyFile, to: directory)
                Output.print("exported \(report.lineages) lineages (\(report.versions) versions) and \(report.accounts) accounts to \(LocalSystem.absolutePath(directory))")
            }
        }
    }
}
