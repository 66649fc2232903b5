import Base

/// The names of the daemon's log events: the `event` field of `acme daemon --log-format json` and
/// the word after the time in text lines. A contract with whoever parses the log, listed in
/// Docs/CLI.md ("Daemon events"); a name is added, never renamed or reused.
public enum DaemonEvent: String, Sendable, CaseIterable {
    // The loop
    case started, stopping, stopped, reload, waiting
    case step, note, warning, error
    // Renewal
    case renewed, held
    case renewalFailed = "renewal-failed"
    // Installation and verification
    case installed, reloaded, verified
    case provisionFailed = "provision-failed"
    case verifySkipped = "verify-skipped"
    case notServed = "not-served"
    case rolledBack = "rolled-back"
    // Incidents
    case alert, resolved
    case alertFailed = "alert-failed"
    // Fleet (acme daemon --store)
    case store, notified, synced, published, respond
    case storeUnreachable = "store-unreachable"
    case storeListen = "store-listen"

    /// The level the daemon logs this event at (the JSON `level` field). `step` and `warning`
    /// carry the severity of the library event they relay; this is their usual one.
    public var level: Severity {
        switch self {
        case .warning, .verifySkipped, .storeListen: .warning
        case .error, .renewalFailed, .provisionFailed, .notServed, .rolledBack, .alert, .alertFailed, .storeUnreachable: .error
        default: .info
        }
    }
}
