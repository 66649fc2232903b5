import Base
import FoundationEssentials

/// The ranges of the status file's numbers and dates. The file is read back by `acme status` (the
/// container's health check) and by the next daemon, which keeps its backoff: a value outside
/// these ranges makes the file unreadable (the daemon starts fresh and says so once).
extension DaemonStatus {
    /// Failed attempts in a row that a file may record (a lineage failing every minute for a year is 525 600).
    public static let failureRange = 0...1_000_000
    /// The heartbeat the daemon may have written: a second to a day (it writes 900).
    public static let heartbeatRange = 1...86_400
    /// Lineages, retry states and incidents in one file (each lineage has a handful of entries).
    static let entryLimit = 10_000
    /// Failed orders the CA saw within the last hour that a retry state may list.
    static let caFailureLimit = 1000

    /// The first number or date out of range, as `field value (expected …)`; nil when all are fine.
    public var outOfRange: String? {
        var check = RangeCheck()
        check.require("version", version, in: 1...1)
        check.require("pid", Int(pid), in: 1...Int(Int32.max))
        check.require("heartbeatSeconds", heartbeatSeconds, in: Self.heartbeatRange)
        for (name, date) in [("started", started), ("updated", updated), ("nextWake", nextWake)] { check.require(name, date: date) }
        check.require("lineages", count: lineages, atMost: Self.entryLimit)
        check.require("retries", count: retries, atMost: Self.entryLimit)
        check.require("incidents", count: incidents.open, atMost: Self.entryLimit)
        for lineage in lineages {
            check.require("\(lineage.name.excerpt()) failures", lineage.failures, in: Self.failureRange)
            for (name, date) in [("notBefore", lineage.notBefore), ("notAfter", lineage.notAfter), ("nextActionAt", lineage.nextActionAt)] {
                check.require("\(lineage.name.excerpt()) \(name)", date: date)
            }
        }
        for (name, retry) in retries.sorted(by: { $0.key < $1.key }) {
            check.require("retries \(name.excerpt()) failures", retry.failures, in: Self.failureRange)
            check.require("retries \(name.excerpt()) retryAt", date: retry.retryAt)
            check.require("retries \(name.excerpt()) notAfter", date: retry.notAfter)
            check.require("retries \(name.excerpt()) caFailures", count: retry.caFailures, atMost: Self.caFailureLimit)
            for date in retry.caFailures { check.require("retries \(name.excerpt()) caFailures", date: date) }
        }
        for incident in incidents.all { check.require("incident \(incident.key.excerpt()) since", date: incident.since) }
        check.require("lastInstall at", date: lastInstall?.at)
        check.require("lastVerification at", date: lastVerification?.at)
        return check.problem
    }

    /// `3 × heartbeat + 60 s`: how old the file may be before the daemon counts as not running.
    var staleAfter: Double {
        Double(heartbeatSeconds.clamped(to: Self.heartbeatRange).multiplied(saturating: 3).adding(saturating: 60))
    }
}
