import Base
import Challenges
import Synchronization

/// `acme issue --store` and `acme renew --store` on a node where nothing answers the fleet's
/// challenges yet (the first start of a fleet, a host without `acme respond`): the first time a
/// challenge method needs a port, a `FleetResponder` is started on it for the rest of the run,
/// so this node answers too (its own challenges at once, the others' from the store). When the
/// port is taken — `acme respond` or `acme daemon --respond` on this node holds it — nothing is
/// started: that responder answers from the store.
public final class LocalResponders: Sendable {
    private let storeURL: String
    private let keyFile: String?
    private let progress: EventSink
    /// Per "kind port": the responder started, or nil when the port was taken.
    private let started = Mutex<[String: FleetResponder?]>([:])

    public init(storeURL: String, keyFile: String?, progress: @escaping EventSink) {
        self.storeURL = storeURL
        self.keyFile = keyFile
        self.progress = progress
    }

    deinit { stopAll() }

    /// The responder serving `method`'s port on this node, started now if the port is free;
    /// nil for methods without a port of acme's, or when the port is taken.
    public func responder(for method: ChallengeMethod) -> FleetResponder? {
        let key: String, label: String
        let make: () throws -> FleetResponder
        switch method {
        case .standalone(let address, let port):
            (key, label) = ("http-01 \(port)", "HTTP-01 on port \(port)")
            make = { [storeURL, keyFile, progress] in
                try FleetResponder(storeURL: storeURL, keyFile: keyFile, http01: HTTP01Responder(address: address, port: port), log: progress)
            }
        case .tlsALPN(let address, let port):
            (key, label) = ("tls-alpn-01 \(port)", "TLS-ALPN-01 on port \(port)")
            make = { [storeURL, keyFile, progress] in
                try FleetResponder(storeURL: storeURL, keyFile: keyFile, http01: nil,
                                   tlsALPN01: try TLSALPN01Responder(address: address, port: port), log: progress)
            }
        default:
            return nil
        }
        return started.withLock { started -> FleetResponder? in
            if let known = started[key] { return known }
            do {
                let responder = try make()
                try responder.start()
                started[key] = responder
                return responder
            } catch {
                // Taken (by acme respond here, most likely) or not allowed: the store answers.
                progress("\(label): not listening here (\(error)); the fleet's responders answer from the store")
                started[key] = .some(nil)
                return nil
            }
        }
    }

    /// Stops every responder started for this run.
    public func stopAll() {
        let all = started.withLock { started in
            defer { started = [:] }
            return started.values.compactMap { $0 }
        }
        all.forEach { $0.stop() }
    }
}
