import ACME
import Challenges
import Synchronization

/// HTTP-01 through our own responder. It binds the port when the first challenge
/// is presented and closes it when the last one is cleaned up, so it runs only
/// while the order needs it.
public final class StandaloneSolver: ChallengeSolver, Sendable {
    public let challengeType = "http-01"
    private let responder: HTTP01Responder
    private let live = Mutex<(started: Bool, tokens: Int)>((false, 0))

    public init(address: String?, port: Int) {
        responder = HTTP01Responder(address: address, port: port)
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        try live.withLock { state in
            if !state.started {
                try responder.start()
                state.started = true
            }
            state.tokens += 1
        }
        responder.add(token: token, keyAuthorization: keyAuthorization)
    }

    public func cleanup(identifier: String, token: String) async {
        responder.remove(token: token)
        let stop = live.withLock { state -> Bool in
            state.tokens -= 1
            guard state.tokens <= 0, state.started else { return false }
            state.started = false
            return true
        }
        if stop { responder.stop() }
    }

    public func waitForFetch(tokens: [String], limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !tokens.allSatisfy({ responder.hasServed(token: $0) }) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return true
    }
}

/// HTTP-01 through files under a web server's document root.
public final class WebrootChallengeSolver: ChallengeSolver, Sendable {
    public let challengeType = "http-01"
    private let webroot: WebrootSolver
    private let tokens = Mutex(0)

    public init(root: String) throws {
        webroot = try WebrootSolver(root: root)
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        try webroot.add(token: token, keyAuthorization: keyAuthorization)
        tokens.withLock { $0 += 1 }
    }

    public func cleanup(identifier: String, token: String) async {
        webroot.remove(token: token)
        // The last one out also removes the directories we created.
        if tokens.withLock({ $0 -= 1; return $0 <= 0 }) { webroot.removeAll() }
    }
}
