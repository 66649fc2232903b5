import Foundation
import Synchronization
import Testing
@testable import Challenges
import TestFixtures



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

// Verdicts here are causal, not timed: a test that checks that another client is served while
// connections are held gives the responder a ten-minute per-connection deadline, so no held
// connection can be freed by its deadline while the test runs; it asserts that the other client
// was answered (within a bounded wait, so that a regression fails rather than hangs) and that,
// right after, the held connections are still open or the flood still holds its own. A responder
// that made the other client wait for a slot would not answer it while they are held. The tests
// of the deadline itself keep the 5-s default and assert "not before the deadline" and "closed".
enum FloodBounds {
    /// The per-connection deadline of the tests that hold connections: no test runs this long.
    static let heldDeadlineMilliseconds = 600_000
    /// How long a client waits for its answer before the test reports "not answered".
    static let answerSeconds = 60
    /// How long a test waits for the responder to close a connection at its deadline.
    static let closeSeconds: TimeInterval = 60
    /// A flood outlasts every bounded wait of its test (`stop()` ends it sooner).
    static let floodSeconds: TimeInterval = 600

    /// Every read on `fd` gives up after `answerSeconds`.
    static func boundReads(_ fd: Int32) {
        var timeout = timeval(tv_sec: answerSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whether `fd` is still open: the server has not closed or reset it.
    static func isOpen(_ fd: Int32) -> Bool { Loopback.secondsUntilClosed(fd, limit: 0.05) == nil }

    /// Seconds from `start` until the server closed `fd`; nil when it is still open `closeSeconds` on.
    static func secondsUntilClosed(_ fd: Int32, since start: Date) -> TimeInterval? {
        Loopback.secondsUntilClosed(fd, limit: closeSeconds).map { _ in Date().timeIntervalSince(start) }
    }

    /// Waits until the responder holds the flood's connections: it has admitted the address's
    /// limit and parked what it can, and resets the surplus (100 connections are more than both).
    static func waitUntilHolding(_ flood: Flooder, limit: Int) throws {
        try waitUntil("the responder holds the flood's connections and resets its surplus: \(flood)", timeout: closeSeconds) {
            flood.open.load(ordering: .relaxed) >= limit && flood.closedByServer.load(ordering: .relaxed) > 0
        }
    }
}

@Suite("HTTP-01 responder under a flood", .serialized, .integration)
struct HTTP01FloodTests {
    let token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    let keyAuthorization = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
    var path: String { "/.well-known/acme-challenge/\(token)" }

    /// `deadline`: the per-connection deadline in milliseconds (the responder's default: 5 s).
    func started(address: String? = "127.0.0.1", deadline: Int = HTTP01Responder.connectionDeadlineMilliseconds) throws -> HTTP01Responder {
        let responder = HTTP01Responder(address: address, port: 0, deadlineMilliseconds: deadline)
        try responder.start()
        responder.add(token: token, keyAuthorization: keyAuthorization)
        return responder
    }

    /// GET of the live token from `source` to `host`; the status, nil when no answer came
    /// within `FloodBounds.answerSeconds` (or the connection was closed unanswered).
    func get(_ responder: HTTP01Responder, host: String = "127.0.0.1", from source: String? = nil) throws -> Int? {
        let fd = try Loopback.connect(to: host, port: responder.port, from: source)
        defer { close(fd) }
        FloodBounds.boundReads(fd)
        return RawClient.parse(RawClient.exchange(fd: fd, RawClient.request(path)))?.status
    }

    @Test("connections over 8 from one address wait unread for a slot (a CA validating many names); another address is still answered")
    func perAddressLimit() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let limit = HTTP01Responder.maxConnectionsPerAddress
        #expect(limit == 8)
        let held = try (0..<limit).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { held.dropFirst().forEach { close($0) } }  // the first is closed below
        for fd in held { #expect(FloodBounds.isOpen(fd), "one of the first \(limit) was closed") }
        // Answered while 127.0.0.2 holds its 8 (whose deadline is ten minutes away): not waiting behind them.
        let other = try get(responder, from: "127.0.0.1")
        #expect(other == 200, "127.0.0.1 not answered within \(FloodBounds.answerSeconds) s while 127.0.0.2 holds its \(limit): \(String(describing: other))")
        for fd in held { #expect(FloodBounds.isOpen(fd), "one of 127.0.0.2's \(limit) was closed before 127.0.0.1 was answered: a slot was freed for it") }
        let extra = try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        defer { close(extra) }
        FloodBounds.boundReads(extra)
        // Its request goes out at once and waits unread with it.
        _ = RawClient.exchange(fd: extra, RawClient.request(path), readReply: false)
        #expect(Loopback.secondsUntilClosed(extra, limit: 0.5) == nil, "connection \(limit + 1) from 127.0.0.2 was closed, not parked")
        // Once one of the first 8 is gone, the parked connection gets its slot and its answer.
        close(held[0])
        let reply = RawClient.parse(RawClient.exchange(fd: extra, ""))
        #expect(reply?.status == 200, "the parked connection was not served after a slot freed: \(String(describing: reply))")
    }

    /// Dual-stack: 127.0.0.2 arrives as ::ffff:127.0.0.2 and must count as itself, not as the
    /// whole IPv4-mapped /64 (which would lock out 127.0.0.1 too), and ::1 is another client.
    @Test("dual-stack: IPv4-mapped clients are counted per IPv4 address; ::1 and 127.0.0.1 are answered during a flood from 127.0.0.2")
    func dualStack() throws {
        let responder = try started(address: nil, deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let limit = HTTP01Responder.maxConnectionsPerAddress
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: FloodBounds.floodSeconds)
        flood.start()
        defer { flood.stop() }
        try FloodBounds.waitUntilHolding(flood, limit: limit)
        for host in ["127.0.0.1", "::1"] {
            let status = try get(responder, host: host)
            #expect(status == 200, "\(host) not answered within \(FloodBounds.answerSeconds) s: \(String(describing: status)); \(flood)")
        }
        #expect(flood.open.load(ordering: .relaxed) >= limit, "the flood no longer holds its connections: \(flood)")
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let start = Date()  // before connecting: the deadline cannot start earlier
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = FloodBounds.secondsUntilClosed(fd, since: start)
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        // Not before the deadline, and closed (not kept open for the 60 s the test waits).
        #expect(closed != nil && closed! > deadline - 0.5, "closed after \(String(describing: closed)) s")
    }

    @Test("a client dripping its request one byte at a time is closed at the deadline, unanswered")
    func drip() throws {
        let responder = try started()
        defer { responder.stop() }
        let start = Date()
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: mail.example.test\r\nX-Slow: \(String(repeating: "a", count: 200))\r\n\r\n".utf8)
        let closed = Loopback.drip(fd, request, interval: 0.25, limit: FloodBounds.closeSeconds).map { _ in Date().timeIntervalSince(start) }
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5, "closed after \(String(describing: closed)) s")
        #expect(responder.servedCount == 0)
    }

    @Test("100 slow connections from 127.0.0.2: requests from 127.0.0.1 are answered while the flood holds its connections")
    func flood() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let limit = HTTP01Responder.maxConnectionsPerAddress
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: FloodBounds.floodSeconds,
                            drip: Array("GET / HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 64))
        flood.start()
        defer { flood.stop() }
        try FloodBounds.waitUntilHolding(flood, limit: limit)
        for attempt in 1...5 {
            let status = try get(responder, from: "127.0.0.1")
            #expect(status == 200, "request \(attempt) not answered within \(FloodBounds.answerSeconds) s: \(String(describing: status)); \(flood)")
            if status != 200 { break }
            usleep(200_000)
        }
        #expect(flood.open.load(ordering: .relaxed) >= limit, "the flood no longer holds its connections: \(flood)")
        #expect(responder.hasServed(token: token))
    }
}

@Suite("TLS-ALPN-01 responder under a flood", .serialized, .integration)
struct TLSALPNFloodTests {
    let name = "flood.example.test"

    /// `deadline`: the per-connection deadline in milliseconds (the responder's default: 5 s).
    func started(deadline: Int = TLSALPN01Responder.handshakeDeadlineMilliseconds) throws -> TLSALPN01Responder {
        let responder = try TLSALPN01Responder(address: "127.0.0.1", port: 0, deadlineMilliseconds: deadline)
        try responder.add(identifier: name, keyAuthorization: "token.thumbprint")
        try responder.start()
        return responder
    }

    /// A handshake from 127.0.0.1 through `openssl s_client`, given `FloodBounds.answerSeconds`:
    /// whether the challenge certificate came over acme-tls/1, and how the client ended.
    func handshake(_ responder: TLSALPN01Responder) throws -> (served: Bool, ended: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "5", "\(FloodBounds.answerSeconds)", "/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(responder.port)",
                             "-servername", name, "-showcerts", "-alpn", "acme-tls/1"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let served = output.contains("ALPN protocol: acme-tls/1") && output.contains("BEGIN CERTIFICATE")
        // timeout(1) exits 124, or dies of the KILL it sent when openssl ignored the TERM.
        let status = process.terminationStatus, timedOut = status == 124 || process.terminationReason == .uncaughtSignal
        return (served, timedOut ? "no handshake within \(FloodBounds.answerSeconds) s" : "openssl exited \(status)")
    }

    /// Connections from 127.0.0.2 that sent a ClientHello and got the responder's first flight
    /// (a ServerHello record); the responder then waits for their next flight.
    func stalledHandshakes(_ responder: TLSALPN01Responder) throws -> [Int32] {
        let stalled = try (0..<TLSALPN01Responder.maxConnectionsPerAddress).map { _ in
            try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        }
        for fd in stalled {
            FloodBounds.boundReads(fd)
            Loopback.send(fd, Loopback.clientHello(serverName: name, alpn: "acme-tls/1"))
        }
        for fd in stalled {
            var header = [UInt8](repeating: 0, count: 5)
            let n = recv(fd, &header, 5, Int32(MSG_WAITALL))
            #expect(n == 5 && header[0] == 22, "no ServerHello for a stalled client: \(n) bytes \(header)")
        }
        return stalled
    }

    @Test("connections over 8 from one address wait unread for a slot; another address still gets its handshake")
    func perAddressLimit() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let limit = TLSALPN01Responder.maxConnectionsPerAddress
        #expect(limit == 8)
        let held = try (0..<limit).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { held.forEach { close($0) } }
        let extra = try (0..<4).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { extra.forEach { close($0) } }
        for fd in extra {
            #expect(Loopback.secondsUntilClosed(fd, limit: 0.3) == nil, "connection \(limit + 1)+ from 127.0.0.2 was closed, not parked")
        }
        for fd in held { #expect(FloodBounds.isOpen(fd), "one of the first \(limit) was closed") }
        let other = try handshake(responder)
        #expect(other.served, "127.0.0.1 while 127.0.0.2 holds its \(limit): \(other.ended)")
        for fd in held + extra {
            #expect(FloodBounds.isOpen(fd), "one of 127.0.0.2's connections was closed before 127.0.0.1's handshake: a slot was freed for it")
        }
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let start = Date()  // before connecting: the deadline cannot start earlier
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = FloodBounds.secondsUntilClosed(fd, since: start)
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5, "closed after \(String(describing: closed)) s")
    }

    @Test("a ClientHello dripped one byte at a time is closed at the deadline")
    func drip() throws {
        let responder = try started()
        defer { responder.stop() }
        let start = Date()
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        defer { close(fd) }
        let hello = Loopback.clientHello(serverName: name, alpn: "acme-tls/1")
        let closed = Loopback.drip(fd, hello, interval: 0.25, limit: FloodBounds.closeSeconds).map { _ in Date().timeIntervalSince(start) }
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5, "closed after \(String(describing: closed)) s")
    }

