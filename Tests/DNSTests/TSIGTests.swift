import Base
import Foundation
import TestFixtures
import Testing
@testable import DNS

/// TSIG keys from BIND key files, and signatures checked against BIND's own tools.
@Suite("TSIG (RFC 8945)", .integration)
struct TSIGTests {
    static let secret = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
    static let keyText = """
    # made by tsig-keygen
    key "ACME-key." {
    \talgorithm hmac-sha256; // the default
    \tsecret "\(secret)";
    };
    """

    func key(_ text: String) throws -> TSIGKey { try TSIGKey(parsing: text, path: "/etc/acme/dns.key") }

    @Test("a tsig-keygen file: name (lower case, no dot), algorithm; the secret appears in no text made of the key")
    func parsing() throws {
        let key = try key(Self.keyText)
        #expect(key.name == "acme-key" && key.algorithm == .hmacSHA256)
        for text in ["\(key)", String(reflecting: key), { var s = ""; dump(key, to: &s); return s }()] {
            #expect(!text.contains(Self.secret) && !text.contains("3q2"), "\(text)")
        }
        let sha512 = try self.key("key k { algorithm HMAC-SHA512; secret \"\(Self.secret)\"; }; /* trailing */")
        #expect(sha512.algorithm == .hmacSHA512)
    }

    @Test("bad key files: each a keyFile error naming the file and saying what to do", arguments: [
        ("", "no `key NAME {` statement"),
        ("secret \"abc\";", "no `key NAME {` statement"),
        ("key k { algorithm hmac-md5; secret \"\(secret)\"; };", "algorithm hmac-md5 is not supported (hmac-sha256 and hmac-sha512 are); make a new key with tsig-keygen"),
        ("key k { algorithm hmac-sha256; };", "no secret"),
        ("key k { algorithm hmac-sha256; secret \"not base64!\"; };", "no secret, or a secret that is not base64"),
        ("key k { secret \"\(secret)\"; };", "no algorithm"),
        ("key k { algorithm hmac-sha256 secret \"\(secret)\"; };", "does not end with `;`"),
        ("key k { algorithm hmac-sha256; secret \"\(secret)\"; }; key j { };", "more than one key"),
        ("key k { algorithm hmac-sha256; secret \"\(secret)\";", "not closed"),
        ("key \(String(repeating: "a", count: 70)) { algorithm hmac-sha256; secret \"\(secret)\"; };", "the key name is not a DNS name"),
    ])
    func badFiles(_ text: String, _ expected: String) throws {
        let error = #expect(throws: DNSError.self) { try key(text) }
        #expect(error?.code == .keyFile)
        #expect(error?.message.contains("/etc/acme/dns.key") == true && error?.message.contains(expected) == true, "\(String(describing: error))")
        #expect(error?.message.contains(Self.secret) == false)
    }

    @Test("a key file that is missing or not a regular file: keyFile, local state, naming the file")
    func unreadable() throws {
        for path in ["/nonexistent/acme.key", "/tmp"] {
            let error = #expect(throws: DNSError.self) { try TSIGKey(file: path) }
            #expect(error?.category == .localState && error?.message.contains(path) == true, "\(String(describing: error))")
        }
    }

    /// An answer to `request` as a server signs it: the request's MAC first (RFC 8945 §4.3.1).
    func signedAnswer(_ key: TSIGKey, request: (signed: [UInt8], mac: [UInt8]), rcode: UInt16 = 0, time: UInt64, error: UInt16 = 0) throws -> [UInt8] {
        var writer = DNSWriter.header(id: UInt16(request.signed[0]) << 8 | UInt16(request.signed[1]), flags: 0xA800 | rcode, counts: [1, 0, 0, 0])
        try writer.name("example.test")
        writer.u16(RRType.soa)
        writer.u16(RRClass.internet)
        var fields = TSIGFields(algorithm: key.algorithm.rawValue, time: time, fudge: 300, mac: [], originalID: 0x1234, error: error, other: [])
        var unsigned = writer.bytes
        unsigned[0] = 0x12
        unsigned[1] = 0x34
        fields.mac = error == 0 ? try key.mac(unsigned, fields, requestMAC: request.mac) : []
        try writer.record(name: key.name, type: RRType.tsig, rrClass: RRClass.any, ttl: 0, rdata: fields.rdata())
        writer.bytes[11] = 1
        return writer.bytes
    }

