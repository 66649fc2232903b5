import Base
import Check
import FoundationEssentials

/// What `acme daemon` writes after every wake-up (`<config-dir>/.acme-daemon-status.json`
/// unless `--status-file`) and `acme status` reads: for Docker's HEALTHCHECK and monitoring.
public struct DaemonStatus: Codable, Sendable, Equatable {
    public struct Lineage: Codable, Sendable, Equatable {
        public var name: String
        public var names: [String]
        public var notBefore: Date?
        public var notAfter: Date?
        /// `renew`, `ask-ari` (the CA's renewal information), `retry` (after a failure), `dane` (a DANE
        /// rollover step: an old record to remove, a new one to see), `dane-wait` (a renewal held by DANE).
        public var nextAction: NextAction
        public var nextActionAt: Date?
        public var failures: Int
        public var lastError: String?

        public init(name: String, names: [String], notBefore: Date? = nil, notAfter: Date? = nil, nextAction: NextAction,
                    nextActionAt: Date? = nil, failures: Int, lastError: String? = nil) {
            (self.name, self.names, self.notBefore, self.notAfter) = (name, names, notBefore, notAfter)
            (self.nextAction, self.nextActionAt, self.failures, self.lastError) = (nextAction, nextActionAt, failures, lastError)
        }
    }

    public struct Install: Codable, Sendable, Equatable {
        public var at: Date
        public var set: String?
        public var origin: String?
        public var serial: String?
        public var rolledBack: Bool
    }

    public struct Verification: Codable, Sendable, Equatable {
        public var at: Date
        public var ok: Bool
        public var endpoints: [ServedCheck.Result]
    }

    public var version = 1
    public var pid: Int32
    public var started: Date
    public var updated: Date
    /// The longest the daemon sleeps without rewriting this file: `acme status` calls a file
    /// older than three of these (and a minute) stale.
    public var heartbeatSeconds: Int
    public var nextWake: Date?
    public var lineages: [Lineage] = []
    public var lastInstall: Install?
    public var lastVerification: Verification?
    public var incidents = IncidentBook()
    /// Backoff per lineage, kept across restarts.
    public var retries: [String: RetryState] = [:]
    /// A file set rolled back after it was not served (not installed again until the sources change).
    public var heldBack: String?

    public init(pid: Int32, started: Date, heartbeatSeconds: Int) {
        self.pid = pid
        self.started = started
        self.updated = started
        self.heartbeatSeconds = heartbeatSeconds
    }

    /// Everything that makes the daemon unhealthy at `now`, one line each; empty when healthy.
    public func problems(now: Date = Date()) -> [String] {
        var problems: [String] = []
        let age = now.timeIntervalSince(updated)
        if age > staleAfter {
            problems.append("the daemon (pid \(pid)) has not updated its status since \(updated.utcText); is it running?")
        }
        for incident in incidents.all { problems.append("\(incident.kind.rawValue): \(incident.message)") }
        if lineages.isEmpty && lastInstall == nil {
            problems.append("no certificate: no lineage to renew and nothing installed yet")
        }
        for lineage in lineages {
            if let notAfter = lineage.notAfter, notAfter <= now {
                problems.append("\(lineage.name): the certificate expired \(notAfter.utcText)")
            }
        }
        return problems
    }

    /// The readable text `acme status` prints.
    public func text(now: Date = Date()) -> String {
        // Every field is escaped before it is laid out (the file may have been edited): a newline
        // in a serial or a name must not start a line of its own.
        func field(_ text: String?) -> String { (text ?? "-").escapedForDisplay }
        var lines = ["acme daemon pid \(pid), started \(started.utcText), status written \(updated.utcText)"]
        if let nextWake { lines.append("next wake-up: \(nextWake.utcText)") }
        for lineage in lineages {
            let expiry = lineage.notAfter.map { "expires \($0.utcText)" } ?? "no certificate"
            let next = field(lineage.nextAction.rawValue) + (lineage.nextActionAt.map { " at \($0.utcText)" } ?? "")
            var line = "\(field(lineage.name)): \(expiry); next: \(next)"
            if lineage.failures > 0 { line += "; \(lineage.failures) failed attempt(s), last: \(field(lineage.lastError ?? "?"))" }
            lines.append(line)
        }
        if let install = lastInstall {
            lines.append("last install: \(install.at.utcText) serial \(field(install.serial)) from \(field(install.origin))"
                         + (install.rolledBack ? " (rolled back)" : ""))
        }
        if let verification = lastVerification {
            lines.append("last verification: \(verification.at.utcText) \(verification.ok ? "ok" : "FAILED")")
            for endpoint in verification.endpoints {
                lines.append("  \(field(endpoint.endpoint)): \(endpoint.ok ? "ok" : "FAILED"), \(field(endpoint.detail))")
            }
        }
        let problems = problems(now: now)
        lines.append(problems.isEmpty ? "healthy" : "UNHEALTHY:")
        lines += problems.map { "  " + $0.escapedForDisplay }
        return lines.joined(separator: "\n")
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The status file's JSON, with `healthy` and `problems` as `acme status --json` adds them.
    public func json(now: Date = Date()) throws -> String {
        struct Report: Encodable {
            var healthy: Bool
            var problems: [String]
            var status: DaemonStatus
        }
        let problems = problems(now: now)
        return String(decoding: try Self.encoder().encode(Report(healthy: problems.isEmpty, problems: problems, status: self)), as: UTF8.self)
    }

    /// Where the daemon writes and `acme status` reads, unless `--status-file` says otherwise.
    public static func defaultPath(configDirectory: String) -> String {
        configDirectory + "/.acme-daemon-status.json"
    }

    /// The status file's largest accepted size.
    static let maxBytes = 4 << 20

    public static func load(_ path: String) throws -> DaemonStatus {
        guard FS.exists(path) else {
            throw DaemonError(.noStatus, "no daemon status at \(path): is acme daemon running (with this --status-file or --config-dir)?")
        }
        let text: String
        do { text = try FS.readNoFollow(path, limit: maxBytes) } catch {
            throw DaemonError(.noStatus, "cannot read the daemon status: \(error)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let status: DaemonStatus
        do {
            status = try decoder.decode(DaemonStatus.self, from: Data(text.utf8))
        } catch {
            throw DaemonError(.noStatus, "\(path) is not a status file acme daemon wrote; delete it and restart the daemon")
        }
        if let problem = status.outOfRange {
            throw DaemonError(.noStatus, "\(path) holds a value out of range, \(problem); delete it and restart the daemon")
        }
        return status
    }

    public func save(_ path: String) throws {
        try FS.writeAtomically(path, String(decoding: try Self.encoder().encode(self), as: UTF8.self) + "\n", mode: 0o644)
    }
}
