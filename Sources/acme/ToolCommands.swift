import ACMECrypto
import ArgumentParser
import CertStore
import Issuance
import Provision
import Renewal

struct SelfSigned: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfsigned",
        abstract: "Create a test CA and a certificate for the mail server in docker-mailserver's self-signed layout.",
        discussion: """
        Writes <FQDN>-key.pem, <FQDN>-cert.pem, <FQDN>-combined.pem and demoCA/cacert.pem (plus the CA key in
        demoCA/private/cakey.pem), the files SSL_TYPE=self-signed expects in docker-mailserver's ssl/ folder.
        Examples:
          acme selfsigned --hostname mail.example.test
          acme selfsigned --hostname mail.example.test --san imap.example.test --key-type rsa2048 --days 90 --output ./ssl
        """)

    @Option(name: .long, help: ArgumentHelp("The mail server's FQDN (env OVERRIDE_HOSTNAME, then HOSTNAME).", valueName: "FQDN"))
    var hostname: String?

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Another name for the certificate; repeat for more.", valueName: "NAME"))
    var san: [String] = []

    @OptionGroup var key: KeyTypeArguments

    @Option(name: .long, help: ArgumentHelp("Validity of the certificate in days.", valueName: "DAYS"))
    var days = 825

    @Option(name: .long, help: ArgumentHelp("Validity of the test CA in days.", valueName: "DAYS"))
    var caDays = 3650

    @Option(name: .long, help: ArgumentHelp("Directory to write to (default: <dms-config>/ssl).", valueName: "DIR"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("docker-mailserver's config volume.", valueName: "DIR"))
    var dmsConfig = "/tmp/docker-mailserver"

    @Flag(name: .long, help: "Replace an existing set.")
    var force = false

    func validate() throws {
        if !(1...36500).contains(days) { throw ValidationError("--days \(days) is not between 1 and 36500") }
        if !(1...36500).contains(caDays) { throw ValidationError("--ca-days \(caDays) is not between 1 and 36500") }
        if caDays < days { throw ValidationError("--ca-days \(caDays) is shorter than --days \(days); the CA must outlive the certificate") }
    }

    func run() async throws {
        do {
            let fqdnText = hostname ?? environment("OVERRIDE_HOSTNAME").flatMap { $0.isEmpty ? nil : $0 } ?? environment("HOSTNAME")
            guard let fqdnText, !fqdnText.isEmpty else {
                throw UsageError("give the mail server's name with --hostname mail.example.com")
            }
            let names = try DomainName.normalize(all: [fqdnText] + san)
            if let wildcard = names.first(where: { $0.hasPrefix("*.") }), wildcard == names[0] {
                throw UsageError("--hostname \(wildcard) is a wildcard; give the mail server's own name (add the wildcard with --san)")
            }
            var set = SelfSignedSet(fqdn: names[0])
            set.extraNames = Array(names.dropFirst())
            set.keyType = key.type
            set.leafDays = days
            set.caDays = caDays
            let directory = absolutePath(output ?? dmsConfig + "/ssl")
            let files = try set.write(to: directory, overwrite: force)
            print("""
            key:         \(files.key)
            certificate: \(files.cert)
            combined:    \(files.combined)
            test CA:     \(files.caCert)  (its key: \(files.caKey))
            """)
        } catch {
            throw ExitStatus.fail(error)
        }
    }
}

struct TLSA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlsa",
        abstract: "Print DANE TLSA records (3 1 1 for the key, 2 1 1 for the issuing CA) for SMTP.",
        discussion: """
        With --next, also the 3 1 1 record of the key the next renewal will use (made now and kept for
        that renewal), so it can be published before the key changes.
        Examples:
          acme tlsa --cert-name mail.example.com
          acme tlsa --cert-name mail.example.com --next --host mx1.example.com
          acme tlsa --cert-path /etc/dms/tls/current/fullchain.pem --port 465
        """)

    @Option(name: .long, help: ArgumentHelp("The lineage.", valueName: "NAME"))
    var certName: String?

    @Option(name: .long, help: ArgumentHelp("A certificate file (leaf first; its issuer too for 2 1 1).", valueName: "FILE"))
    var certPath: String?

    @Option(name: .long, help: ArgumentHelp("The MX host name in the record owner (default: the certificate's first name).", valueName: "HOST"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp("Port in the record owner (default 25).", valueName: "PORT"))
    var port = 25

    @Flag(name: .long, help: "Also print the record of the key the next renewal will use (needs --cert-name).")
    var next = false

    @OptionGroup var store: ConfigDirectoryArguments

    func validate() throws {
        if (certName == nil) == (certPath == nil) { throw ValidationError("give exactly one of --cert-name NAME and --cert-path FILE") }
        if next, certName == nil { throw ValidationError("--next needs --cert-name: the next key belongs to a lineage") }
        if !(1...65535).contains(port) { throw ValidationError("--port \(port) is not a port number") }
    }

    func run() async throws {
        do {
            let lineages = LineageStore(configDirectory: store.configDirectory)
            var lineage: Lineage?
            let file: String
            if let certName {
                guard let found = try lineages.lineage(named: certName) else {
                    throw UsageError("no certificate named \(certName) under \(store.configDirectory)/renewal; see acme certificates")
                }
                lineage = found
                file = found.fullchainPath
            } else {
                file = absolutePath(certPath!)
            }
            let chain = try Certificate.chain(pem: try FS.read(file))
            guard let leaf = chain.first else { throw UsageError("\(file) holds no PEM certificate") }
            let owner = TLSARecords.owner(host: try host.map { try DomainName.normalize(all: [$0])[0] } ?? leaf.dnsNames.first ?? leaf.subjectCommonName ?? "mail.example.com",
                                          port: port)
            var records = TLSARecords.records(chain: chain)
            if chain.count < 2 { Output.writeErr("note: \(file) holds no issuer certificate, so there is no 2 1 1 record") }
            if next, let lineage {
                let (record, created) = try TLSARecords.nextRecord(lineage: lineage, store: lineages)
                if created { Output.writeErr("made the key for the next renewal: \(lineage.nextKeyPath) (mode 0600)") }
                records.insert(record, at: 1)
            }
            for record in records { print("\(record.zoneLine(owner: owner))  ; \(record.comment)") }
        } catch {
            throw ExitStatus.fail(error)
        }
    }
}
