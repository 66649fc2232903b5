import Foundation
import Synchronization
import Testing

/// `acme issue` against Pebble while another loopback address (127.0.0.2) floods the
/// responder's port with 100 slow connections: Pebble validates from 127.0.0.1 and must still
/// get its answer. Before the responders limited connections per client address, the flood
/// took every slot (HTTP-01) or the one handshake at a time (TLS-ALPN-01) and validation failed.
@Suite("challenge responders under a flood, against Pebble", .serialized)
struct FloodTests {
    @Test("HTTP-01: acme issue succeeds while 127.0.0.2 holds 100 slow connections to the responder's port")
    func http01() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("flood-http") + "/le"
        let flood = Flooder(host: "127.0.0.1", port: pebble.httpPort, source: "127.0.0.2", count: 100, duration: 120,
                            drip: Array("GET / HTTP/1.1\r\nHost: flood.example.test\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 200))
        flood.start()
        defer { flood.stop() }
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "flood.example.test", "-d", "smtp.flood.example.test"]
                             + pebble.acmeArguments(configDir: dir), timeout: 150)
        flood.stop()
        #expect(result.status == 0, "acme issue failed during the flood (\(flood)): \(result.output)")
        #expect(flood.established.load(ordering: .relaxed) > 0, "the flood never reached the responder: \(flood)")
        #expect(flood.closedByServer.load(ordering: .relaxed) > 0, "the responder refused none of the flood: \(flood)")
        if result.status == 0 {
            try LineageChecks(configDir: dir, name: "flood.example.test")
                .verify(names: ["flood.example.test", "smtp.flood.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        }
    }

    @Test("TLS-ALPN-01: acme issue succeeds while 127.0.0.2 holds 100 slow connections to the responder's port")
    func tlsALPN01() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("flood-alpn") + "/le"
        // A TLS handshake record header announcing a 512-byte ClientHello that never completes.
        let flood = Flooder(host: "127.0.0.1", port: pebble.tlsPort, source: "127.0.0.2", count: 100, duration: 120,
                            drip: [22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3] + [UInt8](repeating: 7, count: 200))
        flood.start()
        defer { flood.stop() }
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "alpnflood.example.test", "-d", "smtp.alpnflood.example.test",
                                                      "--tls-alpn-01-port", String(pebble.tlsPort), "--tls-alpn-01-address", "127.0.0.1",
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                      "--config-dir", dir, "--agree-tos"], timeout: 150)
        flood.stop()
        #expect(result.status == 0, "acme issue failed during the flood (\(flood)): \(result.output)")
        #expect(result.stderr.contains("validating 2 names with tls-alpn-01"), "\(result.output)")
        #expect(flood.established.load(ordering: .relaxed) > 0, "the flood never reached the responder: \(flood)")
        if result.status == 0 {
            try LineageChecks(configDir: dir, name: "alpnflood.example.test")
                .verify(names: ["alpnflood.example.test", "smtp.alpnflood.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        }
    }
}

/// Holds up to `count` connections from `source` to `host`:`port`, replacing those the server
/// closed every 50 ms (at most 20 rounds of `count` connects a second), each sending one byte
/// of `drip` per second (nothing when empty). While the port refuses connections it tries one every
/// 2 ms, so that it fills its slots as soon as a responder listens. Stops by itself after
/// `duration` seconds, or at `stop()`.
final class Flooder: @unchecked Sendable, CustomStringConvertible {
    let host: String, port: Int, source: String, count: Int, duration: TimeInterval, drip: [UInt8]
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Connections the server's side established so far.
    let established = Atomic<Int>(0)
    /// Of those, the ones the server closed or reset.
    let closedByServer = Atomic<Int>(0)
    /// Established connections open now.
    let open = Atomic<Int>(0)

    init(host: String, port: Int, source: String, count: Int = 100, duration: TimeInterval = 30, drip: [UInt8] = []) {
        self.host = host; self.port = port; self.source = source; self.count = count; self.duration = duration; self.drip = drip
    }

    var description: String {
        "flood from \(source) to \(host):\(port): \(established.load(ordering: .relaxed)) connections established, "
            + "\(closedByServer.load(ordering: .relaxed)) of them closed by the server, \(open.load(ordering: .relaxed)) open now"
    }

    func start() {
        started.store(true, ordering: .relaxed)
        Thread.detachNewThread { [self] in
            run()
            finished.signal()
        }
    }

    /// Stops the flood and waits until its sockets are closed; again: nothing.
    func stop() {
        guard started.exchange(false, ordering: .relaxed) else { return }
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }

    private func run() {
        struct Slot { var fd: Int32 = -1; var connected = false; var sent = 0 }
        var slots = [Slot](repeating: Slot(), count: count)
        defer { for slot in slots where slot.fd >= 0 { close(slot.fd) } }
        let start = Date()
        var lastDrip = Date()
        var probing = true
        var lastFill = Date.distantPast
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopping.load(ordering: .relaxed) && Date().timeIntervalSince(start) < duration {
            let filling = probing || Date().timeIntervalSince(lastFill) >= 0.05
            if filling && !probing { lastFill = Date() }
            for index in slots.indices where filling && slots[index].fd < 0 {
                guard let fd = try? Loopback.socketFor(host, nonBlocking: true) else { break }
                guard (try? Loopback.bind(fd, source)) != nil else { break }  // bind closed it
                let rc = Loopback.withAddress(host, port: port) { Glibc.connect(fd, $0, $1) }
                if rc != 0 && errno != EINPROGRESS {
                    close(fd)
                    probing = true
                    break
                }
                slots[index] = Slot(fd: fd, connected: rc == 0)
                if rc == 0 { established.add(1, ordering: .relaxed) }
                if probing { break }
            }
            var fds = slots.map { pollfd(fd: $0.fd, events: Int16($0.connected ? POLLIN : POLLOUT), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), probing ? 2 : 50)
            for (index, entry) in fds.enumerated() where entry.revents != 0 {
                if !slots[index].connected {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == ECONNREFUSED || error == ETIMEDOUT || error == EHOSTUNREACH {
                        // Nobody listens (yet).
                        close(entry.fd)
                        slots[index] = Slot()
                        probing = true
                        continue
                    }
                    slots[index].connected = true
                    established.add(1, ordering: .relaxed)
                    probing = false
                    guard error == 0 else {
                        // Established, then reset by the server before we looked.
                        close(entry.fd)
                        slots[index] = Slot()
                        closedByServer.add(1, ordering: .relaxed)
                        continue
                    }
                    if entry.revents & Int16(POLLOUT) == 0 { continue }
                }
                let n = recv(entry.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || entry.revents & Int16(POLLERR | POLLHUP) != 0 {
                    close(entry.fd)
                    slots[index] = Slot()
                    closedByServer.add(1, ordering: .relaxed)
                }
            }
            if !drip.isEmpty && Date().timeIntervalSince(lastDrip) >= 1 {
                lastDrip = Date()
                for index in slots.indices where slots[index].connected {
                    let byte = drip[slots[index].sent % drip.count]
                    if [byte].withUnsafeBytes({ Glibc.send(slots[index].fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }) == 1 { slots[index].sent += 1 }
                }
            }
            open.store(slots.filter(\.connected).count, ordering: .relaxed)
        }
    }
}

/// Loopback sockets bound to a chosen source address (all of 127.0.0.0/8 is loopback on Linux).
enum Loopback {
    static func socketFor(_ host: String, nonBlocking: Bool = false) throws -> Int32 {
        var v6 = in6_addr()
        let family = inet_pton(AF_INET6, host, &v6) == 1 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        return fd
    }

    /// Binds `fd` to `source`; closes it when that fails.
    static func bind(_ fd: Int32, _ source: String) throws {
        guard withAddress(source, port: 0, { Glibc.bind(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TestFailure("cannot bind a client socket to \(source): \(reason)")
        }
    }

    static func withAddress(_ host: String, port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            sa.sin_addr = v4
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        _ = inet_pton(AF_INET6, host, &v6)
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = in_port_t(UInt16(port).bigEndian)
        sa.sin6_addr = v6
        return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}