    @Test("while a ClientHello drips in, others are served")
    func servedDuringDrip() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        defer { close(fd) }
        let hello = Loopback.clientHello(serverName: name, alpn: "acme-tls/1")
        let done = DispatchSemaphore(value: 0)
        // Until the responder closes the connection, or the test shuts it down below.
        Thread.detachNewThread {
            _ = Loopback.drip(fd, hello, interval: 0.25, limit: 2 * FloodBounds.closeSeconds)
            done.signal()
        }
        usleep(1_000_000)
        let other = try handshake(responder)
        #expect(other.served, "while a ClientHello drips in: \(other.ended)")
        let dripping = done.wait(timeout: .now()) == .timedOut
        #expect(dripping, "the dripping connection was closed before the other handshake was served")
        shutdown(fd, Int32(SHUT_RDWR))  // ends the drip
        if dripping {
            #expect(done.wait(timeout: .now() + FloodBounds.closeSeconds) == .success, "the drip did not end after its socket was shut down")
        }
    }

    @Test("8 clients that send a ClientHello and then stall the handshake hold up no one")
    func stalledHandshakesHoldUpNoOne() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let stalled = try stalledHandshakes(responder)
        defer { stalled.forEach { close($0) } }
        let other = try handshake(responder)
        #expect(other.served, "while 8 handshakes stall: \(other.ended)")
        for fd in stalled { #expect(FloodBounds.isOpen(fd), "a stalled handshake was closed before the other was served: a slot was freed for it") }
    }

    @Test("8 clients that send a ClientHello and then stall the handshake are cut off at the deadline")
    func stalledHandshakesCutOff() throws {
        let responder = try started()
        defer { responder.stop() }
        let connected = Date()
        let stalled = try stalledHandshakes(responder)
        defer { stalled.forEach { close($0) } }
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        for fd in stalled {
            let closed = FloodBounds.secondsUntilClosed(fd, since: connected)
            #expect(closed != nil && closed! > deadline - 0.5,
                    "a stalled handshake was not cut off at the deadline: \(String(describing: closed)) s after connecting")
        }
    }

    @Test("100 slow connections from 127.0.0.2: handshakes from 127.0.0.1 complete while the flood holds its connections")
    func flood() throws {
        let responder = try started(deadline: FloodBounds.heldDeadlineMilliseconds)
        defer { responder.stop() }
        let limit = TLSALPN01Responder.maxConnectionsPerAddress
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: FloodBounds.floodSeconds,
                            drip: Loopback.clientHello(serverName: name, alpn: "acme-tls/1"))
        flood.start()
        defer { flood.stop() }
        try FloodBounds.waitUntilHolding(flood, limit: limit)
        for attempt in 1...5 {
            let reply = try handshake(responder)
            #expect(reply.served, "handshake \(attempt): \(reply.ended); \(flood)")
            if !reply.served { break }
            usleep(200_000)
        }
        #expect(flood.open.load(ordering: .relaxed) >= limit, "the flood no longer holds its connections: \(flood)")
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
