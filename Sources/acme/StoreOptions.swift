import ArgumentParser
import Base
import Challenges
import Issuance
import Fleet
import Renewal

/// `--store URL` (or ACME_STORE) and `--store-key FILE` on daemon, issue, renew, provision,
/// certificates and the account subcommands: fleet mode (Docs/FLEET.md). Without either, nothing changes.
struct StoreOptions: ParsableArguments {
    @Option(help: .init("Fleet mode: the PostgreSQL store the nodes share, postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or libpq key=value settings (env ACME_STORE).", valueName: "URL")) var store: String?
    @Option(help: .init("With --store: the 32-byte key file (base64, mode 0600) that encrypts private keys in the store.", valueName: "FILE")) var storeKey: String?

    func validate() throws {
        if storeKey != nil, settings == nil { throw ValidationError("--store-key goes with --store URL (or ACME_STORE)") }
        if let store, store.isEmpty { throw ValidationError("--store is empty; give postgresql://USER@HOST/DB") }
    }

    /// nil: one host, no store.
    var settings: StoreSettings? {
        guard let url = store ?? LocalSystem.environment("ACME_STORE"), !url.isEmpty else { return nil }
        return StoreSettings(url: url, keyFile: storeKey.map(LocalSystem.absolutePath))
    }
}

extension StoreSettings {
    /// HTTP-01 and TLS-ALPN-01 through the store (every node's `acme respond` or `daemon --respond`
    /// answers; `local`, this node's own responder, at once); other methods keep their solver.
    /// `listening`: for issue and renew, responders started on this node for the run when the port is free.
    func challengeSolvers(local: FleetResponder? = nil, listening: LocalResponders? = nil, progress: @escaping EventSink) -> SolverOverride {
        StoreChallengeSolver.override(storeURL: url, keyFile: keyFile, local: local, listening: listening, progress: progress)
    }
}
