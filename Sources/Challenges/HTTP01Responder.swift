import Base
import Synchronization
import Glibc

/// A minimal HTTP server for ACME HTTP-01 (RFC 8555 §8.3). It answers
/// `GET|HEAD /.well-known/acme-challenge/<token>` for live tokens only and
/// 404 for everything else. One thread multiplexes all connections with
/// poll(); each request (request line and headers) is bounded in size (8 KiB),
/// each connection in time (5 s from accept to the response sent), at most 64
/// connections are open at once and at most 8 from one client address (see
/// `ClientAddress`), so that a client holding slow connections cannot take the
/// slots the CA's validation needs. Connections over the limit in all are reset unread; those
/// over their address's limit wait unread for a slot (see `ConnectionGate`).
public final class HTTP01Responder: @unchecked Sendable {
    public static let maxRequestBytes = 8 * 1024
    public static let connectionDeadlineMilliseconds = 5_000
    public static let maxConnections = 64
    public static let maxConnectionsPerAddress = 8
    static let limits = ConnectionLimits(maxConnections: maxConnections, maxConnectionsPerAddress: maxConnectionsPerAddress,
                                         deadlineMilliseconds: connectionDeadlineMilliseconds)
    static let prefix = "/.well-known/acme-challenge/"

    private let address: String?
    private let requestedPort: Int
    private let limits: ConnectionLimits
    private let shared = SharedState()
    // Lifecycle state: only touched by start()/stop(), which callers serialise.
    private let server = ServerThread()
    private var boundPort = 0

    public convenience init(address: String? = nil, port: Int = 80) {
        self.init(address: address, port: port, deadlineMilliseconds: Self.connectionDeadlineMilliseconds)
    }

    /// With a per-connection deadline other than `connectionDeadlineMilliseconds`: tests give a
    /// long one, so that connections they hold are certainly still held while they check others.
    init(address: String?, port: Int, deadlineMilliseconds: Int) {
        self.address = address
        self.requestedPort = port
        var limits = Self.limits
        limits.deadlineMilliseconds = deadlineMilliseconds
        self.limits = limits
    }

    deinit { stop() }

    /// The port actually bound (useful with port 0).
    public var port: Int { boundPort }

    /// Number of challenge responses (200) served so far.
    public var servedCount: Int { shared.served.load(ordering: .relaxed) }

    public func add(token: String, keyAuthorization: String) {
        shared.tokens.withLock { $0[token] = keyAuthorization }
    }

    public func remove(token: String) {
        _ = shared.tokens.withLock { $0.removeValue(forKey: token) }
        _ = shared.fetched.withLock { $0.remove(token) }
    }

    /// Whether the response for `token` has been served at least once since it was added.
    public func hasServed(token: String) -> Bool {
        shared.fetched.withLock { $0.contains(token) }
    }

    /// Binds and starts serving; returns once the socket listens.
    public func start() throws {
        guard !server.isRunning else { return }
        let sockets = try bind()
        let shared = self.shared, limits = self.limits
        try server.start(listeners: sockets, purpose: "the HTTP-01 responder") { wake in
            ServerLoop(listeners: sockets, wake: wake, shared: shared, limits: limits).run()
        }
    }

    /// Closes the listening sockets and every connection; waits for the thread.
    public func stop() { server.stop() }

    private func bind() throws -> [Int32] {
        let listener = TCPListener(address: address, port: requestedPort, purpose: "the HTTP-01 responder",
                                   addressSetting: .http01Address, alternative: "answer HTTP-01 from the web server that has it (\(SettingName.webroot))")
        let sockets = try listener.open()
        boundPort = listener.boundPort(sockets[0])
        return sockets
    }
}

/// What the caller's threads and the server thread share.
private final class SharedState: Sendable {
    let tokens = Mutex<[String: String]>([:])
    let served = Atomic<Int>(0)
    /// Live tokens whose response has been served at least once.
    let fetched = Mutex<Set<String>>([])
}

