import ACMECrypto
import Base
import Synchronization
import Glibc

/// TLS-ALPN-01 (RFC 8737) on its own port (443 by default), presenting the challenge
/// certificate for the requested name over `acme-tls/1` and refusing everything else.
/// Certificates exist only while their challenge is live.
///
/// The responder's thread accepts connections and waits, with poll(), until each has
/// delivered its first TLS record (the ClientHello, at most 16 KiB) complete; only then does
/// the handshake run, on a short-lived thread of its own, so that a client that stalls cannot
/// hold up anyone else. At most 64 connections are open at once, at most 8 from one client
/// address (see `ClientAddress`; the others wait unread, see `ConnectionGate`), and each one is cut off 5 s
/// after it was accepted, ClientHello and handshake included.
public final class TLSALPN01Responder: @unchecked Sendable {
    public static let maxConnections = 64
    public static let maxConnectionsPerAddress = 8
    public static let handshakeDeadlineMilliseconds = 5_000
    /// The largest TLS record (RFC 8446 §5.1) and so the largest first ClientHello record waited for.
    public static let maxClientHelloRecordBytes = 16_384
    static let limits = ConnectionLimits(maxConnections: maxConnections, maxConnectionsPerAddress: maxConnectionsPerAddress,
                                         deadlineMilliseconds: handshakeDeadlineMilliseconds)

    private let address: String?
    private let requestedPort: Int
    private let limits: ConnectionLimits
    private let tls: ChallengeTLSServer
    private let served = Mutex<Set<String>>([])
    private let server = ServerThread()
    private var boundPort = 0

    public convenience init(address: String? = nil, port: Int = 443) throws {
        try self.init(address: address, port: port, deadlineMilliseconds: Self.handshakeDeadlineMilliseconds)
    }

    /// With a per-connection deadline other than `handshakeDeadlineMilliseconds`: tests give a
    /// long one, so that connections they hold are certainly still held while they check others.
    init(address: String?, port: Int, deadlineMilliseconds: Int) throws {
        self.address = address
        self.requestedPort = port
        var limits = Self.limits
        limits.deadlineMilliseconds = deadlineMilliseconds
        self.limits = limits
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
        // A handler, not SIG_IGN: hooks and reloads started later must get the default back.
        LocalSystem.ignoreBrokenPipes()
        let listener = TCPListener(address: address, port: requestedPort, purpose: "the TLS-ALPN-01 responder",
                                   addressSetting: .tlsALPNAddress, alternative: "answer with HTTP-01 or DNS-01 instead")
        let sockets = try listener.open()
        boundPort = listener.boundPort(sockets[0])
        var done: [Int32] = [-1, -1]
        guard Subprocess.makePipe(&done) else {
            let reason = String(cString: strerror(errno))
            sockets.forEach { close($0) }
            throw ChallengeError(.system, "cannot create a pipe for the TLS-ALPN-01 responder: \(reason)")
        }
        for fd in done { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let tls = self.tls, limits = self.limits
        let served: @Sendable (String) -> Void = { [weak self] name in
            _ = self?.served.withLock { $0.insert(name.lowercased()) }
        }
        do {
            try server.start(listeners: sockets, purpose: "the TLS-ALPN-01 responder") { wake in
                AcceptLoop(listeners: sockets, wake: wake, done: (done[0], done[1]), tls: tls, limits: limits, onServed: served).run()
            }
        } catch {
            close(done[0]); close(done[1])
            throw error
        }
    }

    public func stop() { server.stop() }
}

/// The responder thread's poll() loop over the listeners, the wake pipe, the connections still
/// delivering their ClientHello and the pipe through which handshake threads say they are done.
private final class AcceptLoop: ResponderLoop {
    /// Set by a handshake thread when it has returned, before it writes to the done pipe.
    final class Finished: Sendable {
        let flag = Atomic<Bool>(false)
    }

    enum Phase {
        /// Waiting (SO_RCVLOWAT) for the first TLS record to be complete in the socket's buffer.
        case hello
        /// The handshake runs on `thread`; the fd stays open (ours to close) until it is joined.
        case handshake(thread: pthread_t, finished: Finished)
    }

    struct Connection: LoopConnection {
        let fd: Int32
        let client: ClientAddress
        let deadline: Int
        var phase: Phase = .hello
        /// The deadline passed during the handshake and the socket was shut down.
        var cutOff = false
    }

    static let headerBytes = 5
    /// POLLRDHUP (the peer shut down its sending side), which Glibc only defines with _GNU_SOURCE.
    static let pollReadHangUp: Int16 = 0x2000
    static let handshakeStackBytes = 512 * 1024

