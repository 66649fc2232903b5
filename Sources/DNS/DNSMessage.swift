/// Record types acme reads or writes (RFC 1035 §3.2.2, RFC 3596, RFC 8945).
public enum RRType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let soa: UInt16 = 6
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    /// DANE (RFC 6698 §7.1).
    public static let tlsa: UInt16 = 52
    public static let tsig: UInt16 = 250
}

/// Record classes (RFC 1035 §3.2.4; NONE and ANY as RFC 2136 §2.4 and RFC 8945 §4.2 use them).
public enum RRClass {
    public static let internet: UInt16 = 1
    public static let none: UInt16 = 254
    public static let any: UInt16 = 255
}

/// Response codes (RFC 1035 §4.1.1, RFC 2136 §2.2), and the TSIG error codes (RFC 8945 §5.3).
public enum RCode {
    public static let noError: UInt16 = 0
    public static let nxDomain: UInt16 = 3
    public static let refused: UInt16 = 5
    public static let notAuth: UInt16 = 9
    public static let notZone: UInt16 = 10
    public static let badSig: UInt16 = 16
    public static let badKey: UInt16 = 17
    public static let badTime: UInt16 = 18

    static let names: [UInt16: String] = [
        0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
        7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC",
    ]

    /// `REFUSED`, or `RCODE 12` for one without a name.
    public static func name(_ code: UInt16) -> String { names[code] ?? "RCODE \(code)" }
}

/// Builds DNS messages: big-endian integers and uncompressed names (RFC 1035 §3.1, §4.1).
struct DNSWriter {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xFFFF)) }
    mutating func u48(_ value: UInt64) { u16(UInt16(value >> 32 & 0xFFFF)); u32(UInt32(value & 0xFFFF_FFFF)) }
    mutating func name(_ name: String) throws { bytes += try DNSName.wire(name) }

    /// One resource record; `rdata` is at most 65535 bytes.
    mutating func record(name: String, type: UInt16, rrClass: UInt16, ttl: UInt32, rdata: [UInt8]) throws {
        try self.name(name)
        u16(type)
        u16(rrClass)
        u32(ttl)
        u16(UInt16(rdata.count))
        bytes += rdata
    }

    /// A header: `flags` holds QR, OPCODE, RD; the four section counts follow.
    static func header(id: UInt16, flags: UInt16, counts: [UInt16]) -> DNSWriter {
        var writer = DNSWriter()
        writer.u16(id)
        writer.u16(flags)
        for count in counts { writer.u16(count) }
        return writer
    }
}

/// DNS names as text: dotted, without the root's trailing dot, compared in lower case.
public enum DNSName {
    /// The name in wire form, lower-cased (canonical as RFC 8945 §4.3.3 wants for TSIG):
    /// labels of 1 to 63 bytes, 255 bytes in all.
    public static func wire(_ name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        if !trimmed.isEmpty {
            for label in trimmed.lowercased().split(separator: ".", omittingEmptySubsequences: false) {
                let bytes = Array(label.utf8)
                guard !bytes.isEmpty, bytes.count < 64 else {
                    throw DNSError(.invalidSetting, "\(name.escapedExcerpt) is not a DNS name (empty or over-long label)")
                }
                out.append(UInt8(bytes.count))
                out += bytes
            }
        }
        out.append(0)
        guard out.count <= 255 else { throw DNSError(.invalidSetting, "\(name.escapedExcerpt) is longer than 255 bytes, the limit of a DNS name") }
        return out
    }

    /// Lower case, no trailing dot.
    public static func normalized(_ name: String) -> String {
        (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased()
    }

    /// The name and each parent up to the top-level label: `a.b.c`, `b.c`, `c`.
    public static func selfAndParents(_ name: String) -> [String] {
        let labels = normalized(name).split(separator: ".")
        return labels.indices.map { labels[$0...].joined(separator: ".") }
    }
}

extension String {
    /// At most 80 characters, control characters escaped: safe to put in an error line.
    var escapedExcerpt: String { String(prefix(80)).escapedForDisplay }
}

/// One question of a message.
public struct DNSQuestion: Sendable, Equatable {
    public var name: String
    public var type: UInt16
    public var rrClass: UInt16
}

/// One resource record of a parsed message; `start` and `rdataStart` index into the message bytes.
public struct DNSRecord: Sendable {
    public var name: String
    public var type: UInt16
    public var rrClass: UInt16
    public var ttl: UInt32
    public var rdata: ArraySlice<UInt8>
    /// Where the record begins in the message (TSIG verification cuts the message there).
    var start: Int
    var rdataStart: Int { rdata.startIndex }
}

/// A DNS message parsed from untrusted bytes (RFC 1035 §4.1): every length and pointer is checked
/// against the message, compression pointers must point backwards (so they cannot loop), names stay
/// within 255 bytes. Anything else is `DNSError.badAnswer`, never a crash.
public struct DNSMessage: Sendable {
    public let bytes: [UInt8]
    public let id: UInt16
    public let flags: UInt16
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []

