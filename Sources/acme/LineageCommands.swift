import ArgumentParser
import Base
import CertStore
import Fleet
import FoundationEssentials
import Issuance
import Renewal

struct Certificates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the certificates under the config directory: names, expiry, days left, key type, profile, path.")
    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var fleet: StoreOptions
    @Flag(help: "Print a JSON array instead of text.") var json = false

    func run() async throws {
        try await ExitStatus.run {
            var syncProblems: [String] = []
            if let settings = fleet.settings {
                // Fleet mode: what this node serves after a sync (the store's newer versions brought in).
                let configDirectory = store.configDirectory
                let synced = try await onOwnThread(throwing: {
                    try StoreSync(configDirectory: configDirectory, toolVersion: acmeVersion).run(settings.open())
                })
                for name in synced.installed { Output.writeErr("\(name): new version from the store") }
                for problem in synced.problems { Output.writeErr("error: \(problem)") }
                syncProblems = synced.problems
            }
            let lineages = try Inventory(configDirectory: store.configDirectory).lineages()
            if json {
                try Output.printJSON(lineages)
            } else {
                Output.print(lineages.isEmpty ? "no certificates under \(store.configDirectory)/renewal" : lineages.map(\.text).joined(separator: "\n"))
            }
            // A lineage renew would fail on must reach cron and monitoring, not only the listing.
            if lineages.contains(where: \.isBroken) || !syncProblems.isEmpty { throw ExitCode(ExitStatus.code(for: .localState)) }
        }
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a certificate (RFC 8555 §7.6), signed by the account or by the certificate's own key.",
        discussion: """
        Examples: acme revoke --cert-name mail.example.com --reason superseded
                  acme revoke --cert-path old.pem --key-path old-key.pem --reason key-compromise --server https://ca.example/dir
        """)
    @OptionGroup var common: CommonOptions
    @Option(help: .init("The lineage whose current certificate to revoke (its server and account are used).", valueName: "NAME"), transform: lineageName) var certName: String?
    @Option(help: .init("A certificate file to revoke instead.", valueName: "FILE")) var certPath: String?
    @Option(help: .init("Sign with the certificate's private key instead of the account (e.g. after a key compromise).", valueName: "FILE")) var keyPath: String?
    @Option(help: .init("unspecified (default), key-compromise, affiliation-changed, superseded, cessation-of-operation.", valueName: "REASON"),
            transform: RevocationReason.init(flag:)) var reason: RevocationReason = .unspecified

    func validate() throws {
        if (certName == nil) == (certPath == nil) { throw ValidationError("give exactly one of --cert-name NAME and --cert-path FILE") }
    }

    func run() async throws {
        try await ExitStatus.run {
            let output = common.output
            let request = RevocationRequest(target: certName.map { .lineage($0) } ?? .file(LocalSystem.absolutePath(certPath ?? "")),
                                            keyPath: keyPath.map(LocalSystem.absolutePath), reason: reason, configDirectory: common.configDirectory,
                                            server: common.chosenServer, defaultServer: common.directoryURL, caBundle: common.caBundlePath)
            let revoked = try await Revoker(makeClient: common.printing.clientFactory, progress: { output.step($0) }).revoke(request)
            output.result("revoked serial \(revoked.serialHex) (\(revoked.dnsNames.joined(separator: ", ").escapedForDisplay)), reason \(reason.name)")
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a lineage: its renewal conf, live/ links and archive/ files. Nothing is revoked.")
    @Option(help: .init("The lineage to delete.", valueName: "NAME"), transform: lineageName) var certName: String
    @OptionGroup var store: ConfigDirectoryArguments

    func run() async throws {
        try await ExitStatus.runBlocking {
            let lineage = try LineageStore(configDirectory: store.configDirectory).delete(named: certName, waiting: Output().waiting(store.configDirectory))
            Output.print("deleted \(certName) (\(lineage.renewalConfigPath), \(lineage.livePath), \(lineage.archivePath))")
        }
    }
}
