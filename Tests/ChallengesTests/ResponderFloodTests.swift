import Foundation
import Synchronization
import Testing
@testable import Challenges

/// Loopback clients that pick their source address (all of 127.0.0.0/8 is loopback on Linux),
/// so that one test can be two clients.
enum Loopback {
    /// A blocking TCP socket bound to `source` (nil: the kernel's choice) and connected to `host`:`port`.
    static func connect(to host: String, port: Int, from source: String? = nil) throws -> Int32 {
        let fd = try socketFor(host)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source { try bind(fd, source) }
        guard withAddress(host, port: port, { Glibc.connect(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw RawClient.Failure(description: "cannot connect from \(source ?? "any") to \(host):\(port): \(reason)")
        }
        return fd
    }

    static func socketFor(_ host: String, nonBlocking: Bool = false) throws -> Int32 {
        var v6 = in6_addr()
        let family = inet_pton(AF_INET6, host, &v6) == 1 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), 0)
        guard fd >= 0 else { throw RawClient.Failure(description: "socket: \(String(cString: strerror(errno)))") }
        return fd
    }

    static func bind(_ fd: Int32, _ source: String) throws {
        guard withAddress(source, port: 0, { Glibc.bind(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw RawClient.Failure(description: "cannot bind a client socket to \(source): \(reason)")
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

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Seconds until the server closes `fd` (EOF or reset; whatever it sends is discarded),
    /// or nil when it is still open after `limit` seconds.
    static func secondsUntilClosed(_ fd: Int32, limit: TimeInterval) -> TimeInterval? {
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = limit - Date().timeIntervalSince(start)
            if left <= 0 { return nil }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Int32(left * 1000) + 1) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return Date().timeIntervalSince(start) }
        }
    }

    /// Sends `bytes` one at a time, `interval` apart, then waits, until the server closes or
    /// `limit` passes; the seconds until the server closed, or nil.
    static func drip(_ fd: Int32, _ bytes: [UInt8], interval: TimeInterval, limit: TimeInterval) -> TimeInterval? {
        let start = Date()
        var next = 0
        while Date().timeIntervalSince(start) < limit {
            if next < bytes.count {
                let n = [bytes[next]].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
                if n < 0 { return Date().timeIntervalSince(start) }
                next += 1
            }
            if secondsUntilClosed(fd, limit: min(interval, limit - Date().timeIntervalSince(start))) != nil {
                return Date().timeIntervalSince(start)
            }
        }
        return nil
    }

    /// A TLS 1.2 ClientHello for `serverName` offering `alpn`, ECDHE with ECDSA or RSA: enough
    /// for the responder to answer with its certificate and then wait for the client's next flight.
    static func clientHello(serverName: String, alpn: String) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
        func ext(_ type: Int, _ body: [UInt8]) -> [UInt8] { u16(type) + u16(body.count) + body }
        let name = Array(serverName.utf8), proto = Array(alpn.utf8)
        let extensions = ext(0, u16(name.count + 3) + [0] + u16(name.count) + name)
            + ext(16, u16(proto.count + 1) + [UInt8(proto.count)] + proto)
            + ext(10, u16(4) + u16(0x001d) + u16(0x0017))
            + ext(11, [1, 0])
            + ext(13, u16(6) + u16(0x0403) + u16(0x0804) + u16(0x0401))
        let suites = u16(0xc02b) + u16(0xc02c) + u16(0xc02f) + u16(0xc030)
        let body: [UInt8] = [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + u16(suites.count) + suites + [1, 0]
            + u16(extensions.count) + extensions
        let handshake: [UInt8] = [1, 0] + u16(body.count) + body
        return [22, 3, 1] + u16(handshake.count) + handshake
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

/// A value one thread sets and another reads after a semaphore.
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

@Suite("client addresses for the per-address limit")
struct ClientAddressTests {
    func address(_ text: String) -> ClientAddress? {
        var storage = sockaddr_storage()
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_family = sa_family_t(AF_INET); $0.pointee.sin_addr = v4 } }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                $0.pointee.sin6_family = sa_family_t(AF_INET6); $0.pointee.sin6_addr = v6 } }
        }
        return ClientAddress(storage)
    }

    @Test("an IPv4-mapped IPv6 address counts as its IPv4 address; IPv6 counts per /64")
    func grouping() {
        #expect(address("::ffff:127.0.0.2") == address("127.0.0.2"))
        #expect(address("127.0.0.2")?.bytes == [127, 0, 0, 2])
        #expect(address("127.0.0.1") != address("127.0.0.2"))
        #expect(address("::ffff:127.0.0.1") != address("::ffff:127.0.0.2"))
        #expect(address("2001:db8:1:2::1") == address("2001:db8:1:2:ffff::9"))
        #expect(address("2001:db8:1:2::1") != address("2001:db8:1:3::1"))
        #expect(address("::1") != address("127.0.0.1"))
    }
}

