import Foundation
import TestFixtures
import Testing
@testable import DNS

/// The network side against fake servers on loopback: TCP after a truncated UDP answer, and
/// servers that flood, stall or lie are cut off by the deadline.
@Suite("DNS exchanges", .serialized, .integration)
struct DNSExchangeTests {
    /// A UDP socket and a TCP listener on the same free loopback port.
    final class FakeServer: @unchecked Sendable {
        let udp: Int32
        let tcp: Int32
        let port: UInt16

        /// The UDP port is a free one; the TCP port of the same number may be taken by another
        /// test's connection, so a few ports are tried before giving up.
        init() throws {
            for _ in 0..<20 {
                let (udp, port) = try UDPCatcher.open()
                let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var reuse: Int32 = 1
                setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = port.bigEndian
                if withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(tcp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
                   listen(tcp, 4) == 0 {
                    (self.udp, self.tcp, self.port) = (udp, tcp, port)
                    return
                }
                close(tcp)
                close(udp)
            }
            throw DNSError(.unreachable, "cannot listen on TCP and UDP of one loopback port for the test (20 ports tried)")
        }

        deinit { close(udp); close(tcp) }

        /// The next UDP query and where to answer it.
        func receiveUDP() -> (query: [UInt8], reply: ([UInt8]) -> Void) {
            let socket = udp
            var buffer = [UInt8](repeating: 0, count: 4096)
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socket, &buffer, buffer.count, 0, $0, &length) } }
            let sender = peer
            let senderLength = length
            return (Array(buffer.prefix(max(n, 0))), { bytes in
                var target = sender
                _ = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, bytes, bytes.count, 0, $0, senderLength) } }
            })
        }
    }

    /// An answer to `query` with one TXT record, or only the header and question with `truncated`.
    static func answer(to query: [UInt8], text: String, truncated: Bool = false) -> [UInt8] {
        var out = Array(query)
        out[2] = 0x84 | (truncated ? 0x02 : 0)
        out[3] = 0
        if truncated { return out }
        out[7] = 1
        let data = [UInt8(text.utf8.count)] + Array(text.utf8)
        return out + [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(data.count)] + data
    }

    @Test("a truncated UDP answer (after a stray datagram with another id) is asked again over TCP")
    func tcpFallback() throws {
        let server = try FakeServer()
        let thread = Thread {
            let (query, reply) = server.receiveUDP()
            var stray = Self.answer(to: query, text: "stray")
            stray[0] ^= 0xFF
            reply(stray)
            reply(Self.answer(to: query, text: "", truncated: true))
            let client = accept(server.tcp, nil, nil)
            var framed = [UInt8](repeating: 0, count: 2 + query.count)
            _ = recv(client, &framed, framed.count, Int32(MSG_WAITALL))
            let answer = Self.answer(to: Array(framed.dropFirst(2)), text: "over tcp")
            let out = [UInt8(answer.count >> 8), UInt8(answer.count & 0xFF)] + answer
            _ = send(client, out, out.count, 0)
            close(client)
        }
        thread.start()
        let lookup = TXTLookup(server: "127.0.0.1", port: server.port, timeout: .seconds(5))
        #expect(try lookup.txt("_acme-challenge.example.test") == ["over tcp"])
    }

    @Test("a server flooding datagrams with other ids, or stalling mid-TCP-answer, is cut off at the deadline")
    func hostileServers() throws {
        let server = try FakeServer()
        let flood = Thread {
            let (query, reply) = server.receiveUDP()
            var wrong = Self.answer(to: query, text: "x")
            wrong[1] ^= 0xFF
            let until = Date().addingTimeInterval(2)
            while Date() < until { reply(wrong); usleep(1000) }
        }
        flood.start()
        let lookup = TXTLookup(server: "127.0.0.1", port: server.port, timeout: .milliseconds(500))
        var start = Date()
        let error = #expect(throws: DNSError.self) { try lookup.txt("_acme-challenge.example.test") }
        #expect(error?.code == .unreachable && error?.message.contains("no answer within") == true, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(start) < 2.5)  // the 0.5 s deadline, not the peer's 2-3 s

        // TCP: a 65535-byte answer promised, ten bytes sent, then nothing.
        let stall = Thread {
            let (query, reply) = server.receiveUDP()
            reply(Self.answer(to: query, text: "", truncated: true))
            let client = accept(server.tcp, nil, nil)
            _ = send(client, [0xFF, 0xFF] + Array(query.prefix(10)), 12, 0)
            sleep(3)
            close(client)
        }
        stall.start()
        start = Date()
        #expect(throws: DNSError.self) { try lookup.txt("_acme-challenge.example.test") }
        #expect(Date().timeIntervalSince(start) < 2.5)  // the 0.5 s deadline, not the peer's 2-3 s
    }
}
