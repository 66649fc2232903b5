import ArgumentParser
import Base
import Check

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the certificate a mail (or web) server presents: chain, name, expiry.",
        discussion: """
        Schemes: smtp:// (25, STARTTLS), submission:// (587, STARTTLS), smtps:// (465), imap:// (143, STARTTLS),
        imaps:// (993), pop3:// (110, STLS), pop3s:// (995), https:// (443).
        Exit 0 when every endpoint verifies (and does not expire within --expires-within), 1 when a certificate
        fails, 3 when an endpoint cannot be reached or the TLS handshake fails, or a server takes longer than
        --timeout for the whole exchange or sends more than acme check reads before TLS.
        Examples: acme check smtp://mx.example.com imaps://mx.example.com --expires-within 14d --alert-to postmaster@example.com
                  acme check smtps://127.0.0.1:465 --servername mail.example.com --ca-file private-ca.pem --json
        """)

    @Argument(help: .init("Endpoints such as smtp://mail.example.com or imaps://mail.example.com:993.", valueName: "URL")) var endpoints: [String] = []
    @Option(help: .init("Name to send as SNI and to verify (default: the URL's host).", valueName: "NAME")) var servername: String?
    @Option(help: .init("Trust these CA certificates instead of the system store.", valueName: "FILE")) var caFile: String?
    @Option(help: .init("Fail when the certificate expires within this time: 14d, 36h, 2w, or days.", valueName: "TIME")) var expiresWithin: String?
    @Option(help: .init("On failure, mail a short report to this address through the local sendmail.", valueName: "ADDRESS")) var alertTo: String?
    @Option(help: .init("Seconds for each endpoint's whole exchange: connecting, the dialog before TLS and the handshake (default 10).", valueName: "SECONDS")) var timeout = 10
    @Flag(help: "Print a JSON array instead of text.") var json = false

    func validate() throws {
        if endpoints.isEmpty { throw ValidationError("give at least one endpoint, e.g. smtp://mail.example.com") }
        if let expiresWithin, EndpointCheck.seconds(expiresWithin) == nil {
            throw ValidationError("--expires-within \(expiresWithin) is not a time such as 14d, 36h or 2w")
        }
        if let alertTo, !CheckAlert.isPlainAddress(alertTo) { throw ValidationError("--alert-to \(alertTo) is not a mail address") }
        if !(1...300).contains(timeout) { throw ValidationError("--timeout \(timeout) is not between 1 and 300 seconds") }
    }

    /// A report as the CLI prints it: the settings its verdict names followed by their flags.
    static func namingFlags(_ report: CheckReport) -> CheckReport {
        var report = report
        report.verifyMessage = SettingFlags.naming(report.verifyMessage)
        return report
    }

    func run() async throws {
        try await ExitStatus.run {
            var check = EndpointCheck(serverName: servername, caFile: caFile.map(LocalSystem.absolutePath))
            check.timeoutSeconds = timeout
            check.expiresWithin = expiresWithin.flatMap(EndpointCheck.seconds) ?? 0
            let result = try await check.run(endpoints: endpoints)
            if !json { for error in result.errors { Output.writeErr("error: \(SettingFlags.naming("\(error)"))") } }
            if json { try Output.printJSON(result.reports.map(Self.namingFlags)) } else { for report in result.reports { Output.print(SettingFlags.naming(report.text)) } }
            if let alertTo, !result.failures.isEmpty,
               let warning = await CheckAlert.send(to: alertTo, failures: result.failures, command: "acme check \(endpoints.joined(separator: " "))") {
                Output.writeErr("warning: \(warning)")
            }
            if let category = result.category { throw ExitCode(ExitStatus.code(for: category)) }
        }
    }
}