@Suite("HTTP-01 responder under a flood", .serialized)
struct HTTP01FloodTests {
    let token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    let keyAuthorization = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
    var path: String { "/.well-known/acme-challenge/\(token)" }

    func started(address: String? = "127.0.0.1") throws -> HTTP01Responder {
        let responder = HTTP01Responder(address: address, port: 0)
        try responder.start()
        responder.add(token: token, keyAuthorization: keyAuthorization)
        return responder
    }

    /// GET of the live token from `source` to `host`; the status and the seconds it took.
    func get(_ responder: HTTP01Responder, host: String = "127.0.0.1", from source: String? = nil) throws -> (status: Int?, seconds: TimeInterval) {
        let start = Date()
        let fd = try Loopback.connect(to: host, port: responder.port, from: source)
        defer { close(fd) }
        let reply = RawClient.parse(RawClient.exchange(fd: fd, RawClient.request(path)))
        return (reply?.status, Date().timeIntervalSince(start))
    }

    @Test("connections over 8 from one address are closed at once; another address is still answered")
    func perAddressLimit() throws {
        let responder = try started()
        defer { responder.stop() }
        let limit = HTTP01Responder.maxConnectionsPerAddress
        #expect(limit == 8)
        let held = try (0..<limit).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { held.dropFirst().forEach { close($0) } }  // the first is closed below
        let extra = try (0..<4).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { extra.forEach { close($0) } }
        for fd in extra {
            let closed = Loopback.secondsUntilClosed(fd, limit: 2)
            #expect(closed != nil && closed! < 1, "connection \(limit + 1)+ from 127.0.0.2 was not closed within 1 s")
        }
        for fd in held { #expect(Loopback.secondsUntilClosed(fd, limit: 0.05) == nil, "one of the first \(limit) was closed") }
        let other = try get(responder, from: "127.0.0.1")
        #expect(other.status == 200 && other.seconds < 1, "127.0.0.1 while 127.0.0.2 holds its \(limit): \(other)")
        // The first 8 are still in; once one of them is gone, 127.0.0.2 gets a slot again.
        close(held[0])
        try waitUntil("127.0.0.2 is served again") { try get(responder, from: "127.0.0.2").status == 200 }
    }

    /// Dual-stack: 127.0.0.2 arrives as ::ffff:127.0.0.2 and must count as itself, not as the
    /// whole IPv4-mapped /64 (which would lock out 127.0.0.1 too), and ::1 is another client.
    @Test("dual-stack: IPv4-mapped clients are counted per IPv4 address; ::1 and 127.0.0.1 are answered during a flood from 127.0.0.2")
    func dualStack() throws {
        let responder = try started(address: nil)
        defer { responder.stop() }
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: 20)
        flood.start()
        defer { flood.stop() }
        usleep(1_500_000)  // the flood takes what it can get and keeps reconnecting
        for host in ["127.0.0.1", "::1"] {
            let reply = try get(responder, host: host)
            #expect(reply.status == 200 && reply.seconds < 1, "\(host): \(reply); \(flood)")
        }
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = Loopback.secondsUntilClosed(fd, limit: 10)
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 1.5, "closed after \(String(describing: closed)) s")
    }

    @Test("a client dripping its request one byte at a time is closed at the deadline, unanswered")
    func drip() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: mail.example.test\r\nX-Slow: \(String(repeating: "a", count: 200))\r\n\r\n".utf8)
        let closed = Loopback.drip(fd, request, interval: 0.25, limit: 10)
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 1.5, "closed after \(String(describing: closed)) s")
        #expect(responder.servedCount == 0)
    }

    @Test("100 slow connections from 127.0.0.2: a request from 127.0.0.1 is answered within a second")
    func flood() throws {
        let responder = try started()
        defer { responder.stop() }
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: 20,
                            drip: Array("GET / HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 64))
        flood.start()
        defer { flood.stop() }
        usleep(1_500_000)  // the flood takes what it can get and keeps reconnecting
        for _ in 0..<5 {
            let reply = try get(responder, from: "127.0.0.1")
            #expect(reply.status == 200 && reply.seconds < 1, "\(reply); \(flood)")
            usleep(200_000)
        }
        #expect(responder.hasServed(token: token))
    }
}

@Suite("TLS-ALPN-01 responder under a flood", .serialized)
struct TLSALPNFloodTests {
    let name = "flood.example.test"

