import Base
import FoundationEssentials

/// Several endpoints checked in one go, as `acme check` does: every endpoint URL is parsed
/// before the first connection (a typo is a usage error, not an unreachable server), each
/// endpoint's outcome is kept, and what failed is worded once for output and the alert mail.
public struct CheckRun: Sendable {
    public var reports: [CheckReport] = []
    /// Endpoints that could not be reached or talked to.
    public var errors: [CheckError] = []
    /// One line per problem: unverified, expiring soon, unreachable.
    public var failures: [String] = []
    public var unreachable: Bool { !errors.isEmpty }

    /// The exit category of the whole run: network before validation, nil when all is well.
    public var category: ErrorCategory? {
        if unreachable { return .network }
        return failures.isEmpty ? nil : .validationFailed
    }
}

extension EndpointCheck {
    /// Seconds the whole run may take beyond `timeoutSeconds` for each endpoint (reading the
    /// certificates, the gaps between endpoints).
    public static let runSlackSeconds = 5

    /// Every endpoint in turn, each within its own deadline (`timeoutSeconds`) and all within
    /// the run's (`timeoutSeconds` × endpoints + `runSlackSeconds`): an endpoint whose turn
    /// comes after the run's deadline is reported as not checked, and the others still count.
    /// `run` for async code: the dialogs wait on sockets, on a thread of their own.
    public func run(endpoints texts: [String], now: Date = Date()) async throws -> CheckRun {
        try await onOwnThread(throwing: { try self.run(endpoints: texts, now: now) as CheckRun })
    }

    public func run(endpoints texts: [String], now: Date = Date()) throws -> CheckRun {
        let endpoints = try texts.map(Endpoint.init(parsing:))
        // A CA file that cannot be read is this machine's problem, found before any connection.
        if let caFile { _ = try FS.read(caFile) }
        let total = timeoutSeconds * endpoints.count + Self.runSlackSeconds
        let runDeadline = Deadline(seconds: total, name: "the run's \(total) s deadline (the \(SettingName.endpointTimeout) × \(endpoints.count) endpoints + \(Self.runSlackSeconds) s)")
        var run = CheckRun()
        for endpoint in endpoints {
            do {
                guard !runDeadline.passed else { throw CheckError(.timedOut, "\(endpoint): not checked: \(runDeadline.name) passed before its turn") }
                let report = try self.run(endpoint, now: now, deadline: .earlier(endpointDeadline(), runDeadline))
                run.reports.append(report)
                if !report.verified { run.failures.append("\(report.endpoint): \(report.verifyMessage) (verify code \(report.verifyCode))") }
                if report.expiresSoon { run.failures.append("\(report.endpoint): expires \(report.notAfter.utcText), in \(report.daysLeft) days") }
            } catch let error as CheckError {
                run.errors.append(error)
                run.failures.append(error.message)
            }
        }
        return run
    }
}

/// The mail `acme check --alert-to` sends through the local sendmail when something failed.
public enum CheckAlert {
    /// An address that can only be an address: `user@domain`, or a local name such as `root`
    /// that sendmail delivers on this host; no whitespace or control characters (which could add
    /// mail headers), not an option.
    public static func isPlainAddress(_ text: String) -> Bool {
        guard !text.isEmpty, !text.hasPrefix("-") else { return false }
        if !text.contains("@") {
            return text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._+-".unicodeScalars.contains($0)) }
        }
        return !text.contains(where: { $0.isWhitespace || $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } })
    }

    /// `send` for async code: sendmail runs and is waited for on a thread of its own.
    public static func send(to address: String, failures: [String], command: String,
                            runner: Subprocess = Subprocess()) async -> String? {
        await onOwnThread { send(to: address, failures: failures, command: command, runner: runner) as String? }
    }

    /// Sends the failures of a run; returns a warning line when sendmail could not take it.
    public static func send(to address: String, failures: [String], command: String,
                            runner: Subprocess = Subprocess()) -> String? {
        mail(to: address, subject: "acme check: \(failures.count) TLS problem\(failures.count == 1 ? "" : "s") seen from \(LocalSystem.hostName())",
             body: failures.joined(separator: "\n") + "\n\n-- \(command)", runner: runner)
    }

    /// One mail through the local `sendmail -t -i`; returns a warning line when sendmail could
    /// not take it. The address must pass `isPlainAddress`; the subject is kept to one line.
    public static func mail(to address: String, subject: String, body: String, runner: Subprocess = Subprocess()) -> String? {
        let oneLine = subject.excerpt(200)
        let mail = "To: \(address)\nSubject: \(oneLine)\n\n\(body)\n"
        // A sendmail that hangs must not hold the run (cron would pile up): 30 s at most.
        let result = runner.run(["sendmail", "-t", "-i"], input: mail, timeout: .seconds(30))
        return result.succeeded ? nil : "could not send the alert through sendmail: \(result.lastLine)"
    }
}
