import ArgumentParser
import Glibc
import Base
import DANE
import Fleet
import Issuance
import Renewal

struct Renew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Renew every certificate that is due (ARI, then the renewal window) and run the hooks.",
        discussion: """
        Meant for cron or a systemd timer, twice a day. Exit status 0 when every lineage is fine or
        was renewed, 1 when any renewal or hook failed, 2 when the config directory cannot be read.
        Examples: acme renew; acme renew --dry-run; acme renew --cert-name mail.example.com --force-renewal --no-random-sleep
        """
    )

    @Option(help: .init("Only this lineage.", valueName: "NAME"), transform: lineageName) var certName: String?
    @Flag(help: "Renew even if not due.") var forceRenewal = false
    @Flag(help: "Obtain certificates (from Let's Encrypt's staging CA for Let's Encrypt lineages) but save nothing.") var dryRun = false
    @Flag(help: "Do not wait a random time (up to 8 minutes) before contacting the CA when not run from a terminal.") var noRandomSleep = false
    @Option(help: .init("Renew when fewer than DAYS days are left, whatever ARI or the renewal conf say.", valueName: "DAYS")) var renewWithin: Int?
    @Flag(help: "Keep each lineage's private key (saved for later renewals).") var reuseKey = false
    @Option(help: .init("Shell command run once before the first renewal.", valueName: "COMMAND")) var preHook: String?
    @Option(help: .init("Shell command run after each renewal, with RENEWED_LINEAGE and RENEWED_DOMAINS.", valueName: "COMMAND")) var deployHook: String?
    @Option(help: .init("Shell command run once at the end if anything was renewed or attempted.", valueName: "COMMAND")) var postHook: String?
    @Flag(help: "Do not run the executables in renewal-hooks/{pre,deploy,post}/.") var noDirectoryHooks = false
    @Option(help: .init("PEM file of CA certificates to trust for the ACME server (env CA_BUNDLE); default: the one saved with each lineage, else the system store.", valueName: "FILE")) var caBundle: String?
    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var fleet: StoreOptions
    @OptionGroup var printing: OutputArguments

    func validate() throws {
        if let renewWithin, renewWithin < 0 || renewWithin > 3650 {
            throw ValidationError("--renew-within \(renewWithin) is not a number of days between 0 and 3650")
        }
        if forceRenewal, renewWithin != nil { throw ValidationError("--force-renewal and --renew-within both decide when to renew; give one") }
    }

    func run() async throws {
        try await ExitStatus.run {
            var options = RenewOptions(toolVersion: acmeVersion)
            options.certName = certName
            options.policy = DuePolicy(force: forceRenewal, renewWithinDays: renewWithin)
            (options.dryRun, options.reuseKey, options.useDirectoryHooks) = (dryRun, reuseKey, !noDirectoryHooks)
            options.hooks = SavedHooks(pre: preHook, post: postHook, deploy: deployHook)
            options.caBundle = resolveCABundle(caBundle)
            // Like certbot: spread unattended runs out, never make a person at a terminal wait.
            options.randomDelay = noRandomSleep || isatty(0) == 1 ? .zero : .seconds(480)
            let output = printing.output
            var renewer = Renewer(configDirectory: store.configDirectory, makeClient: printing.clientFactory, progress: { output.step($0) })
            renewer.waiting = output.waiting(store.configDirectory)
            renewer.keyRollover = DANEGate(progress: renewer.progress)
            if let offset = TestClock.offset { renewer.now = { Date().addingTimeInterval(offset) } }
            var summary: RenewalSummary
            if let settings = fleet.settings {
                // Fleet mode: sync, then renew each due lineage under the store's lock, publish;
                // HTTP-01 and TLS-ALPN-01 answered by every node from the store.
                var fleetRenewal = FleetRenewal(store: settings, configDirectory: store.configDirectory, toolVersion: acmeVersion,
                                                progress: { output.step($0) })
                fleetRenewal.solverOverride = settings.challengeSolvers(listening: LocalResponders(storeURL: settings.url, keyFile: settings.keyFile, progress: { output.step($0) }),
                                                                        progress: { output.step($0) })
                let result = try await fleetRenewal.run(renewer, options)
                for name in result.sync.installed { output.step("\(name): new version from the store") }
                summary = result.summary
                if let problem = result.storeProblem {
                    // Only lineages about to expire were renewed (without the lock); the rest waits for the store.
                    for note in summary.notes { output.step(note) }
                    for report in summary.reports where !report.isFailure { output.result(report.line) }
                    throw FleetError(.storeDown, "\(problem); nothing else renewed (without the store's lock another node may be renewing)")
                }
            } else {
                summary = try await renewer.run(options)
            }
            for note in summary.notes { output.step(note) }
            if summary.reports.isEmpty { output.step("no certificates under \(store.configDirectory)/renewal") }
            for report in summary.reports {
                if report.isFailure { Output.writeErr(SettingFlags.naming(report.line)) } else { output.result(SettingFlags.naming(report.line)) }
            }
            // A failed hook (e.g. a reload) must reach monitoring too, though the certificate is in place.
            if summary.anyFailed || summary.hookFailed { throw ExitCode(ExitStatus.someFailed) }
        }
    }
}
