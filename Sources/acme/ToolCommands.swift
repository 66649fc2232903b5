import ArgumentParser
import Base
import DANE
import DNS
import Provision

struct SelfSigned: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfsigned",
        abstract: "Create a test CA and a certificate for the mail server in docker-mailserver's self-signed layout.",
        discussion: """
        Writes <FQDN>-key.pem, -cert.pem, -combined.pem and demoCA/cacert.pem (+ its key in demoCA/private/cakey.pem):
        the files SSL_TYPE=self-signed expects in docker-mailserver's ssl/ folder.
        Example: acme selfsigned --hostname mail.example.test --san imap.example.test --key-type rsa2048 --days 90 --output ./ssl
        """)
    @Option(help: .init("The mail server's FQDN (env OVERRIDE_HOSTNAME, then HOSTNAME).", valueName: "FQDN")) var hostname: String?
    @Option(parsing: .unconditionalSingleValue, help: .init("Another name for the certificate; repeat for more.", valueName: "NAME")) var san: [String] = []
    @OptionGroup var key: KeyTypeArguments
    @Option(help: .init("Validity of the certificate in days.", valueName: "DAYS")) var days = 825
    @Option(help: .init("Validity of the test CA in days.", valueName: "DAYS")) var caDays = 3650
    @Option(help: .init("Directory to write to (default: <dms-config>/ssl).", valueName: "DIR")) var output: String?
    @Option(help: .init("docker-mailserver's config volume.", valueName: "DIR")) var dmsConfig = "/tmp/docker-mailserver"
    @Flag(help: "Replace an existing set.") var force = false

    func validate() throws {
        if !(1...36500).contains(days) { throw ValidationError("--days \(days) is not between 1 and 36500") }
        if !(1...36500).contains(caDays) { throw ValidationError("--ca-days \(caDays) is not between 1 and 36500") }
        if caDays < days { throw ValidationError("--ca-days \(caDays) is shorter than --days \(days); the CA must outlive the certificate") }
    }

    func run() async throws {
        try await ExitStatus.run {
            var set = try SelfSignedSet(hostname: hostname, extraNames: san, environment: LocalSystem.environment())
            (set.keyType, set.leafDays, set.caDays) = (key.keyType, days, caDays)
            let files = try set.write(to: LocalSystem.absolutePath(output ?? dmsConfig + "/ssl"), overwrite: force)
            Output.print("key:         \(files.key)\ncertificate: \(files.cert)\ncombined:    \(files.combined)\ntest CA:     \(files.caCert)  (its key: \(files.caKey))")
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
        With --check, asks DNS what every authoritative server serves instead (Docs/DANE.md).
        Examples: acme tlsa --cert-name mail.example.com --next --host mx1.example.com
                  acme tlsa --cert-path /etc/dms/tls/current/fullchain.pem --port 465
                  acme tlsa --check --cert-name mail.example.com --resolver 127.0.0.1
        """)
    @Option(help: .init("The lineage.", valueName: "NAME"), transform: lineageName) var certName: String?
    @Option(help: .init("A certificate file (leaf first; its issuer too for 2 1 1).", valueName: "FILE")) var certPath: String?
    @Option(help: .init("The MX host name in the record owner (default: the certificate's first name).", valueName: "HOST")) var host: String?
    @Option(help: .init("Port in the record owner (default 25).", valueName: "PORT")) var port = 25
    @Flag(help: "Also print the record of the key the next renewal will use (needs --cert-name).") var next = false
    @Flag(help: "Ask DNS instead: per owner name, the records at every authoritative server and which match the current key, the next key and what the endpoints serve; exit 1 when a served key is not covered (needs --cert-name).") var check = false
    @Option(help: .init("With --check: a validating resolver; warn when its answer is not DNSSEC-authenticated.", valueName: "IP[:PORT]")) var resolver: String?
    @Option(help: .init("With --check: ask this endpoint for its key (repeatable; default: smtp://HOST:25 etc. from each owner name).", valueName: "URL")) var endpoint: [String] = []
    @OptionGroup var store: ConfigDirectoryArguments

    func validate() throws {
        if check, certName == nil { throw ValidationError("--check needs --cert-name: it checks a lineage's records") }
        if !check, resolver != nil || !endpoint.isEmpty { throw ValidationError("--resolver and --endpoint go with --check") }
        if (certName == nil) == (certPath == nil) { throw ValidationError("give exactly one of --cert-name NAME and --cert-path FILE") }
        if next, certName == nil { throw ValidationError("--next needs --cert-name: the next key belongs to a lineage") }
        if !(1...65535).contains(port) { throw ValidationError("--port \(port) is not a port number") }
    }

    func run() async throws {
        try await ExitStatus.run {
            if check, let certName {
                var run = TLSACheck(configDirectory: store.configDirectory, certName: certName)
                run.resolver = try resolver.map { try DNSServer(parsing: $0, setting: .validatingResolver) }
                run.endpoints = endpoint.isEmpty ? nil : endpoint
                let report = try await run.run()
                for line in report.lines { Output.print(SettingFlags.naming(line)) }
                for warning in report.warnings { Output.writeErr("warning: \(SettingFlags.naming(warning))") }
                for problem in report.problems { Output.writeErr("problem: \(SettingFlags.naming(problem))") }
                if !report.problems.isEmpty { throw ExitCode(ExitStatus.code(for: .validationFailed)) }
                return
            }
            let listing = try TLSARecords.listing(configDirectory: store.configDirectory, certName: certName,
                                                  certPath: certPath.map(LocalSystem.absolutePath), host: host, port: port, next: next)
            for note in listing.notes { Output.writeErr(note) }
            for record in listing.records { Output.print("\(record.zoneLine(owner: listing.owner))  ; \(record.comment)") }
        }
    }
}
