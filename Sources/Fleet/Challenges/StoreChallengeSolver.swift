import ACME
import Base
import Challenges
import FleetStore
import Glibc
import Synchronization

/// HTTP-01 or TLS-ALPN-01 answered by the whole fleet: `present` writes the challenge to the
/// store's `acme_challenges` (for `lifetime` seconds) and notifies the channel
/// `acme_challenges`, so every node's `FleetResponder` serves it and a load balancer may send
/// the CA's request to any node; `cleanup` deletes it and notifies again. The node that
/// placed the order needs no port of its own.
///
/// The notification's payload is `<kind> <token>` (for TLS-ALPN-01 the name), never the key
/// authorization: listeners reload the live rows, and a payload is visible to every session
/// that listens on the channel.
///
/// Each call opens its own connection on a thread of its own (`onOwnThread`) and closes it
/// before returning: a `PostgresConnection` is confined to one thread, an async call may resume
/// on any, and libpq's blocking calls must not hold the threads async code shares. A few connections per
/// order cost milliseconds; the CA's validation takes longer.
public final class StoreChallengeSolver: ChallengeSolver, Sendable {
    public static let channel = "acme_challenges"
    /// How long a presented challenge stays in the store if cleanup never runs (a node killed
    /// mid-order): long enough for any CA, short enough that the table keeps itself small.
    public static let defaultLifetime = 600

    public let kind: StoredChallenges.Kind
    public var challengeType: String { kind.rawValue }
    private let lifetime: Int
    private let open: @Sendable () throws -> FleetStore
    private let local: FleetResponder?
    private let progress: EventSink
    /// The server's clock after the last challenge was committed: what `awaitPublished` waits for every responder to pass.
    private let presentedAt = Mutex<Int?>(nil)
    /// The longest `awaitPublished` waits for the responders to mirror the challenges; then the CA is asked anyway.
    public static let mirrorWait: Duration = .seconds(5)

    /// `open`: a fresh store connection (`FleetStore.open(url:keyFile:)`); `local`: this node's
    /// own responder, which then serves the challenge at once rather than after the notification.
    public init(kind: StoredChallenges.Kind, lifetime: Int = defaultLifetime, local: FleetResponder? = nil,
                progress: @escaping EventSink = { _ in }, open: @escaping @Sendable () throws -> FleetStore) {
        self.kind = kind
        self.lifetime = min(max(lifetime, 1), StoredChallenges.maxLifetime)
        self.local = local
        self.progress = progress
        self.open = open
    }

    /// The store solver for `url`: what `--store` makes of it.
    public convenience init(kind: StoredChallenges.Kind, storeURL: String, keyFile: String? = nil, local: FleetResponder? = nil,
                            progress: @escaping EventSink = { _ in }) {
        self.init(kind: kind, local: local, progress: progress) { try FleetStore.open(url: storeURL, keyFile: keyFile) }
    }

    /// The hook for `IssueRequest.solverOverride` when a fleet store is configured: the
    /// built-in responders' methods (`.standalone` → HTTP-01, `.tlsALPN` → TLS-ALPN-01) are
    /// answered through the store by every node; webroot, DNS-01 and manual hooks keep their
    /// own solver (nil), since DNS-01 needs nothing extra and a webroot is the user's web server.
    /// `listening`: responders started on demand on this node (`LocalResponders`) when no `local` one is given.
    public static func override(storeURL: String, keyFile: String?, local: FleetResponder? = nil, listening: LocalResponders? = nil,
                                progress: @escaping EventSink) -> @Sendable (ChallengeMethod, [String]) throws -> (any ChallengeSolver)? {
        { method, _ in
            switch method {
            case .standalone:
                StoreChallengeSolver(kind: .http01, storeURL: storeURL, keyFile: keyFile, local: local ?? listening?.responder(for: method), progress: progress)
            case .tlsALPN:
                StoreChallengeSolver(kind: .tlsALPN01, storeURL: storeURL, keyFile: keyFile, local: local ?? listening?.responder(for: method), progress: progress)
            default: nil
            }
        }
    }

