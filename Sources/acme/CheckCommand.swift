import ArgumentParser
import CertStore
import Check
import FoundationEssentials

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the certificate a mail (or web) server presents: chain, name, expiry.",
        discussion: """
        Schemes: smtp:// (25, STARTTLS), submission:// (587, STARTTLS), smtps:// (465), imap:// (143, STARTTLS),
        imaps:// (993), pop3:// (110, STLS), pop3s:// (995), https:// (443).
        Exit 0 when every endpoint verifies (and does not expire within --expires-within), 1 when a certificate
        fails, 3 when an endpoint cannot be reached or the TLS handshake fails.
        Examples:
          acme check smtp://mail.example.com imaps://mail.example.com
          acme check smtp://mx.example.com --expires-within 14d --alert-to postmaster@example.com
          acme check smtps://127.0.0.1:465 --servername mail.example.com --ca-file private-ca.pem --json
        """)

    @Argument(help: ArgumentHelp("Endpoints such as smtp://mail.example.com or imaps://mail.example.com:993.", valueName: "URL"))
    var endpoints: [String] = []

    @Option(name: .long, help: ArgumentHelp("Name to send as SNI and to verify (default: the URL's host).", valueName: "NAME"))
    var servername: String?

    @Option(name: .long, help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "FILE"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Fail when the certificate expires within this time: 14d, 36h, 2w, or days.", valueName: "TIME"))
    var expiresWithin: String?

    @Option(name: .long, help: ArgumentHelp("On failure, mail a short report to this address through the local sendmail.", valueName: "ADDRESS"))
    var alertTo: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for connecting and for each answer (default 10).", valueName: "SECONDS"))
    var timeout = 10

    @Flag(name: .long, help: "Print a JSON array instead of text.")
    var json = false

    func validate() throws {
        if endpoints.isEmpty { throw ValidationError("give at least one endpoint, e.g. smtp://mail.example.com") }
        if let expiresWithin, Self.seconds(expiresWithin) == nil {
            throw ValidationError("--expires-within \(expiresWithin) is not a time such as 14d, 36h or 2w")
        }
        if let alertTo, !alertTo.contains("@") || alertTo.contains(" ") || alertTo.hasPrefix("-") {
            throw ValidationError("--alert-to \(alertTo) is not a mail address")
        }
        if !(1...300).contains(timeout) { throw ValidationError("--timeout \(timeout) is not between 1 and 300 seconds") }
    }

    /// "14d", "36h", "2w", "90m", "45s" or a bare number of days.
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let days = Double(text) { return days * 86_400 }
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0 else { return nil }
        return amount * unit
    }

    func run() async throws {
        var check = EndpointCheck(serverName: servername, caFile: caFile.map(absolutePath))
        check.timeoutSeconds = timeout
        check.expiresWithin = expiresWithin.flatMap(Self.seconds) ?? 0
        var reports: [CheckReport] = []
        var failures: [String] = []
        var unreachable = false
        for text in endpoints {
            do {
                let report = try check.run(try Endpoint(parsing: text))
                reports.append(report)
                if !report.verified { failures.append("\(report.endpoint): \(report.verifyMessage) (verify code \(report.verifyCode))") }
                if report.expiresSoon { failures.append("\(report.endpoint): expires \(formatDate(report.notAfter)), in \(report.daysLeft) days") }
            } catch {
                unreachable = true
                failures.append("\(error)")
                if !json { Output.writeErr("error: \(error)") }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(reports), as: UTF8.self))
        } else {
            for report in reports { print(Self.describe(report)) }
        }
        if !failures.isEmpty, let alertTo { sendAlert(to: alertTo, failures: failures) }
        if unreachable { throw ExitCode(ExitStatus.networkFailure) }
        if !failures.isEmpty { throw ExitCode(ExitStatus.caFailure) }
    }

    static func describe(_ report: CheckReport) -> String {
        let verdict = report.verified ? "ok" : "FAILED: \(report.verifyMessage) (code \(report.verifyCode))"
        let expiry = report.expiresSoon ? "  EXPIRES SOON" : ""
        return """
        \(report.endpoint) (\(report.protocolVersion), \(report.cipher))
          subject:    \(report.subject ?? "-")
          names:      \(report.names.joined(separator: " "))
          issuer:     \(report.issuer ?? "-")
          key:        \(report.keyType)
          valid:      \(formatDate(report.notBefore)) to \(formatDate(report.notAfter))
          days left:  \(report.daysLeft)\(expiry)
          verified:   \(verdict) for \(report.serverName)
        """
    }

    private func sendAlert(to address: String, failures: [String]) {
        let host = FS.hostname()
        let mail = """
        To: \(address)
        Subject: acme check: \(failures.count) TLS problem\(failures.count == 1 ? "" : "s") seen from \(host)

        \(failures.joined(separator: "\n"))

        -- acme check \(endpoints.joined(separator: " "))

        """
        let result = Subprocess().run(["sendmail", "-t", "-i"], input: mail)
        if !result.succeeded { Output.writeErr("warning: could not send the alert through sendmail: \(result.lastLine)") }
    }
}
