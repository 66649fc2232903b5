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

// "Answered at once" below means within 4.5 s: under the 5-s connection deadline that would free
// a slot, so a client that had to wait for one would miss it; the TLS client is an openssl process on
// a loaded machine, so the bound is not tighter.
@Suite("HTTP-01 responder under a flood", .serialized, .integration)
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

    @Test("connections over 8 from one address wait unread for a slot (a CA validating many names); another address is still answered")
    func perAddressLimit() throws {
        let responder = try started()
        defer { responder.stop() }
        let limit = HTTP01Responder.maxConnectionsPerAddress
        #expect(limit == 8)
        let held = try (0..<limit).map { _ in try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2") }
        defer { held.dropFirst().forEach { close($0) } }  // the first is closed below
        for fd in held { #expect(Loopback.secondsUntilClosed(fd, limit: 0.05) == nil, "one of the first \(limit) was closed") }
        // Answered before the held ones' 5-s deadline would free a slot: not waiting behind them.
        let other = try get(responder, from: "127.0.0.1")
        #expect(other.status == 200 && other.seconds < 4.5, "127.0.0.1 while 127.0.0.2 holds its \(limit): \(other)")
        let extra = try Loopback.connect(to: "127.0.0.1", port: responder.port, from: "127.0.0.2")
        defer { close(extra) }
        // Its request goes out at once and waits unread with it; a slot is freed right after the
        // check, so a slow step on a loaded machine does not outlast the parked connection's deadline.
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
        let responder = try started(address: nil)
        defer { responder.stop() }
        let flood = Flooder(host: "127.0.0.1", port: responder.port, source: "127.0.0.2", count: 100, duration: 20)
        flood.start()
        defer { flood.stop() }
        usleep(1_500_000)  // the flood takes what it can get and keeps reconnecting
        for host in ["127.0.0.1", "::1"] {
            let reply = try get(responder, host: host)
            #expect(reply.status == 200 && reply.seconds < 4.5, "\(host): \(reply); \(flood)")
        }
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = Loopback.secondsUntilClosed(fd, limit: 30)
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        // Not before the deadline; after it, a generous bound (a loaded machine) that still tells
        // "closed at the deadline" from "kept open" (the 30-s limit).
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 10, "closed after \(String(describing: closed)) s")
    }

    @Test("a client dripping its request one byte at a time is closed at the deadline, unanswered")
    func drip() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: mail.example.test\r\nX-Slow: \(String(repeating: "a", count: 200))\r\n\r\n".utf8)
        let closed = Loopback.drip(fd, request, interval: 0.25, limit: 30)
        let deadline = Double(HTTP01Responder.connectionDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 10, "closed after \(String(describing: closed)) s")
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
            #expect(reply.status == 200 && reply.seconds < 4.5, "\(reply); \(flood)")
            usleep(200_000)
        }
        #expect(responder.hasServed(token: token))
    }
}

@Suite("TLS-ALPN-01 responder under a flood", .serialized, .integration)
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

    @Test("connections over 8 from one address wait unread for a slot; another address still gets its handshake")
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
            #expect(Loopback.secondsUntilClosed(fd, limit: 0.3) == nil, "connection \(limit + 1)+ from 127.0.0.2 was closed, not parked")
        }
        for fd in held { #expect(Loopback.secondsUntilClosed(fd, limit: 0.05) == nil, "one of the first \(limit) was closed") }
        let other = try handshake(responder)
        #expect(other.served && other.seconds < 4.5, "127.0.0.1 while 127.0.0.2 holds its \(limit): \(other)")
    }

    @Test("a connection that sends nothing is closed after the 5 s deadline")
    func silent() throws {
        let responder = try started()
        defer { responder.stop() }
        let fd = try Loopback.connect(to: "127.0.0.1", port: responder.port)
        defer { close(fd) }
        let closed = Loopback.secondsUntilClosed(fd, limit: 30)
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 10, "closed after \(String(describing: closed)) s")
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
            result.value = Loopback.drip(fd, hello, interval: 0.25, limit: 30)
            done.signal()
        }
        usleep(1_000_000)
        let other = try handshake(responder)
        #expect(other.served && other.seconds < 4.5, "while a ClientHello drips in: \(other)")
        done.wait()
        let closed = result.value
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 10, "closed after \(String(describing: closed)) s")
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
        #expect(other.served && other.seconds < 4.5, "while 8 handshakes stall: \(other)")
        let deadline = Double(TLSALPN01Responder.handshakeDeadlineMilliseconds) / 1000
        for fd in stalled {
            let closed = Loopback.secondsUntilClosed(fd, limit: 30).map { _ in Date().timeIntervalSince(connected) }
            #expect(closed != nil && closed! > deadline - 0.5 && closed! < deadline + 10,
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
            #expect(reply.served && reply.seconds < 4.5, "\(reply); \(flood)")
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
