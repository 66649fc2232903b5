import ACMECrypto
import ArgumentParser
import Issuance
import Provision
#if canImport(Glibc)
import Glibc
#endif

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

        Examples:
          SSL_TYPE=letsencrypt acme provision
          acme provision --ssl-type manual --cert-path /certs/ec.pem --key-path /certs/ec.key \\
                         --alt-cert-path /certs/rsa.pem --alt-key-path /certs/rsa.key
          acme provision --issue-if-missing --email admin@example.com --agree-tos
          acme provision --watch --interval 60
        """
    )

    @Option(name: .long, help: ArgumentHelp("letsencrypt, manual, self-signed, or plaintext (env SSL_TYPE; empty means plaintext).", valueName: "TYPE"))
    var sslType: String?

    @Option(name: .long, help: ArgumentHelp("The mail server's name (env OVERRIDE_HOSTNAME; default: hostname -f).", valueName: "FQDN"))
    var hostname: String?

    @Option(name: .long, help: ArgumentHelp("Lineage name tried first, e.g. *.example.com (env SSL_DOMAIN).", valueName: "NAME"))
    var sslDomain: String?

    @Option(name: .long, help: ArgumentHelp("manual: certificate chain (env SSL_CERT_PATH).", valueName: "FILE"))
    var certPath: String?
    @Option(name: .long, help: ArgumentHelp("manual: private key (env SSL_KEY_PATH).", valueName: "FILE"))
    var keyPath: String?
    @Option(name: .long, help: ArgumentHelp("manual: chain of the fallback certificate of the other key type (env SSL_ALT_CERT_PATH).", valueName: "FILE"))
    var altCertPath: String?
    @Option(name: .long, help: ArgumentHelp("manual: key of the fallback certificate (env SSL_ALT_KEY_PATH).", valueName: "FILE"))
    var altKeyPath: String?

    @Option(name: .long, help: ArgumentHelp("modern (default) or intermediate (env TLS_LEVEL).", valueName: "LEVEL"))
    var tlsLevel: String?

    @Option(name: .long, help: ArgumentHelp("Traefik's acme.json (default: <config-dir>/acme.json when it exists).", valueName: "FILE"))
    var traefikAcme: String?

    @Option(name: .long, help: ArgumentHelp("Caddy's data directory (holding certificates/) as a further source.", valueName: "DIR"))
    var caddyData: String?

    @Option(name: .long, help: ArgumentHelp("docker-mailserver's config folder: ssl/ for self-signed files, dhparams.pem.", valueName: "DIR"))
    var dmsConfig = "/tmp/docker-mailserver"

    @Option(name: .long, help: ArgumentHelp("Where the checked key and chain are installed.", valueName: "DIR"))
    var tlsDir = "/etc/dms/tls"
    @Option(name: .long, help: ArgumentHelp("Postfix configuration directory.", valueName: "DIR"))
    var postfixDir = "/etc/postfix"
    @Option(name: .long, help: ArgumentHelp("Dovecot configuration directory.", valueName: "DIR"))
    var dovecotDir = "/etc/dovecot"
    @Option(name: .long, help: ArgumentHelp("2.3 or 2.4 (default: from `dovecot --version`).", valueName: "VERSION"))
    var dovecotVersion: String?

    @Flag(name: .long, help: "Print what would change; write and reload nothing.")
    var dryRun = false
    @Flag(name: .long, help: "Keep running: check the sources every --interval seconds and install changes.")
    var watch = false
    @Option(name: .long, help: ArgumentHelp("Seconds between checks with --watch.", valueName: "SECONDS"))
    var interval = 30

    @Flag(name: .long, help: "letsencrypt: when no usable certificate exists, issue one for the FQDN first (HTTP-01 on port 80).")
    var issueIfMissing = false
    @OptionGroup var common: CommonOptions
    @OptionGroup var registration: RegistrationArguments
    @OptionGroup var responder: ResponderArguments
    @OptionGroup var key: KeyTypeArguments

    func validate() throws {
        _ = try resolvedSSLType()
        if let level = tlsLevel ?? environment("TLS_LEVEL"), !level.isEmpty, TLSLevel(rawValue: level) == nil {
            throw ValidationError("TLS_LEVEL \(level) is not modern or intermediate")
        }
        if let dovecotVersion, DovecotVersion(rawValue: dovecotVersion) == nil {
            throw ValidationError("--dovecot-version \(dovecotVersion) is not 2.3 or 2.4")
        }
        if watch && dryRun { throw ValidationError("--watch and --dry-run exclude each other") }
        if interval < 1 { throw ValidationError("--interval must be at least 1 second") }
    }

    func resolvedSSLType() throws -> SSLType {
        let value = sslType ?? environment("SSL_TYPE") ?? ""
        if value == "plaintext" || value == "none" { return .plaintext }
        guard let type = SSLType(rawValue: value) else {
            throw ValidationError("SSL_TYPE \(value) is not supported: use letsencrypt, manual, self-signed, or empty for no TLS")
        }
        return type
    }

    func settings() throws -> ProvisionSettings {
        let fqdn = hostname ?? environment("OVERRIDE_HOSTNAME").flatMap { $0.isEmpty ? nil : $0 } ?? HostName.fullyQualified()
        guard fqdn.contains(".") else {
            throw UsageError("the hostname \(fqdn) is not fully qualified; set OVERRIDE_HOSTNAME or --hostname to e.g. mail.example.com")
        }
        func env(_ flag: String?, _ name: String) -> String? {
            (flag ?? environment(name)).flatMap { $0.isEmpty ? nil : absolutePath($0) }
        }
        var settings = ProvisionSettings(sslType: try resolvedSSLType(), fqdn: fqdn)
        settings.sslDomain = sslDomain ?? environment("SSL_DOMAIN")
        settings.certPath = env(certPath, "SSL_CERT_PATH")
        settings.keyPath = env(keyPath, "SSL_KEY_PATH")
        settings.altCertPath = env(altCertPath, "SSL_ALT_CERT_PATH")
        settings.altKeyPath = env(altKeyPath, "SSL_ALT_KEY_PATH")
        settings.tlsLevel = (tlsLevel ?? environment("TLS_LEVEL")).flatMap { TLSLevel(rawValue: $0) } ?? .modern
        settings.letsencryptDir = common.configDirectory
        settings.traefikFile = traefikAcme.map(absolutePath)
        settings.caddyData = caddyData.map(absolutePath)
        settings.dmsConfigDir = absolutePath(dmsConfig)
        settings.tlsDir = absolutePath(tlsDir)
        settings.postfixDir = absolutePath(postfixDir)
        settings.dovecotDir = absolutePath(dovecotDir)
        settings.dovecotVersion = dovecotVersion.flatMap(DovecotVersion.init(rawValue:))
        return settings
    }

    func run() async throws {
        let output = common.output
        do {
            let settings = try settings()
            if !watch {
                try await once(settings, output: output)
                return
            }
            output.step("watching the certificate sources every \(interval) s")
            var first = true
            while true {
                do {
                    // After the first round only changes, warnings and errors are worth a log line.
                    try await once(settings, output: output, reportUnchanged: first)
                    first = false
                } catch {
                    // Keep serving what is installed; say why the new state was refused.
                    Output.writeErr("error: \(error)")
                }
                try await Task.sleep(for: .seconds(interval))
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw ExitStatus.fail(error)
        }
    }

    func once(_ settings: ProvisionSettings, output: Output, reportUnchanged: Bool = true) async throws {
        let provisioner = Provisioner(settings: settings)
        let report: Provisioner.Report
        do {
            report = try provisioner.run(dryRun: dryRun)
        } catch let error as ProvisionError where error.noUsableCertificate && issueIfMissing && !dryRun {
            output.step("no usable certificate for \(settings.fqdn); issuing one")
            let names = try DomainName.normalize(all: [settings.fqdn])
            _ = try await Issue.issue(names: names, common: common, registration: registration, certName: nil,
                                      keyType: key.type, challenge: responder.method,
                                      preferredChain: nil, forceRenewal: false)
            report = try provisioner.run(dryRun: false)
        }
        guard report.changed || reportUnchanged else { return }
        for warning in report.warnings { Output.writeErr("warning: \(warning)") }
        for note in report.notes { output.step(note) }
        let prefix = dryRun ? "would change: " : "changed: "
        for change in report.changes { output.step(prefix + change) }
        if !report.reloaded.isEmpty { output.step("reloaded " + report.reloaded.joined(separator: " and ")) }
        let source = report.origin ?? "no TLS (SSL_TYPE empty)"
        if report.changed {
            output.result(dryRun ? "\(report.changes.count) change(s) pending from \(source)" : "installed from \(source)")
        } else {
            output.result("nothing changed (\(source))")
        }
    }
}

/// What `hostname -f` prints: the kernel's name, qualified through the resolver when it has no dot.
enum HostName {
    static func fullyQualified() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let short = String(cString: buffer)
        if short.contains(".") { return short.lowercased() }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(short, nil, &hints, &result) == 0, let result else { return short }
        defer { freeaddrinfo(result) }
        guard let canonical = result.pointee.ai_canonname else { return short }
        return String(cString: canonical).lowercased()
    }
}