    @Test("answers: a good signature verifies; a flipped bit, another request MAC, a skewed clock, no TSIG fail; BADSIG/BADKEY/BADTIME say so")
    func answers() throws {
        let key = try key(Self.keyText)
        let server = DNSServer(host: "127.0.0.1", port: 53)
        var request = DNSWriter.header(id: 0x1234, flags: 0x2800, counts: [1, 0, 0, 0])
        try request.name("example.test")
        request.u16(RRType.soa)
        request.u16(RRClass.internet)
        let signed = try key.sign(request.bytes, time: 1_000_000)
        #expect(signed.mac.count == 32 && signed.signed[11] == 1)

        let good = try signedAnswer(key, request: signed, time: 1_000_010)
        try key.verify(DNSMessage(parsing: good), requestMAC: signed.mac, now: 1_000_000, server: server)

        func failure(_ bytes: [UInt8], requestMAC: [UInt8]? = nil, now: UInt64 = 1_000_000) -> DNSError? {
            #expect(throws: DNSError.self) { try key.verify(DNSMessage(parsing: bytes), requestMAC: requestMAC ?? signed.mac, now: now, server: server) }
        }
        var flipped = good
        flipped[3] ^= 0x05  // the RCODE
        #expect(failure(flipped)?.message.contains("does not verify") == true)
        #expect(failure(good, requestMAC: Array(repeating: 7, count: 32))?.message.contains("does not verify") == true)
        #expect(failure(good, now: 1_000_400)?.message.contains("away from this machine's clock") == true)
        var unsigned = Array(good[..<(try DNSMessage(parsing: good).additional[0].start)])
        unsigned[11] = 0
        #expect(failure(unsigned)?.message.contains("is not signed with TSIG") == true)
        for (code, text) in [(RCode.badSig, "BADSIG"), (RCode.badKey, "BADKEY"), (RCode.badTime, "BADTIME")] {
            let rejected = try signedAnswer(key, request: signed, rcode: RCode.notAuth, time: 1_000_000, error: code)
            let error = failure(rejected)
            #expect(error?.code == .keyRejected && error?.message.contains(text) == true, "\(String(describing: error))")
        }
    }

    @Test("nsupdate's own signed request verifies with our MAC computation (the TSIG variables as BIND lays them out)")
    func nsupdateRequest() throws {
        let nsupdate = "/usr/bin/nsupdate"
        guard FileManager.default.isExecutableFile(atPath: nsupdate) else {
            Issue.record("nsupdate is not installed (apt-get install bind9-dnsutils; .ci/test does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsig-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.keyText.write(toFile: dir + "/k.key", atomically: true, encoding: .utf8)
        let (fd, port) = try UDPCatcher.open()
        defer { close(fd) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nsupdate)
        process.arguments = ["-k", dir + "/k.key", "-t", "2"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        input.fileHandleForWriting.write(Data("server 127.0.0.1 \(port)\nzone example.test\nupdate add _acme-challenge.mail.example.test 60 TXT \"abc\"\nsend\n".utf8))
        try input.fileHandleForWriting.close()
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        let datagram = try UDPCatcher.receive(fd, seconds: 10)

        let message = try DNSMessage(parsing: datagram)
        #expect(message.opcode == 5 && message.questions.first?.name == "example.test")
        let record = try #require(message.additional.last)
        #expect(record.type == RRType.tsig && record.name == "acme-key")
        let fields = try TSIGFields(parsing: record, of: message)
        var unsigned = Array(datagram[..<record.start])
        unsigned[11] -= 1
        #expect(try key(Self.keyText).mac(unsigned, fields, requestMAC: nil) == fields.mac, "our MAC of nsupdate's request differs from nsupdate's")
    }
}

/// A UDP socket on a free loopback port that takes one datagram.
enum UDPCatcher {
    static func open() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }) == 0,
              withUnsafeMutablePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }) == 0 else {
            throw DNSError(.unreachable, "cannot bind a UDP socket for the test")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    static func receive(_ fd: Int32, seconds: Int) throws -> [UInt8] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { throw DNSError(.unreachable, "nothing arrived within \(seconds) s") }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return Array(buffer.prefix(max(n, 0)))
    }
}
