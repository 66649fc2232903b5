import ACMECrypto
import Base

/// A TSIG key (RFC 8945) from a BIND key file, as `tsig-keygen` writes it and `nsupdate -k` reads it:
/// ```
/// key "acme-key" {
///     algorithm hmac-sha256;
///     secret "base64…";
/// };
/// ```
/// The secret is never part of any text this type produces.
public struct TSIGKey: Sendable, CustomStringConvertible, CustomReflectable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hmacSHA256 = "hmac-sha256"
        case hmacSHA512 = "hmac-sha512"

        var hash: Digest.HMACHash { self == .hmacSHA256 ? .sha256 : .sha512 }
    }

    /// The key's name, lower case, no trailing dot; it is the TSIG record's owner.
    public let name: String
    public let algorithm: Algorithm
    /// The file it was read from, for messages.
    public let path: String
    private let secret: [UInt8]

    /// Seconds of clock difference accepted either way (RFC 8945 §5.2.3 recommends 300).
    public static let fudge: UInt16 = 300
    static let fileLimit = 64 * 1024

    public var description: String { "TSIG key \(name) (\(algorithm.rawValue), \(path))" }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "algorithm": algorithm, "path": path]) }

    public init(name: String, algorithm: Algorithm, secret: [UInt8], path: String = "") {
        self.name = DNSName.normalized(name)
        self.algorithm = algorithm
        self.secret = secret
        self.path = path
    }

    /// Reads a BIND key file; every problem names the file and how to make a good one.
    public init(file path: String) throws {
        let text: String
        do {
            text = try FS.read(path, limit: Self.fileLimit)
        } catch {
            throw DNSError(.keyFile, "TSIG key file: \(error); make one with tsig-keygen -a hmac-sha256 NAME > FILE")
        }
        try self.init(parsing: text, path: path)
    }

    init(parsing text: String, path: String) throws {
        func bad(_ what: String) -> DNSError {
            DNSError(.keyFile, "TSIG key file \(path): \(what); it must hold one key as tsig-keygen -a hmac-sha256 NAME writes it")
        }
        let tokens = Self.tokens(text)
        // key NAME { algorithm ALG ; secret "…" ; } ;
        guard tokens.count >= 4, tokens[0] == "key", tokens[2] == "{" else { throw bad("no `key NAME {` statement") }
        let name = tokens[1]
        var algorithm: String?
        var secret: String?
        var index = 3
        while index < tokens.count, tokens[index] != "}" {
            guard index + 2 < tokens.count, tokens[index + 2] == ";" else { throw bad("a statement in the key block does not end with `;`") }
            switch tokens[index] {
            case "algorithm": algorithm = tokens[index + 1]
            case "secret": secret = tokens[index + 1]
            default: throw bad("`\(tokens[index].escapedExcerpt)` is not algorithm or secret")
            }
            index += 3
        }
        guard index < tokens.count, tokens[(index + 1)...].elementsEqual([";"]) || tokens[(index + 1)...].isEmpty else {
            throw bad("the key block is not closed with `};`, or more than one key follows")
        }
        guard let algorithm else { throw bad("no algorithm") }
        guard let chosen = Algorithm(rawValue: algorithm.lowercased()) else {
            throw DNSError(.keyFile, "TSIG key file \(path): algorithm \(algorithm.escapedExcerpt) is not supported (hmac-sha256 and hmac-sha512 are); make a new key with tsig-keygen -a hmac-sha256 NAME and give it to the DNS server too")
        }
        guard let secret, let bytes = Base64URL.decode(secret), !bytes.isEmpty else { throw bad("no secret, or a secret that is not base64") }
        do { _ = try DNSName.wire(name) } catch { throw bad("the key name is not a DNS name (\(error))") }
        self.init(name: name, algorithm: chosen, secret: bytes, path: path)
    }

    /// Words, quoted strings (without quotes) and `{ } ;`; comments (`#`, `//`, `/* */`) dropped.
    static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var chars = Array(text.unicodeScalars)[...]
        var word = ""
        func flush() { if !word.isEmpty { tokens.append(word); word = "" } }
        while let c = chars.popFirst() {
            switch c {
            case "#": flush(); while let n = chars.popFirst(), n != "\n" {}
            case "/" where chars.first == "/": flush(); while let n = chars.popFirst(), n != "\n" {}
            case "/" where chars.first == "*":
                flush()
                chars.removeFirst()
                while let n = chars.popFirst(), !(n == "*" && chars.first == "/") {}
                _ = chars.popFirst()
            case "\"":
                flush()
                var quoted = ""
                while let n = chars.popFirst(), n != "\"" { quoted.unicodeScalars.append(n) }
                tokens.append(quoted)
            case "{", "}", ";": flush(); tokens.append(String(c))
            case " ", "\t", "\n", "\r": flush()
            default: word.unicodeScalars.append(c)
            }
        }
        flush()
        return tokens
    }

    // MARK: Signing (RFC 8945 §4.3)

    /// `message` (a complete request without TSIG) with a TSIG record appended, and the MAC
    /// to verify the answer with. `time`: seconds since 1970.
    func sign(_ message: [UInt8], time: UInt64) throws -> (signed: [UInt8], mac: [UInt8]) {
        let id = UInt16(message[0]) << 8 | UInt16(message[1])
        var fields = TSIGFields(algorithm: algorithm.rawValue, time: time, fudge: Self.fudge, mac: [], originalID: id, error: 0, other: [])
        fields.mac = try mac(message, fields, requestMAC: nil)
        var signed = DNSWriter(bytes: message)
        try signed.record(name: name, type: RRType.tsig, rrClass: RRClass.any, ttl: 0, rdata: fields.rdata())
        // ARCOUNT + 1
        let count = (Int(message[10]) << 8 | Int(message[11])) + 1
        signed.bytes[10] = UInt8(count >> 8)
        signed.bytes[11] = UInt8(count & 0xFF)
        return (signed.bytes, fields.mac)
    }

    /// The MAC over a message without its TSIG record (RFC 8945 §4.3.1-4.3.3): the request's MAC
    /// first when signing an answer, then the message, then the TSIG variables.
    func mac(_ message: [UInt8], _ fields: TSIGFields, requestMAC: [UInt8]?) throws -> [UInt8] {
        var data = DNSWriter()
        if let requestMAC {
            data.u16(UInt16(requestMAC.count))
            data.bytes += requestMAC
        }
        data.bytes += message
        try data.name(name)
        data.u16(RRClass.any)
        data.u32(0)
        try data.name(fields.algorithm)
        data.u48(fields.time)
        data.u16(fields.fudge)
        data.u16(fields.error)
        data.u16(UInt16(fields.other.count))
        data.bytes += fields.other
        return Digest.hmac(algorithm.hash, key: secret, message: data.bytes)
    }

    /// Checks the TSIG of an answer to a request signed with MAC `requestMAC` (RFC 8945 §5.3):
    /// present, last, made with this key, a full-length MAC that matches, signed within the fudge
    /// of `now`. A TSIG error from the server (BADKEY, BADSIG, BADTIME) is `keyRejected`.
    func verify(_ answer: DNSMessage, requestMAC: [UInt8], now: UInt64, server: DNSServer) throws {
        func bad(_ what: String) -> DNSError {
            DNSError(.badAnswer, "the answer of \(server) (\(RCode.name(answer.rcode))) \(what); it may not come from the server that knows key \(name)")
        }
        guard let record = answer.additional.last, record.type == RRType.tsig else { throw bad("is not signed with TSIG") }
        guard answer.additional.filter({ $0.type == RRType.tsig }).count == 1, record.rrClass == RRClass.any else {
            throw bad("has a malformed TSIG record")
        }
        let fields = try TSIGFields(parsing: record, of: answer)
        switch fields.error {
        case 0: break
        case RCode.badKey:
            throw DNSError(.keyRejected, "\(server) does not know the TSIG key \(name) with algorithm \(algorithm.rawValue) (BADKEY); the key's name and algorithm in \(path) must match a key in the server's configuration")
        case RCode.badSig:
            throw DNSError(.keyRejected, "\(server) rejected the signature made with TSIG key \(name) from \(path) (BADSIG): the secret differs from the server's copy of the key; copy the key file the server uses")
        case RCode.badTime:
            throw DNSError(.keyRejected, "\(server) rejected the TSIG time (BADTIME): this machine's clock and the server's differ by more than \(Self.fudge) s; synchronize the clocks (NTP)")
        case let other:
            throw DNSError(.keyRejected, "\(server) rejected the TSIG key \(name) from \(path) (\(RCode.name(other)))")
        }
        guard record.name == name, fields.algorithm == algorithm.rawValue else { throw bad("is signed with another key than \(name)") }
        // The message as it was before the TSIG record was added: ARCOUNT - 1, the original id.
        var unsigned = Array(answer.bytes[..<record.start])
        let count = (Int(unsigned[10]) << 8 | Int(unsigned[11])) - 1
        unsigned[10] = UInt8(count >> 8)
        unsigned[11] = UInt8(count & 0xFF)
        unsigned[0] = UInt8(fields.originalID >> 8)
        unsigned[1] = UInt8(fields.originalID & 0xFF)
        guard fields.mac.count == algorithm.hash.length, Digest.equalMACs(try mac(unsigned, fields, requestMAC: requestMAC), fields.mac) else {
            throw bad("carries a TSIG signature that does not verify with key \(name)")
        }
        let skew = fields.time > now ? fields.time - now : now - fields.time
        guard skew <= UInt64(fields.fudge) else {
            throw bad("was signed \(skew) s away from this machine's clock (more than the \(fields.fudge) s allowed); synchronize the clocks (NTP)")
        }
    }
}