    let listeners: [Int32]
    let wake: Int32
    let doneRead: Int32
    let doneWrite: Int32
    let tls: ChallengeTLSServer
    let onServed: @Sendable (String) -> Void
    var gate: ConnectionGate
    var connections: [Connection] = []
    var peek = [UInt8](repeating: 0, count: headerBytes + TLSALPN01Responder.maxClientHelloRecordBytes)

    init(listeners: [Int32], wake: Int32, done: (read: Int32, write: Int32), tls: ChallengeTLSServer, limits: ConnectionLimits,
         onServed: @escaping @Sendable (String) -> Void) {
        self.gate = ConnectionGate(limits: limits)
        self.listeners = listeners
        self.wake = wake
        self.doneRead = done.read
        self.doneWrite = done.write
        self.tls = tls
        self.onServed = onServed
    }

    var extraFDs: [Int32] { [doneRead] }

    func drain(_ fd: Int32) {
        var sink = [UInt8](repeating: 0, count: 256)
        while read(fd, &sink, sink.count) > 0 {}
    }

    /// Only connections still delivering their ClientHello; a handshake's thread has the others.
    func events(for connection: Connection) -> Int16? {
        guard case .hello = connection.phase else { return nil }
        return Int16(POLLIN) | Self.pollReadHangUp
    }

    func pollDeadline(of connection: Connection) -> Int? { connection.cutOff ? nil : connection.deadline }

    func service(_ connection: inout Connection, revents: Int16) -> Bool { advance(&connection, revents: revents) }

    func expire(_ connection: inout Connection, now: Int) -> Bool {
        switch connection.phase {
        case .hello:
            return connection.deadline <= now
        case .handshake(let thread, let finished):
            if finished.flag.load(ordering: .acquiring) {
                pthread_join(thread, nil)
                return true
            } else if connection.deadline <= now && !connection.cutOff {
                // Wakes the handshake thread's blocking read or write: it fails and returns.
                shutdown(connection.fd, Int32(SHUT_RDWR))
                connection.cutOff = true
            }
            return false
        }
    }

    func adopt(_ fd: Int32, _ address: ClientAddress) {
        var lowWater = Int32(Self.headerBytes)
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, socklen_t(MemoryLayout<Int32>.size))
        connections.append(Connection(fd: fd, client: address, deadline: ConnectionGate.now() + gate.limits.deadlineMilliseconds))
    }

    /// Looks at what a connection waiting for its ClientHello has delivered; starts the
    /// handshake once the first record is complete. False when the connection is to be closed.
    private func advance(_ connection: inout Connection, revents: Int16) -> Bool {
        let n = recv(connection.fd, &peek, peek.count, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if n == 0 { return false }
        if n < 0 { return errno == EAGAIN || errno == EINTR }
        let ended = revents & (Self.pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
        guard n >= Self.headerBytes else {
            return !ended
        }
        // A handshake record (22) of TLS (major version 3), 1 to 2^14 bytes long.
        let length = Int(peek[3]) << 8 | Int(peek[4])
        guard peek[0] == 22, peek[1] == 3, (1...TLSALPN01Responder.maxClientHelloRecordBytes).contains(length) else { return false }
        let needed = Self.headerBytes + length
        if n < needed {
            guard !ended else { return false }
            var lowWater = Int32(needed)
            setsockopt(connection.fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, socklen_t(MemoryLayout<Int32>.size))
            return true
        }
        return startHandshake(&connection)
    }

    /// Hands the connection to a thread that runs the (blocking) handshake; this thread keeps
    /// the deadline. False when no thread could be started.
    private func startHandshake(_ connection: inout Connection) -> Bool {
        let fd = connection.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var lowWater: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, socklen_t(MemoryLayout<Int32>.size))
        // A second bound beside the deadline's shutdown(): no single read or write outlives the deadline.
        let left = max(1, connection.deadline - ConnectionGate.now())
        var limit = timeval(tv_sec: left / 1000, tv_usec: (left % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let finished = Finished()
        let tls = self.tls, onServed = self.onServed, doneWrite = self.doneWrite
        let started = NativeThread.spawn(stackBytes: Self.handshakeStackBytes) {
            if let name = tls.handshake(fd: fd) { onServed(name) }
            finished.flag.store(true, ordering: .releasing)
            var byte: UInt8 = 1
            // The pipe full means the loop has wake-ups pending already.
            _ = write(doneWrite, &byte, 1)
        }
        guard case .success(let thread) = started else { return false }
        connection.phase = .handshake(thread: thread, finished: finished)
        return true
    }

    /// On stop: cuts off the handshakes still running, waits for their threads, closes everything.
    func finish() {
        for connection in connections {
            if case .handshake(let thread, _) = connection.phase {
                shutdown(connection.fd, Int32(SHUT_RDWR))
                pthread_join(thread, nil)
            }
            close(connection.fd)
        }
        connections.removeAll()
        gate.closeParked()
        close(doneRead)
        close(doneWrite)
    }
}
