import ArgumentParser
import Base
import Issuance
import Provision

struct ProvisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Find, check and install the mail server's certificate for Postfix and Dovecot, then reload them.",
        discussion: """
        Reads docker-mailserver's variables (flags win): SSL_TYPE (letsencrypt, manual, self-signed; empty
        means no TLS), SSL_DOMAIN, OVERRIDE_HOSTNAME, SSL_CERT_PATH, SSL_KEY_PATH, SSL_ALT_CERT_PATH,
        SSL_ALT_KEY_PATH, TLS_LEVEL (modern, intermediate).
        With nothing changed it writes nothing and reloads nothing. Exit status 2: the certificate was
        refused and everything installed before is untouched.
        Examples: SSL_TYPE=letsencrypt acme provision; acme provision --issue-if-missing --email admin@example.com --agree-tos
                  acme provision --ssl-type manual --cert-path ec.pem --key-path ec.key --alt-cert-path rsa.pem --alt-key-path rsa.key
        """)

    @Option(help: .init("letsencrypt, manual, self-signed, or plaintext (env SSL_TYPE; empty means plaintext).", valueName: "TYPE")) var sslType: String?
    @Option(help: .init("The mail server's name (env OVERRIDE_HOSTNAME; default: hostname -f).", valueName: "FQDN")) var hostname: String?
    @Option(help: .init("Lineage name tried first, e.g. *.example.com (env SSL_DOMAIN).", valueName: "NAME")) var sslDomain: String?
    @Option(help: .init("manual: certificate chain (env SSL_CERT_PATH).", valueName: "FILE")) var certPath: String?
    @Option(help: .init("manual: private key (env SSL_KEY_PATH).", valueName: "FILE")) var keyPath: String?
    @Option(help: .init("manual: chain of the fallback certificate of the other key type (env SSL_ALT_CERT_PATH).", valueName: "FILE")) var altCertPath: String?
    @Option(help: .init("manual: key of the fallback certificate (env SSL_ALT_KEY_PATH).", valueName: "FILE")) var altKeyPath: String?
    @Option(help: .init("modern (default) or intermediate (env TLS_LEVEL).", valueName: "LEVEL")) var tlsLevel: String?
    @Option(help: .init("Traefik's acme.json (default: <config-dir>/acme.json when it exists).", valueName: "FILE")) var traefikAcme: String?
    @Option(help: .init("Caddy's data directory (holding certificates/) as a further source.", valueName: "DIR")) var caddyData: String?
    @Option(help: .init("docker-mailserver's config folder: ssl/ for self-signed files, dhparams.pem.", valueName: "DIR")) var dmsConfig = "/tmp/docker-mailserver"
    @Option(help: .init("Where the checked key and chain are installed.", valueName: "DIR")) var tlsDir = "/etc/dms/tls"
    @Option(help: .init("Postfix configuration directory.", valueName: "DIR")) var postfixDir = "/etc/postfix"
    @Option(help: .init("Dovecot configuration directory.", valueName: "DIR")) var dovecotDir = "/etc/dovecot"
    @Option(help: .init("2.3 or 2.4 (default: from `dovecot --version`).", valueName: "VERSION")) var dovecotVersion: String?
    @Flag(help: "Print what would change; write and reload nothing.") var dryRun = false
    @Flag(help: "Keep running: check the sources every --interval seconds and install changes.") var watch = false
    @Option(help: .init("Seconds between checks with --watch.", valueName: "SECONDS")) var interval = 30
    @Flag(help: "letsencrypt: when no usable certificate exists, issue one for the FQDN first (HTTP-01 on port 80).") var issueIfMissing = false
    @OptionGroup var common: CommonOptions
    @OptionGroup var registration: RegistrationArguments
    @OptionGroup var responder: ResponderArguments
    @OptionGroup var key: KeyTypeArguments

    func validate() throws {
        if watch && dryRun { throw ValidationError("--watch and --dry-run exclude each other") }
        if interval < 1 { throw ValidationError("--interval must be at least 1 second") }
    }

    func run() async throws {
        try await ExitStatus.run {
            var inputs = ProvisionInputs()
            (inputs.sslType, inputs.hostname, inputs.sslDomain, inputs.tlsLevel) = (sslType, hostname, sslDomain, tlsLevel)
            (inputs.certPath, inputs.keyPath, inputs.altCertPath, inputs.altKeyPath) = (certPath, keyPath, altCertPath, altKeyPath)
            (inputs.traefikFile, inputs.caddyData, inputs.dmsConfigDir) = (traefikAcme, caddyData, dmsConfig)
            (inputs.tlsDir, inputs.postfixDir, inputs.dovecotDir, inputs.dovecotVersion) = (tlsDir, postfixDir, dovecotDir, dovecotVersion)
            inputs.letsencryptDir = common.configDirectory
            let output = common.output
            var workflow = ProvisionWorkflow(settings: try ProvisionSettings(inputs, environment: LocalSystem.environment()),
                                             progress: { output.step($0) })
            workflow.dryRun = dryRun
            if issueIfMissing {
                let request = IssueRequest(names: [], server: common.directoryURL, configDirectory: common.configDirectory,
                                           keyType: key.keyType, registration: try registration.options(), challenge: try responder.method(),
                                           caBundle: common.caBundlePath, toolVersion: acmeVersion)
                workflow.issueIfMissing = (request, common.issueWorkflow())
            }
            guard watch else { return show(try await workflow.run(), output: output) }
            output.step("watching the certificate sources every \(interval) s")
            // After the first round only changes, warnings and errors are worth a log line; a
            // refused round keeps what is installed and says why.
            try await workflow.watch(interval: .seconds(interval), report: { report, first in
                if first || report.changed { show(report, output: output) }
            }, failed: { Output.writeErr("error: \($0)") })
        }
    }

    func show(_ report: Provisioner.Report, output: Output) {
        for warning in report.warnings { Output.writeErr("warning: \(warning)") }
        for line in report.progressLines(dryRun: dryRun) { output.step(line) }
        output.result(report.summary(dryRun: dryRun))
    }
}
