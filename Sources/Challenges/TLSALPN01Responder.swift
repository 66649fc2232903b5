import ACMECrypto
import Synchronization
import Glibc

/// TLS-ALPN-01 (RFC 8737) on its own port (443 by default): a thread accepts connections
/// and completes one handshake each, bounded to 5 s, presenting the challenge certificate
/// for the requested name over `acme-tls/1` and refusing everything else. Certificates
/// exist only while their challenge is live.
public final class TLSALPN01Responder: @unchecked Sendable {
    private let address: String?
    private let requestedPort: Int
    private let tls: ChallengeTLSServer
    private let served = Mutex<Set<String>>([])
    private let server = ServerThread()
    private var boundPort = 0

    public init(address: String? = nil, port: Int = 443) throws {
        self.address = address
        self.requestedPort = port
        self.tls = try ChallengeTLSServer()
    }

    deinit { stop() }

    public var port: Int { boundPort }

    /// Presents the challenge certificate for `identifier` from now on.
    public func add(identifier: String, keyAuthorization: String) throws {
        let (certificate, key) = try CertificateBuilder.tlsALPNChallenge(identifier: identifier, keyAuthorization: keyAuthorization)
        try tls.add(identifier: identifier, certificate: certificate, key: key)
    }

    public func remove(identifier: String) {
        tls.remove(identifier: identifier)
        _ = served.withLock { $0.remove(identifier.lowercased()) }
    }

    /// Whether a handshake for `identifier` has completed since it was added.
    public func hasServed(identifier: String) -> Bool {
        served.withLock { $0.contains(identifier.lowercased()) }
    }

    public func start() throws {
        guard !server.isRunning else { return }
        // A client that hangs up mid-handshake must not kill us with SIGPIPE (OpenSSL writes with write(2)).
        signal(SIGPIPE, SIG_IGN)
        let listener = TCPListener(address: address, port: requestedPort, purpose: "the TLS-ALPN-01 responder",
                                   addressFlag: "--tls-alpn-01-address", alternative: "answer with HTTP-01 or DNS-01 instead")
        let sockets = try listener.open()
        boundPort = listener.boundPort(sockets[0])
        let tls = self.tls
        try server.start(listeners: sockets, purpose: "the TLS-ALPN-01 responder") { [weak self] wake in
            AcceptLoop(listeners: sockets, wake: wake, tls: tls) { name in
                _ = self?.served.withLock { $0.insert(name.lowercased()) }
            }.run()
        }
    }

    public func stop() { server.stop() }
}

/// The responder thread: poll() on the listeners and the wake pipe; one bounded handshake per connection.
private final class AcceptLoop {
    let listeners: [Int32]
    let wake: Int32
    let tls: ChallengeTLSServer
    let onServed: (String) -> Void

    init(listeners: [Int32], wake: Int32, tls: ChallengeTLSServer, onServed: @escaping (String) -> Void) {
        self.listeners = listeners
        self.wake = wake
        self.tls = tls
        self.onServed = onServed
    }

    func run() {
        while true {
            var fds = listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } + [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { return }
            if fds.last!.revents != 0 { return }
            for entry in fds.dropLast() where entry.revents & Int16(POLLIN) != 0 {
                let client = accept(entry.fd, nil, nil)  // blocking: Linux does not pass O_NONBLOCK on
                guard client >= 0 else { continue }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                var limit = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                if let name = tls.handshake(fd: client) { onServed(name) }
                close(client)
            }
        }
    }
}
