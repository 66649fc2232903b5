import ArgumentParser
import Base
import Check
import Daemon
import Fleet
import Issuance
import Provision

/// Where the certificate comes from and where it goes: `provision` and `daemon` share them.
struct ProvisionArguments: ParsableArguments {
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
    @OptionGroup var registration: RegistrationArguments
    @OptionGroup var responder: ResponderArguments
    @Option(help: .init("With --issue-if-missing: the key of the certificate to issue: ec256 (default), ec384, rsa2048…; or ecdsa,rsa for an ECDSA and an RSA certificate (lineages FQDN and FQDN-rsa, installed as primary and ALT pair).", valueName: "TYPE[,TYPE]"),
            transform: { try KeyTypeChoice(parsing: $0, flag: "--key-type") }) var keyType: KeyTypeChoice = .single(.ecdsa(.p256))

    /// The workflow for these flags over `environment`; with `issueIfMissing`, issuing through `common`'s CA.
    func workflow(environment: [String: String], common: CommonOptions, issueIfMissing: Bool) throws -> ProvisionWorkflow {
        var inputs = ProvisionInputs()
        (inputs.sslType, inputs.hostname, inputs.sslDomain, inputs.tlsLevel) = (sslType, hostname, sslDomain, tlsLevel)
        (inputs.certPath, inputs.keyPath, inputs.altCertPath, inputs.altKeyPath) = (certPath, keyPath, altCertPath, altKeyPath)
        (inputs.traefikFile, inputs.caddyData, inputs.dmsConfigDir) = (traefikAcme, caddyData, dmsConfig)
        (inputs.tlsDir, inputs.postfixDir, inputs.dovecotDir, inputs.dovecotVersion) = (tlsDir, postfixDir, dovecotDir, dovecotVersion)
        inputs.letsencryptDir = common.configDirectory
        let output = common.output
        var workflow = ProvisionWorkflow(settings: try ProvisionSettings(inputs, environment: environment), progress: { output.step($0) })
        if issueIfMissing {
            let request = IssueRequest(names: [], server: common.directoryURL, configDirectory: common.configDirectory,
                                       keyType: keyType.first, registration: try registration.options(), challenge: try responder.method(),
                                       caBundle: common.caBundlePath, toolVersion: acmeVersion)
            workflow.issueIfMissing = (request, common.issueWorkflow())
            if case .pair(_, let rsa) = keyType { workflow.issuePairRSAKeyType = rsa }
        }
        return workflow
    }
}

/// Which endpoints prove that the daemons serve an installed certificate.
struct VerifyArguments: ParsableArguments {
    @Option(name: .customLong("endpoint"), help: .init("Endpoint to verify after an install, e.g. smtp://127.0.0.1:25 (repeatable; default: the standard mail ports listening on 127.0.0.1).", valueName: "URL")) var endpoints: [String] = []
    @Option(help: .init("Trust these CA certificates when verifying the served chain (default: the system store).", valueName: "FILE")) var verifyCaFile: String?
    @Option(help: .init("Seconds the daemons may take to serve a new certificate after the reload (default 30).", valueName: "SECONDS")) var verifyTimeout = 30

    func validate() throws {
        if !(1...600).contains(verifyTimeout) { throw ValidationError("--verify-timeout \(verifyTimeout) is not between 1 and 600 seconds") }
    }

    func verifier() throws -> InstallVerifier {
        var verifier = InstallVerifier(endpoints: endpoints.isEmpty ? nil : try endpoints.map(Endpoint.init(parsing:)),
                                       caFile: verifyCaFile.map(LocalSystem.absolutePath))
        verifier.timeout = .seconds(verifyTimeout)
        return verifier
    }
}

