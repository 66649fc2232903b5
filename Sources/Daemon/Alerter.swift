import Base
import Check
import FoundationEssentials

/// Something wrong that a person should hear about once: it opens with an alert and closes
/// with a recovery message, whatever happens in between (retries do not alert again).
public struct Incident: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// `--alert-after` renewals of a lineage failed in a row.
        case renewalFailing = "renewal-failing"
        /// Less than a sixth of the certificate's lifetime is left (15 days of 90, a day of 6).
        case expiring
        /// An endpoint did not serve the certificate just installed.
        case notServed = "not-served"
        /// The previous certificate was put back after an install that was not served.
        case rolledBack = "rolled-back"
        /// Fleet mode: the PostgreSQL store cannot be reached (the node serves what it has).
        case storeUnreachable = "store-unreachable"
    }

    public var kind: Kind
    /// The lineage, or nil for what concerns the installed set.
    public var lineage: String?
    public var since: Date
    public var message: String

    public var key: String { kind.rawValue + ":" + (lineage ?? "") }

    public init(kind: Kind, lineage: String?, since: Date, message: String) {
        (self.kind, self.lineage, self.since, self.message) = (kind, lineage, since, message)
    }
}

/// Where alerts go: `--alert-to` (the local sendmail, as `acme check`) and `--alert-command`
/// (a `Hook` with the event in its environment, Docs/HOOKS.md). sendmail is bounded to 30 s,
/// the command by the hooks' one timeout.
public struct Alerter: Sendable {
    public var mailTo: String?
    public var command: String?
    public var runner = Subprocess()
    /// How long the alert command may run: the hooks' one rule (a test shortens it).
    public var commandTimeout = Hook.timeout(for: .alert)

    public init(mailTo: String?, command: String?) {
        self.mailTo = mailTo
        self.command = command
    }

    public var isConfigured: Bool { mailTo != nil || command != nil }

    /// `send` for async code (the daemon's loop): sendmail and the alert command run and are
    /// waited for on a thread of their own.
    public func send(_ incident: Incident, resolved: Bool) async -> [String] {
        await onOwnThread { self.send(incident, resolved: resolved) as [String] }
    }

    /// Sends one event; returns a warning line per channel that failed.
    public func send(_ incident: Incident, resolved: Bool) -> [String] {
        var warnings: [String] = []
        let host = LocalSystem.hostName()
        let state = resolved ? "resolved" : "open"
        let what = incident.lineage.map { " (\($0))" } ?? ""
        if let mailTo {
            let subject = resolved ? "acme on \(host): resolved: \(incident.kind.rawValue)\(what)"
                                   : "acme on \(host): \(incident.kind.rawValue)\(what)"
            let body = (resolved ? "Resolved: " : "") + incident.message
                + "\n\nsince \(incident.since.utcText)\n\n-- acme daemon on \(host)"
            if let warning = CheckAlert.mail(to: mailTo, subject: subject, body: body, runner: runner) { warnings.append(warning) }
        }
        if let command {
            let details = ["ACME_EVENT": incident.kind.rawValue, "ACME_STATE": state, "ACME_MESSAGE": incident.message,
                           "ACME_HOST": host, "ACME_SINCE": incident.since.utcText]
            let environment = HookEnvironment(lineage: incident.lineage ?? "", details: details)
            let result = Hook(.alert, command: command, environment: environment, timeout: commandTimeout).runHere()
            if !result.succeeded {
                warnings.append("the alert command failed (status \(result.status)): \(result.lastLine.excerpt(200))")
            }
        }
        return warnings
    }
}

/// The open incidents, kept in the status file so that a restarted daemon does not alert again.
public struct IncidentBook: Codable, Sendable, Equatable {
    public private(set) var open: [String: Incident] = [:]

    public init() {}

    /// Opens the incident unless one of its kind is open for the lineage; true when it is new.
    public mutating func raise(_ incident: Incident) -> Bool {
        guard open[incident.key] == nil else { return false }
        open[incident.key] = incident
        return true
    }

    /// Closes the incident; returns it when it was open.
    public mutating func clear(_ kind: Incident.Kind, lineage: String?) -> Incident? {
        open.removeValue(forKey: kind.rawValue + ":" + (lineage ?? ""))
    }

    public var all: [Incident] { open.values.sorted { ($0.since, $0.key) < ($1.since, $1.key) } }
}