/// The RDATA of a TSIG record (RFC 8945 §4.2).
struct TSIGFields: Equatable {
    var algorithm: String
    var time: UInt64
    var fudge: UInt16
    var mac: [UInt8]
    var originalID: UInt16
    var error: UInt16
    var other: [UInt8]

    init(algorithm: String, time: UInt64, fudge: UInt16, mac: [UInt8], originalID: UInt16, error: UInt16, other: [UInt8]) {
        self.algorithm = algorithm
        self.time = time
        self.fudge = fudge
        self.mac = mac
        self.originalID = originalID
        self.error = error
        self.other = other
    }

    init(parsing record: DNSRecord, of message: DNSMessage) throws {
        let (algorithm, start) = try message.name(at: record.rdataStart)
        let end = record.rdata.endIndex
        let b = message.bytes
        func malformed() -> DNSError { DNSMessage.malformed("a TSIG record shorter than its fields") }
        guard start + 10 <= end else { throw malformed() }
        time = UInt64(message.u16(start)) << 32 | UInt64(message.u16(start + 2)) << 16 | UInt64(message.u16(start + 4))
        fudge = message.u16(start + 6)
        let macSize = Int(message.u16(start + 8))
        guard start + 10 + macSize + 6 <= end else { throw malformed() }
        mac = Array(b[(start + 10)..<(start + 10 + macSize)])
        var index = start + 10 + macSize
        originalID = message.u16(index)
        error = message.u16(index + 2)
        let otherSize = Int(message.u16(index + 4))
        index += 6
        guard index + otherSize == end else { throw DNSMessage.malformed("a TSIG record whose other data does not fill it") }
        other = Array(b[index..<end])
        self.algorithm = algorithm
    }

    func rdata() throws -> [UInt8] {
        var out = DNSWriter()
        try out.name(algorithm)
        out.u48(time)
        out.u16(fudge)
        out.u16(UInt16(mac.count))
        out.bytes += mac
        out.u16(originalID)
        out.u16(error)
        out.u16(UInt16(other.count))
        out.bytes += other
        return out.bytes
    }
}
