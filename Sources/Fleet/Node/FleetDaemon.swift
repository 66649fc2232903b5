import Base
import Challenges
import Daemon
import Issuance

/// `acme daemon --store`: the daemon as a fleet node. Fleet plugs into the daemon through its
/// `StoreHooks` (the daemon does not know the store); this is the one place that wires them.
public enum FleetDaemon {
    /// Joins `settings` to the fleet of `store`: opens the store (a store written by a newer acme
    /// or a wrong key is refused; an unreachable store is logged and the node starts with its local
    /// certificates, the rounds retry and alert), answers HTTP-01 on the responder `http01` makes, when given (this
    /// node's own challenges at once, the others' once the store says so), solves HTTP-01 and
    /// TLS-ALPN-01 through the store, renews in rounds through the store (`FleetRenewal`, a lineage
    /// locked elsewhere looked at again after `lockedRetry`) and listens for the store's
    /// notifications, posted to `wakeUps` as `.storeChanged`.
    public static func join(_ store: StoreSettings, settings: inout DaemonSettings, wakeUps: WakeUps,
                            http01 makeHTTP01: (() throws -> HTTP01Responder)?, lockedRetry: Duration, toolVersion: String) async throws {
        let log = settings.log, verbose = settings.verbose
        do { try await onOwnThread(throwing: { _ = try store.open() }) } catch where StoreSettings.isUnreachable(error) {
            log.log(.storeUnreachable, "\(error); starting with the local certificates")
        }
        var local: FleetResponder?
        if let makeHTTP01 {
            let http01 = try makeHTTP01()
            let responder = try FleetResponder(storeURL: store.url, keyFile: store.keyFile, http01: http01,
                                               log: { log.log(.respond, $0.message, level: $0.severity) })
            try responder.start()
            log.log(.respond, "answering the fleet's HTTP-01 challenges from the store on port \(http01.port)")
            local = responder
        }
        let solvers = StoreChallengeSolver.override(storeURL: store.url, keyFile: store.keyFile, local: local, progress: log.events(verbose: verbose))
        settings.store = roundHooks(store, configDirectory: settings.configDirectory, lockedRetry: lockedRetry,
                                    toolVersion: toolVersion, log: log, verbose: verbose, solverOverride: solvers)
        let listener = StoreListener(settings: store, notified: { wakeUps.post(.storeChanged($0)) },
                                     failed: { log.log(.storeListen, "\($0); listening again with backoff") })
        try listener.start()
    }

    /// The daemon's renewal rounds through the store (FleetRenewal), as the daemon's hook.
    static func roundHooks(_ store: StoreSettings, configDirectory: String, lockedRetry: Duration, toolVersion: String,
                           log: EventLog, verbose: Bool, solverOverride: SolverOverride? = nil) -> StoreHooks {
        var fleet = FleetRenewal(store: store, configDirectory: configDirectory, toolVersion: toolVersion,
                                 progress: log.events(verbose: verbose))
        fleet.lockedRetry = lockedRetry
        fleet.solverOverride = solverOverride
        let round = fleet
        return StoreHooks(description: store.redacted) { renewer, options, filter in
            let result = try await round.run(renewer, options, filter: filter)
            return StoreRound(summary: result.summary, installed: result.sync.installed, published: result.sync.published, problem: result.storeProblem)
        }
    }
}