/// The poll() loop (`ResponderLoop`), owned by the responder's thread.
private final class ServerLoop: ResponderLoop {
    struct Connection: LoopConnection {
        var fd: Int32
        var client: ClientAddress
        var request: [UInt8] = []
        var response: [UInt8]? = nil
        var sent = 0
        var deadline: Int
    }

    let listeners: [Int32]
    let wake: Int32
    let shared: SharedState
    var connections: [Connection] = []
    var gate: ConnectionGate

    init(listeners: [Int32], wake: Int32, shared: SharedState, limits: ConnectionLimits) {
        self.listeners = listeners
        self.wake = wake
        self.shared = shared
        self.gate = ConnectionGate(limits: limits)
    }

    func events(for connection: Connection) -> Int16? { Int16(connection.response == nil ? POLLIN : POLLOUT) }

    func pollDeadline(of connection: Connection) -> Int? { connection.deadline }

    func expire(_ connection: inout Connection, now: Int) -> Bool { connection.deadline <= now }

    func finish() {
        connections.forEach { close($0.fd) }
        gate.closeParked()
    }

    func adopt(_ fd: Int32, _ client: ClientAddress) {
        connections.append(Connection(fd: fd, client: client, deadline: ConnectionGate.now() + gate.limits.deadlineMilliseconds))
    }

    /// Reads or writes what is ready; false when the connection is done.
    func service(_ connection: inout Connection, revents: Int16) -> Bool {
        if connection.response == nil {
            if revents & Int16(POLLIN | POLLHUP | POLLERR) == 0 { return true }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(connection.fd, &buffer, buffer.count, 0)
            if n == 0 { return false }
            if n < 0 { return errno == EAGAIN || errno == EINTR }
            let searched = max(0, connection.request.count - 3)  // the blank line may straddle two reads
            connection.request += buffer.prefix(n)
            if let end = headerEnd(connection.request, from: searched), end + 4 <= HTTP01Responder.maxRequestBytes {
                connection.response = respond(to: Array(connection.request[..<end]))
            } else if connection.request.count > HTTP01Responder.maxRequestBytes {
                connection.response = Self.message(431, "Request Header Fields Too Large", head: false)
            } else {
                return true
            }
        }
        guard let response = connection.response else { return true }
        let sent = connection.sent
        let n = response.withUnsafeBytes { raw in
            send(connection.fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
        }
        if n < 0 { return errno == EAGAIN || errno == EINTR }
        connection.sent += n
        return connection.sent < response.count
    }

    /// Where the blank line ending the headers starts, looking from `start` on (so that a
    /// client sending one byte at a time does not make every read rescan the whole request).
    private func headerEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= start + 4 else { return nil }
        for i in start...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func respond(to head: [UInt8]) -> [UInt8] {
        let lineEnd = head.firstIndex(of: 13) ?? head.endIndex
        let parts = head[..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)) else {
            return Self.message(400, "Bad Request", head: false)
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let isHead = method == "HEAD"
        guard method == "GET" || isHead else { return Self.message(405, "Method Not Allowed", head: false) }
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix(HTTP01Responder.prefix) else { return Self.message(404, "Not Found", head: isHead) }
        let token = String(target.dropFirst(HTTP01Responder.prefix.count))
        guard isValidChallengeToken(token), let keyAuthorization = shared.tokens.withLock({ $0[token] }) else {
            return Self.message(404, "Not Found", head: isHead)
        }
        shared.served.add(1, ordering: .relaxed)
        _ = shared.fetched.withLock { $0.insert(token) }
        let body = Array(keyAuthorization.utf8)
        let header = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(header.utf8) + (isHead ? [] : body)
    }

    static func message(_ status: Int, _ reason: String, head: Bool) -> [UInt8] {
        let body = "\(reason)\n"
        let header = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        return Array((header + (head ? "" : body)).utf8)
    }
}
