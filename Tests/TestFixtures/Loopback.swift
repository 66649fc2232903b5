import Foundation
import Glibc
import Synchronization

/// Loopback clients that pick their source address (all of 127.0.0.0/8 is loopback on Linux),
/// so that one test can be two clients.
public enum Loopback {
    /// A blocking TCP socket bound to `source` (nil: the kernel's choice) and connected to `host`:`port`.
    public static func connect(to host: String, port: Int, from source: String? = nil) throws -> Int32 {
        let fd = try socketFor(host)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source { try bind(fd, source) }
        guard withAddress(host, port: port, { Glibc.connect(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw FixtureFailure("cannot connect from \(source ?? "any") to \(host):\(port): \(reason)")
        }
        return fd
    }

    public static func socketFor(_ host: String, nonBlocking: Bool = false) throws -> Int32 {
        var v6 = in6_addr()
        let family = inet_pton(AF_INET6, host, &v6) == 1 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), 0)
        guard fd >= 0 else { throw FixtureFailure("socket: \(String(cString: strerror(errno)))") }
        return fd
    }

    public static func bind(_ fd: Int32, _ source: String) throws {
        guard withAddress(source, port: 0, { Glibc.bind(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw FixtureFailure("cannot bind a client socket to \(source): \(reason)")
        }
    }

    public static func withAddress(_ host: String, port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
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

    public static func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Seconds until the server closes `fd` (EOF or reset; whatever it sends is discarded),
    /// or nil when it is still open after `limit` seconds.
    public static func secondsUntilClosed(_ fd: Int32, limit: TimeInterval) -> TimeInterval? {
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
    public static func drip(_ fd: Int32, _ bytes: [UInt8], interval: TimeInterval, limit: TimeInterval) -> TimeInterval? {
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
    public static func clientHello(serverName: String, alpn: String) -> [UInt8] {
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

/// A test-setup failure, one line.
public struct FixtureFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
