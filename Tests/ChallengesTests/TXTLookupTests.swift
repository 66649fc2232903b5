import Base
import Glibc
import TestFixtures
import Testing
@testable import Challenges
@testable import DNS

@Suite("DNS TXT lookup", .integration)
struct TXTLookupTests {
    @Test("resolver addresses: host:port, bare host, [v6]:port; nonsense refused")
    func resolverParsing() throws {
        let v4 = try TXTLookup(resolver: "127.0.0.1:8053")
        #expect(v4.server == "127.0.0.1" && v4.port == 8053)
        let bare = try TXTLookup(resolver: "ns1.example.net")
        #expect(bare.server == "ns1.example.net" && bare.port == 53)
        let v6 = try TXTLookup(resolver: "[::1]:5353")
        #expect(v6.server == "::1" && v6.port == 5353)
        #expect((#expect(throws: DNSError.self) { try TXTLookup(resolver: "127.0.0.1:99999") })?.category == .usage)
        #expect((#expect(throws: DNSError.self) { try TXTLookup(resolver: ":53") })?.category == .usage)
    }

    @Test("answers: compressed names, two TXT records, multi-string records joined; NXDOMAIN is empty")
    func parsing() throws {
        // Header: id 0x1234, response, 1 question, 2 answers.
        var message: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        let qname: [UInt8] = [15] + Array("_acme-challenge".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0]
        message += qname + [0, 16, 0, 1]
        // Answer 1: pointer to the question name, TXT, one string.
        let first = Array("abc".utf8)
        message += [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(first.count + 1), UInt8(first.count)] + first
        // Answer 2: two strings in one record.
        let a = Array("de".utf8), b = Array("f".utf8)
        message += [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(a.count + b.count + 2), UInt8(a.count)] + a + [UInt8(b.count)] + b
        #expect(try TXTLookup.parseTXT(message, name: "_acme-challenge.example.com") == ["abc", "def"])

        var nxdomain = message
        nxdomain[3] = 0x83
        #expect(try TXTLookup.parseTXT(nxdomain, name: "x") == [])
        var truncated = message
        truncated.removeLast(3)
        #expect((#expect(throws: DNSError.self) { try TXTLookup.parseTXT(truncated, name: "x") })?.code == .badAnswer)
    }

    @Test("a resolver that never answers: the DNS-01 error says why the record was not seen, not only that it was not")
    func resolverFailureReachesTheMessage() async throws {
        // A UDP port on loopback that nobody reads: queries time out or are refused.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        close(fd)
        let lookup = TXTLookup(server: "127.0.0.1", port: port, timeout: .milliseconds(300))
        let solver = DNS01HookSolver(script: "true", propagationWait: .seconds(1), resolver: lookup, progress: { _ in })
        await solver.willPresent(count: 1)
        try await solver.present(identifier: "mail.example.test", token: "token", keyAuthorization: "token.thumb")
        let error = await #expect(throws: ChallengeError.self) { try await solver.awaitPublished() }
        #expect(error?.code == .notPublished)
        #expect(error?.message.contains("last lookup: ") == true && error?.message.contains("127.0.0.1:\(port)") == true,
                "\(String(describing: error))")
        await solver.cleanup(identifier: "mail.example.test", token: "token")
    }
}
