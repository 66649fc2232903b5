import ArgumentParser
import Base
import Challenges
import Check
import Daemon
import Fleet
import Renewal

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Keep the mail server's certificate renewed, installed and served: the container's supervisor.",
        discussion: """
        Provisions at start (as acme provision --issue-if-missing), then renews what is due (ARI first),
        installs it for Postfix and Dovecot, verifies that every endpoint serves it, rolls back and alerts
        when one does not. Logs one line per event on stdout. SIGTERM/SIGINT stop it within a second;
        SIGHUP re-reads --env-file, forgets backoff and held-back certificates, and looks again.
        Examples: acme daemon --email admin@example.com --agree-tos --alert-to postmaster@example.com
                  acme daemon --no-provision --alert-command '/usr/local/bin/page-oncall'
        """)

    @OptionGroup var sources: ProvisionArguments
    @OptionGroup var endpoints: VerifyArguments
    @Flag(help: "Renew only: install nothing (a sidecar whose mail container installs the certificates itself).") var noProvision = false
    @Flag(help: "Do not verify that the endpoints serve a newly installed certificate.") var noVerify = false
    @Option(help: .init("Mail alerts to this address through the local sendmail.", valueName: "ADDRESS")) var alertTo: String?
    @Option(help: .init("Run this shell command per alert, with ACME_EVENT, ACME_STATE, ACME_LINEAGE, ACME_MESSAGE, ACME_HOST set.", valueName: "COMMAND")) var alertCommand: String?
    @Option(help: .init("Failed renewals of a certificate in a row before the alert (default 3).", valueName: "N")) var alertAfter = 3
    @Option(help: .init("Seconds before the first retry of a failed renewal; doubles up to 6 hours (default 60).", valueName: "SECONDS")) var retryDelay = 60
    @Option(help: .init("Where the status for acme status goes (default: <config-dir>/.acme-daemon-status.json).", valueName: "FILE")) var statusFile: String?
    @Option(help: .init("text (default) or json: one log line per event.", valueName: "FORMAT")) var logFormat = "text"
    @Option(help: .init("Seconds between looks at the certificate sources (Traefik, Caddy, manual files, lineages renewed elsewhere).", valueName: "SECONDS")) var interval = 60
    @Option(help: .init("KEY=VALUE lines (docker's env_file) read at start and on SIGHUP, over the environment.", valueName: "FILE")) var envFile: String?
    @Flag(help: "Do not run the executables in renewal-hooks/{pre,deploy,post}/.") var noDirectoryHooks = false
    @OptionGroup var common: CommonOptions
    @OptionGroup var fleet: StoreOptions
    @Flag(help: "With --store: answer the fleet's HTTP-01 challenges on this node from the store (on --http-01-port, default 80), as acme respond does.") var respond = false

    func validate() throws {
        if let alertTo, !CheckAlert.isPlainAddress(alertTo) { throw ValidationError("--alert-to \(alertTo) is not a mail address") }
        if !(1...1000).contains(alertAfter) { throw ValidationError("--alert-after \(alertAfter) is not between 1 and 1000") }
        if EventLog.Format(rawValue: logFormat) == nil { throw ValidationError("--log-format \(logFormat) is not text or json") }
        if !(1...3600).contains(retryDelay) { throw ValidationError("--retry-delay \(retryDelay) is not between 1 and 3600 seconds") }
        if !(1...86_400).contains(interval) { throw ValidationError("--interval \(interval) is not between 1 and 86400 seconds") }
        if noProvision && !endpoints.endpoints.isEmpty { throw ValidationError("--endpoint verifies installs; --no-provision installs nothing") }
        if respond, fleet.settings == nil { throw ValidationError("--respond answers the fleet's challenges from the store; it goes with --store URL (or ACME_STORE)") }
    }

    func run() async throws {
        try await ExitStatus.run {
            // One daemon per config directory, refused before anything starts (ports, store listener).
            let lock = try DaemonLock(configDirectory: common.configDirectory)
            defer { lock.release() }
            // Libraries name settings; the daemon's log lines name their flags too, as the CLI's do.
            let log = EventLog(format: EventLog.Format(rawValue: logFormat) ?? .text,
                               write: { EventLog.standardOutput(SettingFlags.naming($0)) })
            var options = RenewOptions(toolVersion: acmeVersion)
            (options.caBundle, options.useDirectoryHooks) = (common.caBundlePath, !noDirectoryHooks)
            let statusPath = LocalSystem.absolutePath(statusFile ?? DaemonStatus.defaultPath(configDirectory: common.configDirectory))
            var settings = DaemonSettings(configDirectory: common.configDirectory, makeClient: common.printing.clientFactory,
                                          renewOptions: options, alerter: Alerter(mailTo: alertTo, command: alertCommand),
                                          statusPath: statusPath, log: log)
            let store = fleet.settings
            if !noProvision {
                // Fleet mode: the first certificate comes from the store (acme issue --store on one
                // node), never from every node at once.
                let (sources, common, issueIfMissing) = (sources, common, store == nil)
                settings.provision = { try sources.workflow(environment: $0, common: common, issueIfMissing: issueIfMissing) }
                settings.verifier = noVerify ? nil : try endpoints.verifier()
            }
            (settings.envFile, settings.alertAfter) = (envFile.map(LocalSystem.absolutePath), alertAfter)
            (settings.interval, settings.verbose) = (.seconds(interval), common.printing.verbose)
            settings.backoff.base = Double(retryDelay)
            let wakeUps = WakeUps()
            wakeUps.onStop = { log.log(.stopping, "signal \($0)") }
            if let store {
                // With --respond this node answers the fleet's HTTP-01 challenges too.
                let responder = sources.responder
                let http01: (() throws -> HTTP01Responder)? = !respond ? nil : {
                    try responder.method().validate()
                    return HTTP01Responder(address: responder.http01Address, port: responder.http01Port)
                }
                try await FleetDaemon.join(store, settings: &settings, wakeUps: wakeUps, http01: http01,
                                           lockedRetry: .seconds(retryDelay), toolVersion: acmeVersion)
            }
            try await Daemon(settings: settings).run(wakeUps: wakeUps)
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print acme daemon's status; exit 1 when unhealthy (for Docker HEALTHCHECK and monitoring).",
        discussion: """
        Unhealthy: a certificate expired or has less than a sixth of its lifetime left, renewals keep failing,
        an installed certificate was not served or was rolled back, or the daemon has not written its status
        for three heartbeats. Exit 0 healthy, 1 unhealthy, 2 no readable status file.
        Examples: acme status; acme status --json; HEALTHCHECK CMD acme status --quiet
        """)

    @Option(help: .init("The daemon's status file (default: <config-dir>/.acme-daemon-status.json).", valueName: "FILE")) var statusFile: String?
    @Flag(help: "Print the status as JSON, with healthy and problems.") var json = false
    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var printing: OutputArguments

    func run() async throws {
        try await ExitStatus.run {
            let status = try DaemonStatus.load(LocalSystem.absolutePath(statusFile ?? DaemonStatus.defaultPath(configDirectory: store.configDirectory)))
            if json { Output.print(try status.json()) } else if !printing.quiet { Output.print(status.text()) }
            let problems = status.problems()
            if !problems.isEmpty { throw DaemonError(.unhealthy, "unhealthy: " + problems.joined(separator: "; ")) }
        }
    }
}
