import Foundation
import Testing
@testable import DNS

/// The parser of untrusted DNS answers: everything malformed is `badAnswer`, nothing crashes or loops.
@Suite("DNS messages")
struct DNSMessageTests {
    /// id 0x1234, a response, one question `_acme-challenge.example.test TXT`, then `answers` records.
    static func answer(_ answers: [[UInt8]], rcode: UInt8 = 0) -> [UInt8] {
        var message: [UInt8] = [0x12, 0x34, 0x84, rcode, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
        message += [15] + Array("_acme-challenge".utf8) + [7] + Array("example".utf8) + [4] + Array("test".utf8) + [0, 0, 16, 0, 1]
        return message + answers.flatMap { $0 }
    }

    static func txt(_ strings: [String]) -> [UInt8] {
        let data = strings.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        return [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(data.count)] + data
    }

    @Test("a well-formed answer: question, compressed owners, TXT strings joined, NS targets, addresses")
    func wellFormed() throws {
        let ns: [UInt8] = [0xC0, 28, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6, 3] + Array("ns1".utf8) + [0xC0, 28]
        let a: [UInt8] = [0xC0, 28, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]
        let message = try DNSMessage(parsing: Self.answer([Self.txt(["ab", "c"]), ns, a]))
        #expect(message.id == 0x1234 && message.isResponse && message.rcode == 0)
        #expect(message.questions == [DNSQuestion(name: "_acme-challenge.example.test", type: RRType.txt, rrClass: RRClass.internet)])
        #expect(try message.text(of: message.answers[0]) == "abc")
        #expect(message.answers[1].name == "example.test")
        #expect(try message.target(of: message.answers[1]) == "ns1.example.test")
        #expect(message.address(of: message.answers[2]) == "192.0.2.1")
    }

    @Test("hostile answers are refused as malformed", arguments: [
        ("shorter than a header", [0x12, 0x34, 0x84]),
        ("a pointer to itself", [0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 16, 0, 1]),
        ("a pointer forwards", [0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0, 0, 16, 0, 1]),
        ("a label past the end", [0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 0x61]),
        ("a reserved label type", [0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0x61, 0]),
        ("65535 answers claimed", DNSMessageTests.answer([]).enumerated().map { $0.offset == 6 || $0.offset == 7 ? 0xFF : $0.element }),
        ("record data past the end", DNSMessageTests.answer([[0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0xFF, 0xFF, 3, 0x61]])),
        ("a record cut in its header", DNSMessageTests.answer([[0xC0, 12, 0, 16, 0, 1]])),
    ] as [(String, [UInt8])])
    func hostile(_ what: String, _ bytes: [UInt8]) {
        let error = #expect(throws: DNSError.self, "\(what)") { try DNSMessage(parsing: bytes) }
        #expect(error?.code == .badAnswer && error?.category == .network)
    }

    @Test("a name of more than 255 bytes through a chain of backward pointers is refused")
    func longName() throws {
        // No sections; after the header, 40 labels of 8 bytes, each followed by a pointer to the previous one.
        var bytes: [UInt8] = [0x12, 0x34, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        var previous: Int?
        var last = 0
        for _ in 0..<40 {
            last = bytes.count
            bytes += [8] + Array("abcdefgh".utf8) + (previous.map { [0xC0 | UInt8($0 >> 8), UInt8($0 & 0xFF)] } ?? [0])
            previous = last
        }
        let message = try DNSMessage(parsing: bytes)
        #expect(try message.name(at: 12 + 10).name == "abcdefgh.abcdefgh")
        let error = #expect(throws: DNSError.self) { try message.name(at: last) }
        #expect(error?.message.contains("longer than 255") == true)
    }

    @Test("record contents that lie: a TXT string past its record, an NS with trailing bytes, a wrong-length A")
    func lyingRecords() throws {
        let message = try DNSMessage(parsing: Self.answer([
            [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 9, 0x61, 0x62],
            [0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 4, 0xC0, 12, 0xAA, 0xBB],
            [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3],
        ]))
        #expect(throws: DNSError.self) { try message.text(of: message.answers[0]) }
        #expect(throws: DNSError.self) { try message.target(of: message.answers[1]) }
        #expect(message.address(of: message.answers[2]) == nil)
    }

    @Test("names with dots, control bytes and upper case in labels come out escaped and lower case")
    func labelEscaping() throws {
        var bytes: [UInt8] = [0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        bytes += [5, 0x41, 0x2E, 0x0A, 0x1B, 0x5C, 0, 0, 16, 0, 1]
        #expect(try DNSMessage(parsing: bytes).questions[0].name == "a\\046\\010\\027\\092")
    }

    @Test("20,000 random mutations of a good answer: parsed or refused with DNSError, never a crash")
    func mutations() throws {
        var generator = SystemRandomNumberGenerator()
        let base = Self.answer([Self.txt(["abc"]), Self.txt(["de", "f"])])
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
                default: bytes.insert(0xC0, at: Int.random(in: 0...bytes.count, using: &generator))
                }
                if bytes.isEmpty { bytes = [0] }
            }
            do {
                let message = try DNSMessage(parsing: bytes)
                for record in message.answers { _ = try? message.text(of: record) }  // either outcome is fine here
            } catch {
                #expect(error is DNSError)
            }
        }
    }

    @Test("DNS names: checked labels, 255 bytes at most, parents walked up")
    func names() throws {
        #expect(try DNSName.wire("A.b.") == [1, 0x61, 1, 0x62, 0])
        #expect(throws: DNSError.self) { try DNSName.wire("a..b") }
        #expect(throws: DNSError.self) { try DNSName.wire(String(repeating: "abcdefgh.", count: 30)) }
        #expect(DNSName.selfAndParents("_acme-challenge.Mail.example.test.") == ["_acme-challenge.mail.example.test", "mail.example.test", "example.test", "test"])
    }
}
