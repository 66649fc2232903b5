import ACME
import ACMEHTTP
import ArgumentParser
import CertStore
import Issuance
import Renewal
#if canImport(Glibc)
import Glibc
#endif

struct Renew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Renew every certificate that is due (ARI, then the renewal window) and run the hooks.",
        discussion: """
        Meant for cron or a systemd timer, twice a day. Exit status 0 when every lineage is fine or
        was renewed, 1 when any renewal or hook failed.
        Examples:
          acme renew
          acme renew --cert-name mail.example.com --force-renewal --no-random-sleep
          acme renew --dry-run
        """
    )

    @Option(name: .long, help: ArgumentHelp("Only this lineage.", valueName: "NAME"))
    var certName: String?

    @Flag(name: .long, help: "Renew even if not due.")
    var forceRenewal = false

    @Flag(name: .long, help: "Obtain certificates (from Let's Encrypt's staging CA for Let's Encrypt lineages) but save nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Do not wait a random time (up to 8 minutes) before contacting the CA when not run from a terminal.")
    var noRandomSleep = false

    @Option(name: .long, help: ArgumentHelp("Renew when fewer than DAYS days are left, whatever ARI or the renewal conf say.", valueName: "DAYS"))
    var renewWithin: Int?

    @Flag(name: .long, help: "Keep each lineage's private key (saved for later renewals).")
    var reuseKey = false

    @Option(name: .long, help: ArgumentHelp("Shell command run once before the first renewal.", valueName: "COMMAND"))
    var preHook: String?

    @Option(name: .long, help: ArgumentHelp("Shell command run after each renewal, with RENEWED_LINEAGE and RENEWED_DOMAINS.", valueName: "COMMAND"))
    var deployHook: String?

    @Option(name: .long, help: ArgumentHelp("Shell command run once at the end if anything was renewed or attempted.", valueName: "COMMAND"))
    var postHook: String?

    @Flag(name: .long, help: "Do not run the executables in renewal-hooks/{pre,deploy,post}/.")
    var noDirectoryHooks = false

    @Option(name: .long, help: ArgumentHelp("PEM file of CA certificates to trust for the ACME server (env CA_BUNDLE); default: the one saved with each lineage, else the system store.", valueName: "FILE"))
    var caBundle: String?

    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var printing: OutputArguments

    func validate() throws {
        if let renewWithin, renewWithin < 0 || renewWithin > 3650 {
            throw ValidationError("--renew-within \(renewWithin) is not a number of days between 0 and 3650")
        }
        if forceRenewal, renewWithin != nil {
            throw ValidationError("--force-renewal and --renew-within both decide when to renew; give one")
        }
        if let certName {
            do { try validatePathComponent(certName, what: "certificate name") } catch { throw ValidationError("\(error)") }
        }
    }

    func run() async throws {
        let output = printing.output
        let configDirectory = store.configDirectory
        let lock: ConfigLock
        do {
            lock = try store.lock(output: output)
        } catch {
            throw ExitStatus.fail(error)
        }
        defer { withExtendedLifetime(lock) {} }

        var options = RenewOptions(toolVersion: acmeVersion)
        options.certName = certName
        options.policy = DuePolicy(force: forceRenewal, renewWithinDays: renewWithin)
        options.dryRun = dryRun
        options.reuseKey = reuseKey
        options.hooks = SavedHooks(pre: preHook, post: postHook, deploy: deployHook)
        options.useDirectoryHooks = !noDirectoryHooks
        options.caBundle = resolveCABundle(caBundle)
        // Like certbot: spread unattended runs out, never make a person at a terminal wait.
        options.randomDelay = noRandomSleep || isatty(0) == 1 ? .zero : .seconds(480)

        let renewer = Renewer(configDirectory: configDirectory, makeClient: { server, bundle in
            try makeACMEClient(server: server, caBundle: bundle, output: output, fix: "correct server = in the renewal conf").0
        }, progress: { output.step($0) })
        let summary = await renewer.run(options)

        for note in summary.notes { output.step(note) }
        if summary.reports.isEmpty { output.step("no certificates under \(configDirectory)/renewal") }
        for report in summary.reports {
            switch report.outcome {
            case .notDue(let until, let basis):
                output.result("\(report.name): not due until \(formatDate(until)) (\(basis.description))")
            case .renewed(let notAfter, let version, let basis):
                output.result("\(report.name): renewed (\(basis.description)); version \(version), expires \(formatDate(notAfter))")
            case .dryRun(let notAfter):
                output.result("\(report.name): dry run succeeded (the test certificate expires \(formatDate(notAfter)); nothing saved)")
            case .failed(let reason):
                Output.writeErr("\(report.name): failed: \(reason)")
            }
        }
        // A failed hook (e.g. a reload) must reach monitoring too, though the certificate is in place.
        if summary.anyFailed || summary.hookFailed { throw ExitCode(ExitStatus.caFailure) }
    }
}
