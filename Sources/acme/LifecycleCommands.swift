import ACME
import ACMECrypto
import ArgumentParser
import CertStore
import FoundationEssentials
import Issuance
import Renewal

struct Certificates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the certificates under the config directory: names, expiry, days left, key type, profile, path.")

    @OptionGroup var store: ConfigDirectoryArguments

    @Flag(name: .long, help: "Print a JSON array instead of text.")
    var json = false

    func run() async throws {
        let lineages = Inventory(configDirectory: store.configDirectory).lineages()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(lineages), as: UTF8.self))
            return
        }
        if lineages.isEmpty {
            print("no certificates under \(store.configDirectory)/renewal")
            return
        }
        for item in lineages {
            let expiry = item.notAfter.map { "\(formatDate($0)) (\(item.daysLeft ?? 0) days)" } ?? "unknown"
            print("""
            \(item.name)
              domains:  \(item.domains.joined(separator: " "))
              expires:  \(expiry)
              key:      \(item.keyType ?? "unknown")
              profile:  \(item.profile ?? "CA default")
              status:   \(item.status)
              path:     \(item.certificatePath)
            """)
        }
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a certificate (RFC 8555 §7.6), signed by the account or by the certificate's own key.",
        discussion: """
        Examples:
          acme revoke --cert-name mail.example.com --reason superseded
          acme revoke --cert-path old.pem --key-path old-key.pem --reason key-compromise --server https://ca.example/dir
        """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("The lineage whose current certificate to revoke (its server and account are used).", valueName: "NAME"))
    var certName: String?

    @Option(name: .long, help: ArgumentHelp("A certificate file to revoke instead.", valueName: "FILE"))
    var certPath: String?

    @Option(name: .long, help: ArgumentHelp("Sign with the certificate's private key instead of the account (e.g. after a key compromise).", valueName: "FILE"))
    var keyPath: String?

    @Option(name: .long, help: ArgumentHelp("unspecified (default), key-compromise, affiliation-changed, superseded, cessation-of-operation.", valueName: "REASON"))
    var reason = "unspecified"

    static let reasons = ["unspecified": 0, "key-compromise": 1, "keycompromise": 1, "affiliation-changed": 3, "affiliationchanged": 3,
                          "superseded": 4, "cessation-of-operation": 5, "cessationofoperation": 5]

    func validate() throws {
        if (certName == nil) == (certPath == nil) {
            throw ValidationError("give exactly one of --cert-name NAME and --cert-path FILE")
        }
        if Self.reasons[reason.lowercased()] == nil {
            throw ValidationError("--reason \(reason) is not one of unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation")
        }
    }

    func run() async throws {
        let output = common.output
        do {
            var server = common.directoryURL
            var bundle = common.caBundlePath
            var accountID: String?
            let certificateFile: String
            if let certName {
                let store = LineageStore(configDirectory: common.configDirectory)
                guard let lineage = try store.lineage(named: certName) else {
                    throw UsageError("no certificate named \(certName) under \(common.configDirectory)/renewal; see acme certificates")
                }
                let config = try store.renewalConfig(of: lineage)
                if common.server == nil, !common.staging, let saved = config[param: "server"] { server = saved }
                if bundle == nil { bundle = config[param: "ca_bundle"] }
                accountID = config[param: "account"]
                certificateFile = lineage.certPath
            } else {
                certificateFile = absolutePath(certPath!)
            }
            let certificate = try Certificate(pem: try FS.read(certificateFile))
            let (client, _) = try makeACMEClient(server: server, caBundle: bundle, output: output,
                                                 fix: "give the CA's directory URL to --server")
            let code = Self.reasons[reason.lowercased()] ?? 0
            if let keyPath {
                let key = try PrivateKey(pem: try FS.read(absolutePath(keyPath)))
                guard certificate.matches(key) else {
                    throw UsageError("\(keyPath) is not the private key of \(certificateFile)")
                }
                try await client.revoke(certificateDER: certificate.der, reason: code, key: key, kid: nil)
            } else {
                let resolver = AccountResolver(configDirectory: common.configDirectory, client: client, server: server,
                                               progress: { output.step($0) })
                guard let account = try resolver.existing(id: accountID) else {
                    throw UsageError("no account stored for \(server) under \(common.configDirectory)/accounts; pass --key-path to sign with the certificate's key")
                }
                try await client.revoke(certificateDER: certificate.der, reason: code, key: account.credentials.key,
                                        kid: account.credentials.url)
            }
            output.result("revoked serial \(certificate.serialHex) (\(certificate.dnsNames.joined(separator: ", "))), reason \(reason)")
        } catch {
            throw ExitStatus.fail(error)
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a lineage: its renewal conf, live/ links and archive/ files. Nothing is revoked.")

    @Option(name: .long, help: ArgumentHelp("The lineage to delete.", valueName: "NAME"))
    var certName: String

    @OptionGroup var store: ConfigDirectoryArguments

    func run() async throws {
        do {
            try validatePathComponent(certName, what: "certificate name")
            let directory = store.configDirectory
            let lock = try store.lock(output: Output(quiet: false, verbose: false))
            defer { withExtendedLifetime(lock) {} }
            let store = LineageStore(configDirectory: directory)
            guard let lineage = try store.lineage(named: certName) else {
                throw UsageError("no certificate named \(certName) under \(directory)/renewal; see acme certificates")
            }
            try store.delete(lineage)
            print("deleted \(certName) (\(lineage.renewalConfigPath), \(lineage.livePath), \(lineage.archivePath))")
        } catch {
            throw ExitStatus.fail(error)
        }
    }
}
