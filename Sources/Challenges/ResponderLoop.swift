import Glibc

/// A connection a responder's poll loop holds: its socket and the client it counts against.
protocol LoopConnection {
    var fd: Int32 { get }
    var client: ClientAddress { get }
}

/// The poll() loop both challenge responders run on their thread (HTTP-01 and TLS-ALPN-01):
/// the wake pipe first (readable: stop), then `extraFDs`, the listeners and the connections
/// `events(for:)` wants polled; accepts through the `ConnectionGate`, services what is ready,
/// closes what is done or past its deadline and admits parked connections. Each responder says
/// only what differs: what a connection waits for, how it is serviced and when it expires.
protocol ResponderLoop: AnyObject {
    associatedtype Connection: LoopConnection
    var listeners: [Int32] { get }
    var wake: Int32 { get }
    var gate: ConnectionGate { get set }
    var connections: [Connection] { get set }
    /// Polled after the wake pipe, before the listeners; `drain` is called when one is ready.
    var extraFDs: [Int32] { get }
    func drain(_ fd: Int32)
    /// The events to poll `connection` for; nil: not polled now.
    func events(for connection: Connection) -> Int16?
    /// The deadline the poll's timeout counts with; nil: none.
    func pollDeadline(of connection: Connection) -> Int?
    /// Reads, writes or advances what is ready; false when the connection is to be closed.
    func service(_ connection: inout Connection, revents: Int16) -> Bool
    /// At `now`, after servicing: true when the connection is to be closed (its deadline passed).
    func expire(_ connection: inout Connection, now: Int) -> Bool
    func adopt(_ fd: Int32, _ client: ClientAddress)
    /// On stop: closes the connections (and whatever else the loop owns).
    func finish()
}

extension ResponderLoop {
    var extraFDs: [Int32] { [] }
    func drain(_ fd: Int32) {}

    /// Returns when the wake pipe becomes readable or poll() fails.
    func run() {
        defer { finish() }
        while true {
            var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            fds += extraFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            fds += listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let polled = connections.indices.compactMap { index in events(for: connections[index]).map { (index, $0) } }
            fds += polled.map { pollfd(fd: connections[$0.0].fd, events: $0.1, revents: 0) }
            let now = ConnectionGate.now()
            let nearest = connections.compactMap { pollDeadline(of: $0) }.min().map { max(0, $0 - now) } ?? 60_000
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(nearest, 60_000)))
            if ready < 0 && errno != EINTR { return }
            if fds[0].revents != 0 { return }
            for (index, fd) in extraFDs.enumerated() where fds[1 + index].revents != 0 { drain(fd) }
            let listenerBase = 1 + extraFDs.count
            for (index, fd) in listeners.enumerated() where fds[listenerBase + index].revents & Int16(POLLIN) != 0 {
                while let (client, address) = gate.accept(on: fd) { adopt(client, address) }
            }
            var closed: Set<Int32> = []
            let base = listenerBase + listeners.count
            // Connections accepted just now were not polled.
            for (position, (index, _)) in polled.enumerated() where fds[base + position].revents != 0 {
                if !service(&connections[index], revents: fds[base + position].revents) { closed.insert(connections[index].fd) }
            }
            let later = ConnectionGate.now()
            for index in connections.indices {
                if expire(&connections[index], now: later) { closed.insert(connections[index].fd) }
            }
            if !closed.isEmpty {
                for connection in connections where closed.contains(connection.fd) {
                    close(connection.fd)
                    gate.release(connection.client)
                }
                connections.removeAll { closed.contains($0.fd) }
            }
            gate.admitParked().forEach(adopt)
        }
    }
}