    /// The row's token: the CA's token for HTTP-01, the name for TLS-ALPN-01 (RFC 8737 §3: the
    /// CA connects with the name in SNI and never sends the token).
    private func storedToken(identifier: String, token: String) -> String {
        kind == .http01 ? token : identifier.lowercased()
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        let stored = storedToken(identifier: identifier, token: token)
        // The CA's response is untrusted: nothing that is not acme's shape reaches a query.
        if kind == .tlsALPN01, !ChallengeShape.isIdentifier(stored) {
            throw ChallengeError(.invalidSetting, "\(identifier) is not a DNS name the fleet's TLS-ALPN-01 responders can answer for (IP addresses are not supported in fleet mode); use HTTP-01 or DNS-01 for it")
        }
        guard ChallengeShape.isServable(kind, token: stored, keyAuthorization: keyAuthorization) else {
            throw ChallengeError(.invalidToken, "the CA's \(kind.rawValue) challenge for \(identifier) has a token or key authorization that is not base64url of at most \(ChallengeShape.maxTokenBytes) bytes; not written to the store")
        }
        let (open, kind, lifetime) = (self.open, self.kind, self.lifetime)
        let committed = try await onOwnThread(throwing: { () throws -> Int in
            let store = try open()
            try StoredChallenges(store).put(kind, token: stored, keyAuthorization: keyAuthorization, lifetime: lifetime)
            // The clock between the commit and the notification: a responder woken by this
            // notification reads its mark later, so its mark ≥ this means it has the row.
            let committed = try MirrorMark.clock(store)
            try store.connection.notify(Self.channel, payload: "\(kind.rawValue) \(stored)")
            return committed
        })
        presentedAt.withLock { $0 = max($0 ?? committed, committed) }
        local?.serve(kind, token: stored, keyAuthorization: keyAuthorization, lifetimeMilliseconds: lifetime * 1000)
    }

    public func cleanup(identifier: String, token: String) async {
        let stored = storedToken(identifier: identifier, token: token)
        local?.withdraw(kind, token: stored)
        guard kind == .http01 ? ChallengeShape.isToken(stored) : ChallengeShape.isIdentifier(stored) else {
            return  // present refused it: nothing was written, and nothing reaches a query
        }
        let (open, kind) = (self.open, self.kind)
        do {
            try await onOwnThread(throwing: {
                let store = try open()
                try StoredChallenges(store).remove(kind, token: stored)
                try store.connection.notify(Self.channel, payload: "\(kind.rawValue) \(stored)")
            })
        } catch {
            // Cleanup must not fail the order; the row expires by itself.
            progress(.warning("could not remove the \(kind.rawValue) challenge for \(identifier) from the store (\(error)); it expires within \(lifetime / 60) minutes"))
        }
    }

    /// Before the CA is told to validate: waits until every node's responder (every
    /// `acme respond` session of the store) has mirrored the challenges, at most `mirrorWait`,
    /// polling every 20 ms. A CA that validates at once would otherwise reach a node a few
    /// milliseconds behind. With no responder connected it waits for one as well (they reconnect
    /// within 4 s of a restarted store). Never fails the order: past the bound it says so and
    /// lets the CA try.
    public func awaitPublished() async throws {
        guard let since = presentedAt.withLock({ $0 }) else { return }
        let (open, wait) = (self.open, Self.mirrorWait)
        let state = try await onOwnThread(throwing: { () throws -> (all: Int, behind: Int) in
            let store = try open()  // one connection for the whole wait, on this thread only
            let deadline = ContinuousClock.now + wait
            while true {
                let state = try MirrorMark.responders(store, since: since)
                // No responder connected (the store was just restarted and they are reconnecting):
                // wait for one too, rather than send the CA to nodes that would answer 404.
                if (state.all > 0 && state.behind == 0) || ContinuousClock.now >= deadline { return state }
                usleep(20_000)
            }
        })
        if state.all == 0 {
            progress(.warning("no node is answering challenges from the store (run acme respond --store on every node); asking the CA anyway"))
        } else if state.behind > 0 {
            progress(.warning("\(state.behind) of \(state.all) nodes did not take the challenges from the store within \(wait); asking the CA anyway"))
        }
    }

    /// The CA may fetch from any node, and the store does not record fetches: the order flow
    /// polls the CA instead (no worse than a webroot). See Docs/FLEET.md, "Challenges".
    public func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool { false }
}