    func started() throws -> TLSALPN01Responder {
        let responder = try TLSALPN01Responder(address: "127.0.0.1", port: 0)
        try responder.add(identifier: name, keyAuthorization: "token.thumbprint")
        try responder.start()
        return responder
    }

    /// A handshake from 127.0.0.1 through `openssl s_client`; whether the certificate came and the seconds it took.
    func handshake(_ responder: TLSALPN01Responder) throws -> (served: Bool, seconds: TimeInterval) {
        let start = Date()
        let result = try TLSALPNResponderTests().sClient(port: responder.port, name: name, alpn: "acme-tls/1")
        return (result.output.contains("ALPN protocol: acme-tls/1") && result.output.contains("BEGIN CERTIFICATE"), Date().timeIntervalSince(start))
    }

    @Test("connections over 8 from one address are closed at once; another address still gets its handshake")
    func perAddressLimit() throws {
        let responder = try started()
        defer { responder.stop() }
        let limit = TLSALPN01Responder.maxConnectionsPerAddress
        #expect(limit == 8)
        let held = try (0..<limit).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { held.forEach { close($0) } }
        let extra = try (0..<4).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { extra.forEach { close($0) } }
        for fd in extra {
            let closed = Loopback.secondsUntilClosed(fd, limit: 2)
            #expect(closed != nil && closed! < 1, "connection \(limit + 1)+ from 127.0.0.2 was not closed within 1 s")
        }
        for fd in held { #expect(Loopback.secondsUntilClosed(fd, limit: 0.05) == nil, "one of the first \(limit) was closed") }
        let other = try handshake(responder)
        #expect(other.served && other.seconds < 1, "127.0.0.1 while 127.0.0.2 holds its \(limit): \(other)")
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = Loopback.secondsUntilClosed(fd, limit: 10)
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 1.5, "closed after \(String(describing: closed)) s")
    }

    @Test("a ClientHello dripped one byte at a time is closed at the deadline, and others are served meanwhile")
    func drip() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        defer { close(fd) }
        let hello = Loopback.clientHello(serverName: name, alpn: "acme-tls/1")
        let result = Box<TimeInterval?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.value = Loopback.drip(fd, hello, interval: 0.25, limit: 10)
            done.signal()
        }
        usleep(1_000_000)
        let other = try handshake(responder)
        #expect(other.served && other.seconds < 1, "while a ClientHello drips in: \(other)")
        done.wait()
        let closed = result.value
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 1.5, "closed after \(String(describing: closed)) s")
    }

    @Test("8 clients that send a ClientHello and then stall the handshake are cut off at the deadline and hold up no one")
    func stalledHandshakes() throws {
        let responder = try started()
        defer { responder.stop() }
        let connected = Date()
        let stalled = try (0..<TLSALPN01Responder.maxConnectionsPerAddress).map { _ in
            try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        }
        defer { stalled.forEach { close($0) } }
        for fd in stalled { Loopback.send(fd, Loopback.clientHello(serverName: name, alpn: "acme-tls/1")) }
        // The responder answers each with its first flight (a ServerHello record) and waits for the client's next one.
        for fd in stalled {
            var header = [UInt8](repeating: 0, count: 5)
            let n = recv(fd, &header, 5, Int32(MSG_WAITALL))
            #expect(n == 5 && header[0] == 22, "no ServerHello for a stalled client: \(n) bytes \(header)")
        }
        let other = try handshake(responder)
        #expect(other.served && other.seconds < 1, "while 8 handshakes stall: \(other)")
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        for fd in stalled {
            let closed = Loopback.secondsUntilClosed(fd, limit: 10).map { _ in Date().timeIntervalSince(connected) }
            #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 1.5,
                    "a stalled handshake was not cut off at the deadline: \(String(describing: closed)) s after connecting")
        }
    }

    @Test("100 slow connections from 127.0.0.2: a handshake from 127.0.0.1 completes within a second")
    func flood() throws {
        let responder = try started()
        defer { responder.stop() }
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: 20,
                            drip: Loopback.clientHello(serverName: name, alpn: "acme-tls/1"))
        flood.start()
        defer { flood.stop() }
        usleep(1_500_000)  // the flood takes what it can get and keeps reconnecting
        for _ in 0..<5 {
            let reply = try handshake(responder)
            #expect(reply.served && reply.seconds < 1, "\(reply); \(flood)")
            usleep(200_000)
        }
        #expect(responder.hasServed(identifier: name))
    }
}

/// Polls `condition` every 20 ms until it holds; throws after `timeout` seconds.
func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw RawClient.Failure(description: "timed out after \(timeout) s waiting until \(what)")
}