    public var rcode: UInt16 { flags & 0x000F }
    public var isResponse: Bool { flags & 0x8000 != 0 }
    /// TC: the answer did not fit into the UDP datagram (RFC 1035 §4.1.1).
    public var isTruncated: Bool { flags & 0x0200 != 0 }
    public var opcode: UInt16 { flags >> 11 & 0xF }

    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count >= 12 else { throw Self.malformed("shorter than a DNS header (\(bytes.count) bytes)") }
        self.bytes = bytes
        id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        let counts = (0..<4).map { Int(bytes[4 + 2 * $0]) << 8 | Int(bytes[5 + 2 * $0]) }
        var index = 12
        for _ in 0..<counts[0] {
            let (name, end) = try name(at: index)
            guard end + 4 <= bytes.count else { throw Self.malformed("a question runs past the end") }
            questions.append(DNSQuestion(name: name, type: u16(end), rrClass: u16(end + 2)))
            index = end + 4
        }
        answers = try records(counts[1], &index)
        authority = try records(counts[2], &index)
        additional = try records(counts[3], &index)
    }

    static func malformed(_ what: String) -> DNSError { DNSError(.badAnswer, "malformed DNS answer: \(what)") }

    func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }

    private func records(_ count: Int, _ index: inout Int) throws -> [DNSRecord] {
        var out: [DNSRecord] = []
        for _ in 0..<count {
            let start = index
            let (name, end) = try name(at: index)
            guard end + 10 <= bytes.count else { throw Self.malformed("a record runs past the end") }
            let length = Int(u16(end + 8))
            guard end + 10 + length <= bytes.count else { throw Self.malformed("record data runs past the end") }
            let ttl = UInt32(u16(end + 4)) << 16 | UInt32(u16(end + 6))
            out.append(DNSRecord(name: name, type: u16(end), rrClass: u16(end + 2), ttl: ttl,
                                 rdata: bytes[(end + 10)..<(end + 10 + length)], start: start))
            index = end + 10 + length
        }
        return out
    }

    /// The name at `offset` (lower-cased, dotted, bytes outside printable ASCII and `.` inside a
    /// label as `\DDD`) and where the name ends in place (after its pointer, if any).
    public func name(at offset: Int) throws -> (name: String, end: Int) {
        var labels: [String] = []
        var position = offset
        var end: Int?
        var wireLength = 1
        while true {
            guard position < bytes.count else { throw Self.malformed("a name runs past the end") }
            let length = Int(bytes[position])
            switch length & 0xC0 {
            case 0xC0:
                guard position + 1 < bytes.count else { throw Self.malformed("a name pointer runs past the end") }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                // Backwards only: every jump lowers the position, so a loop is impossible.
                guard target < position else { throw Self.malformed("a name pointer points forwards or at itself") }
                if end == nil { end = position + 2 }
                position = target
            case 0:
                if length == 0 { return (labels.joined(separator: "."), end ?? position + 1) }
                guard position + 1 + length <= bytes.count else { throw Self.malformed("a label runs past the end") }
                wireLength += length + 1
                guard wireLength <= 255 else { throw Self.malformed("a name longer than 255 bytes") }
                labels.append(Self.labelText(bytes[(position + 1)...(position + length)]))
                position += 1 + length
            default:
                throw Self.malformed("a label type that is not in use (0x\(String(length, radix: 16)))")
            }
        }
    }

    static func labelText(_ label: ArraySlice<UInt8>) -> String {
        var text = ""
        for byte in label {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): text.unicodeScalars.append(Unicode.Scalar(byte + 32))
            case 0x21...0x7E where byte != UInt8(ascii: ".") && byte != UInt8(ascii: "\\"): text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = String(byte)
                text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
            }
        }
        return text
    }

    /// A TXT record's strings joined (RFC 1035 §3.3.14); a string running past the record is malformed.
    public func text(of record: DNSRecord) throws -> String {
        var text: [UInt8] = []
        var position = record.rdata.startIndex
        while position < record.rdata.endIndex {
            let size = Int(bytes[position])
            guard position + 1 + size <= record.rdata.endIndex else { throw Self.malformed("a TXT string runs past its record") }
            text += bytes[(position + 1)..<(position + 1 + size)]
            position += 1 + size
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The name an NS record points to (RFC 1035 §3.3.11); it must fill the record exactly.
    public func target(of record: DNSRecord) throws -> String {
        let (name, end) = try name(at: record.rdataStart)
        guard end == record.rdata.endIndex else { throw Self.malformed("an NS record with bytes after its name") }
        return name
    }

    /// The address of an A or AAAA record as text, nil for other types or a wrong length.
    public func address(of record: DNSRecord) -> String? {
        let data = Array(record.rdata)
        switch (record.type, data.count) {
        case (RRType.a, 4): return data.map(String.init).joined(separator: ".")
        case (RRType.aaaa, 16):
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]), radix: 16) }.joined(separator: ":")
        default: return nil
        }
    }
}
