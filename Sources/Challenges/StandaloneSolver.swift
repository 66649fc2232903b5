import ACME
import Base
import Synchronization

/// Counts the live challenges of a responder that runs only while it has some: started
/// with the first, stopped with the last.
final class LiveChallengeCount: Sendable {
    private let state = Mutex<(started: Bool, count: Int)>((false, 0))

    /// One more live challenge; `start` runs if it is the first.
    func add(start: () throws -> Void) throws {
        try state.withLock { state in
            if !state.started {
                try start()
                state.started = true
            }
            state.count += 1
        }
    }

    /// One fewer; true when that was the last and the responder should stop.
    func remove() -> Bool {
        state.withLock { state -> Bool in
            state.count -= 1
            guard state.count <= 0, state.started else { return false }
            state.started = false
            return true
        }
    }
}

/// HTTP-01 through our own responder. It binds the port when the first challenge
/// is presented and closes it when the last one is cleaned up, so it runs only
/// while the order needs it.
public final class StandaloneSolver: ChallengeSolver, Sendable {
    public let challengeType = "http-01"
    private let responder: HTTP01Responder
    private let live = LiveChallengeCount()

    public init(address: String?, port: Int) {
        responder = HTTP01Responder(address: address, port: port)
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        try live.add { try responder.start() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
    }

    public func cleanup(identifier: String, token: String) async {
        responder.remove(token: token)
        if live.remove() { responder.stop() }
    }

    public func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool {
        await waitUntilServed(challenges, limit: limit) { responder.hasServed(token: $0.token) }
    }
}

/// HTTP-01 through files under a web server's document root, one root for every
/// name or, like certbot's `webroot_map`, a root per name.
public final class WebrootChallengeSolver: ChallengeSolver, Sendable {
    public let challengeType = "http-01"
    private let roots: [String: WebrootSolver]
    private let fallback: WebrootSolver?
    private let live = LiveChallengeCount()

    public convenience init(root: String) throws {
        try self.init(map: [:], default: root)
    }

    public init(map: [String: String], default root: String?) throws {
        var solvers: [String: WebrootSolver] = [:]
        var byPath: [String: WebrootSolver] = [:]
        for (name, path) in map {
            let solver = try byPath[path] ?? WebrootSolver(root: path)
            byPath[path] = solver
            solvers[name.lowercased()] = solver
        }
        roots = solvers
        fallback = try root.map { try byPath[$0] ?? WebrootSolver(root: $0) }
    }

    private func solver(for identifier: String) throws -> WebrootSolver {
        guard let solver = roots[identifier.lowercased()] ?? fallback else {
            throw ChallengeError(.webroot, "no webroot is configured for \(identifier); add it to webroot_map in the renewal conf or give \(SettingName.webroot)")
        }
        return solver
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        try solver(for: identifier).add(token: token, keyAuthorization: keyAuthorization)
        try live.add {}
    }

    public func cleanup(identifier: String, token: String) async {
        // present() threw the same error for a name without a webroot: nothing was written.
        (try? solver(for: identifier))?.remove(token: token)
        // The last one out also removes the directories we created.
        if live.remove() {
            for solver in Array(roots.values) + (fallback.map { [$0] } ?? []) { solver.removeAll() }
        }
    }
}

/// TLS-ALPN-01 through our own TLS responder, listening only while the order needs it.
public final class TLSALPNSolver: ChallengeSolver, Sendable {
    public let challengeType = "tls-alpn-01"
    private let responder: TLSALPN01Responder
    private let live = LiveChallengeCount()

    public init(address: String?, port: Int) throws {
        responder = try TLSALPN01Responder(address: address, port: port)
    }

    /// The port the responder listens on while it runs (the one asked for, or the one the system chose for 0).
    var port: Int { responder.port }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        try responder.add(identifier: identifier, keyAuthorization: keyAuthorization)
        try live.add { try responder.start() }
    }

    public func cleanup(identifier: String, token: String) async {
        responder.remove(identifier: identifier)
        if live.remove() { responder.stop() }
    }

    /// The CA has looked once it completed a handshake for every name (RFC 8737 §3: one
    /// connection per identifier, with the name in SNI).
    public func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool {
        await waitUntilServed(challenges, limit: limit) { responder.hasServed(identifier: $0.identifier) }
    }
}