struct ProvisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Find, check and install the mail server's certificate for Postfix and Dovecot, then reload them.",
        discussion: """
        Reads docker-mailserver's variables (flags win): SSL_TYPE (letsencrypt, manual, self-signed; empty
        means no TLS), SSL_DOMAIN, OVERRIDE_HOSTNAME, SSL_CERT_PATH, SSL_KEY_PATH, SSL_ALT_CERT_PATH,
        SSL_ALT_KEY_PATH, TLS_LEVEL (modern, intermediate).
        With nothing changed it writes nothing and reloads nothing. Exit status 2: the certificate was
        refused and everything installed before is untouched. With --verify, exit 1 when an endpoint does
        not serve the installed certificate (a set installed by this run is rolled back first).
        Examples: SSL_TYPE=letsencrypt acme provision --verify; acme provision --issue-if-missing --email admin@example.com --agree-tos
                  acme provision --ssl-type manual --cert-path ec.pem --key-path ec.key --alt-cert-path rsa.pem --alt-key-path rsa.key
        """)

    @OptionGroup var sources: ProvisionArguments
    @Flag(help: "Print what would change; write and reload nothing.") var dryRun = false
    @Flag(help: "Keep running: check the sources every --interval seconds and install changes.") var watch = false
    @Option(help: .init("Seconds between checks with --watch.", valueName: "SECONDS")) var interval = 30
    @Flag(help: "letsencrypt: when no usable certificate exists, issue one for the FQDN first (HTTP-01 on port 80).") var issueIfMissing = false
    @Flag(help: "After installing (or when nothing changed), check that every endpoint serves the installed certificate; roll back what this run installed if not.") var verify = false
    @OptionGroup var endpoints: VerifyArguments
    @OptionGroup var common: CommonOptions
    @OptionGroup var fleet: StoreOptions

    func validate() throws {
        if fleet.settings != nil, issueIfMissing {
            throw ValidationError("--issue-if-missing with --store: issue the first certificate once with acme issue --store (it takes the fleet's lock); provision --store installs what the store holds")
        }
        if fleet.settings != nil, watch { throw ValidationError("--watch with --store: run acme daemon --store, which is told of new versions") }
        if watch && dryRun { throw ValidationError("--watch and --dry-run exclude each other") }
        if verify && (watch || dryRun) { throw ValidationError("--verify runs once after an install; it excludes --watch and --dry-run (acme daemon verifies on its own)") }
        if interval < 1 { throw ValidationError("--interval must be at least 1 second") }
    }

    func run() async throws {
        try await ExitStatus.run {
            let output = common.output
            if let store = fleet.settings, !dryRun {
                // Fleet mode: the store's versions into the local layout first, then install as on one host.
                let configDirectory = common.configDirectory
                let synced = try await onOwnThread(throwing: {
                    try StoreSync(configDirectory: configDirectory, toolVersion: acmeVersion).run(store.open())
                })
                for name in synced.installed { output.step("\(name): new version from the store") }
                for problem in synced.problems { Output.writeErr("warning: \(problem)") }
            }
            var workflow = try sources.workflow(environment: LocalSystem.environment(), common: common, issueIfMissing: issueIfMissing)
            workflow.dryRun = dryRun
            let verifier = try endpoints.verifier()
            guard watch else {
                let report = try await workflow.run()
                show(report, output: output)
                if verify { try await check(verifier, workflow.settings, report, output) }
                return
            }
            output.step("watching the certificate sources every \(interval) s")
            // After the first round only changes, warnings and errors are worth a log line; a
            // refused round keeps what is installed and says why.
            try await workflow.watch(interval: .seconds(interval), report: { report, first in
                if first || report.changed { show(report, output: output) }
            }, failed: { Output.writeErr("error: \($0)") })
        }
    }

    func check(_ verifier: InstallVerifier, _ settings: ProvisionSettings, _ report: Provisioner.Report, _ output: Output) async throws {
        let outcome = await verifier.verify(settings: settings, after: report.changed ? report : nil)
        switch outcome {
        case .nothingToCheck(let why): output.step("not verified: \(why)")
        case .served(let results): output.result("served by \(results.count) endpoint(s): \(results.map(\.endpoint).joined(separator: " "))")
        case .rolledBack, .notServed: throw DaemonError(.notServed, outcome.problem ?? "not served")
        }
    }

    func show(_ report: Provisioner.Report, output: Output) {
        for warning in report.warnings { Output.writeErr("warning: \(warning)") }
        for line in report.progressLines(dryRun: dryRun) { output.step(line) }
        output.result(report.summary(dryRun: dryRun))
    }
}
