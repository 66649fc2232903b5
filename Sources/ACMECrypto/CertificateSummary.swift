import FoundationEssentials

/// What `acme renew` needs to decide whether a certificate is due — validity, serial,
/// Authority Key Identifier — read straight from the DER without OpenSSL. Parsing a
/// whole certificate through OpenSSL 3 also decodes its public key through the provider
/// machinery, which costs more than everything else a nothing-due run does per lineage.
public struct CertificateSummary: Sendable, Equatable {
    public let notBefore: Date
    public let notAfter: Date
    /// The serial's DER content octets (with a leading zero when the high bit is set).
    public let serialDERContent: [UInt8]
    public let authorityKeyIdentifier: [UInt8]?
    /// The subjectAltName's dNSName entries, lowercased, in certificate order.
    public let dnsNames: [String]

    /// Lowercase hex of the significant bytes (no leading zero bytes, two digits per byte),
    /// exactly as `Certificate.serialHex` (OpenSSL's BN_bn2hex) writes it.
    public var serialHex: String {
        let significant = serialDERContent.drop { $0 == 0 }
        guard !significant.isEmpty else { return "0" }
        return Digest.hex(significant)
    }

    /// The ARI certificate identifier (RFC 9773 §4.1); nil without an AKI.
    public var renewalInfoID: String? {
        Self.renewalInfoID(authorityKeyIdentifier: authorityKeyIdentifier, serial: serialDERContent)
    }

    /// base64url(keyIdentifier) "." base64url(serial content octets); nil without an AKI.
    static func renewalInfoID(authorityKeyIdentifier: [UInt8]?, serial: [UInt8]) -> String? {
        guard let aki = authorityKeyIdentifier, !aki.isEmpty else { return nil }
        return Base64URL.encode(aki) + "." + Base64URL.encode(serial)
    }

    /// The first certificate of a PEM text.
    /// The markers are searched byte-wise: `firstRange(of:)` on a String compares Characters,
    /// which cost more than the whole DER walk (a nothing-due run reads one leaf per lineage).
    public init(pem: String) throws {
        let bytes = Array(pem.utf8)
        guard let begin = Self.find(Self.beginMarker, in: bytes, from: 0),
              let end = Self.find(Self.endMarker, in: bytes, from: begin + Self.beginMarker.count),
              let der = Self.base64(bytes[(begin + Self.beginMarker.count)..<end]) else {
            throw CryptoError(.invalidCertificate, "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
        }
        try self.init(der: der)
    }

    static let beginMarker = Array("-----BEGIN CERTIFICATE-----".utf8)
    static let endMarker = Array("-----END CERTIFICATE-----".utf8)

    /// `Base64.decode`'s rules (either alphabet, padding optional, whitespace ignored, nothing
    /// after padding, zero leftover bits) over bytes through a table: a leaf's body is decoded
    /// for every lineage of a renew run, and a String's UTF-8 view costs four times as much.
    static func base64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var accumulator: UInt32 = 0
        var bits: UInt32 = 0
        var sawPadding = false
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: text.count * 3 / 4 + 1) { out, count in
            count = 0
            base64Values.withUnsafeBufferPointer { values in
                text.withUnsafeBufferPointer { input in
                    for c in input {
                        let value = values[Int(c)]
                        if value < 64 {
                            if sawPadding { valid = false; return }
                            accumulator = accumulator << 6 | UInt32(value)
                            bits += 6
                            if bits >= 8 {
                                bits -= 8
                                out[count] = UInt8(truncatingIfNeeded: accumulator >> bits)
                                count += 1
                            }
                        } else if value == padding {
                            sawPadding = true
                        } else if value != whitespace {
                            valid = false; return
                        }
                    }
                }
            }
        }
        if !valid || bits >= 6 || accumulator & ((1 << bits) - 1) != 0 { return nil }
        return out
    }

    private static let (whitespace, padding, invalid): (UInt8, UInt8, UInt8) = (64, 65, 255)
    /// 0-63: a digit of either alphabet; `whitespace`, `padding`, else `invalid`.
    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8.enumerated() { table[Int(c)] = UInt8(i) }
        for (c, v) in [("+", 62), ("-", 62), ("/", 63), ("_", 63)] as [(Unicode.Scalar, UInt8)] { table[Int(c.value)] = v }
        for c in [" ", "\n", "\r", "\t"] as [Unicode.Scalar] { table[Int(c.value)] = whitespace }
        table[Int(Unicode.Scalar("=").value)] = padding
        return table
    }()

    /// The offset of the first `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = start
        while i <= haystack.count - needle.count {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    public init(der: [UInt8]) throws {
        var outer = DER(der)
        guard var certificate = outer.enter(0x30), var tbs = certificate.enter(0x30) else { throw Self.bad }
        if tbs.peekTag == 0xA0 { _ = tbs.next() }                     // [0] version
        guard let serial = tbs.next(), serial.tag == 0x02 else { throw Self.bad }
        serialDERContent = Array(der[serial.content])
        guard tbs.next()?.tag == 0x30, tbs.next()?.tag == 0x30,           // signature, issuer
              var validity = tbs.enter(0x30),
              let start = validity.next(), let stop = validity.next(),
              let notBefore = Self.time(der, start), let notAfter = Self.time(der, stop) else { throw Self.bad }
        self.notBefore = notBefore
        self.notAfter = notAfter
        guard tbs.next()?.tag == 0x30, tbs.next()?.tag == 0x30 else { throw Self.bad }  // subject, SPKI
        var aki: [UInt8]?
        var names: [String] = []
        while let field = tbs.next() {
            guard field.tag == 0xA3 else { continue }                    // [3] extensions
            var wrapper = DER(der, field.content)
            guard var extensions = wrapper.enter(0x30) else { throw Self.bad }
            while var ext = extensions.enter(0x30) {
                guard let oid = ext.next(), oid.tag == 0x06 else { throw Self.bad }
                var value = ext.next()
                if value?.tag == 0x01 { value = ext.next() }             // critical
                guard let value, value.tag == 0x04 else { throw Self.bad }
                // id-ce-authorityKeyIdentifier 2.5.29.35; keyIdentifier is [0] IMPLICIT.
                if der[oid.content].elementsEqual([0x55, 0x1D, 0x23]) {
                    var content = DER(der, value.content)
                    if var sequence = content.enter(0x30), let first = sequence.next(), first.tag == 0x80 {
                        aki = Array(der[first.content])
                    }
                }
                // id-ce-subjectAltName 2.5.29.17: GeneralNames, dNSName is [2] IMPLICIT IA5String.
                if der[oid.content].elementsEqual([0x55, 0x1D, 0x11]) {
                    var content = DER(der, value.content)
                    guard var sequence = content.enter(0x30) else { throw Self.bad }
                    while let name = sequence.next() {
                        if name.tag == 0x82 { names.append(String(decoding: der[name.content], as: UTF8.self).lowercased()) }
                    }
                }
            }
        }
        authorityKeyIdentifier = aki
        dnsNames = names
    }

    static let bad = CryptoError(.invalidCertificate, "not a DER X.509 certificate")

    /// UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ).
    static func time(_ der: [UInt8], _ element: DER.Element) -> Date? {
        let text = der[element.content]
        let digits = text.dropLast()
        guard text.last == UInt8(ascii: "Z"), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let values = digits.map { Int($0) - 48 }
        func number(_ from: Int, _ count: Int) -> Int { values[from..<from + count].reduce(0) { $0 * 10 + $1 } }
        var year: Int, offset: Int
        switch (element.tag, values.count) {
        case (0x17, 12): year = number(0, 2); year += year < 50 ? 2000 : 1900; offset = 2
        case (0x18, 14): year = number(0, 4); offset = 4
        default: return nil
        }
        let month = number(offset, 2), day = number(offset + 2, 2)
        let hour = number(offset + 4, 2), minute = number(offset + 6, 2), second = number(offset + 8, 2)
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}

/// A minimal DER walker: tag, definite length, content range. Enough for certificates.
struct DER {
    struct Element { var tag: UInt8; var content: Range<Int> }
    let bytes: [UInt8]
    var index: Int
    let end: Int

    init(_ bytes: [UInt8], _ range: Range<Int>? = nil) {
        self.bytes = bytes
        index = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var peekTag: UInt8? { index < end ? bytes[index] : nil }

    mutating func next() -> Element? {
        guard index + 2 <= end else { return nil }
        let tag = bytes[index]
        var length = Int(bytes[index + 1])
        var start = index + 2
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 4, start + count <= end else { return nil }
            length = bytes[start..<start + count].reduce(0) { $0 << 8 | Int($1) }
            start += count
        }
        guard start + length <= end else { return nil }
        index = start + length
        return Element(tag: tag, content: start..<start + length)
    }

    /// The next element, if it has `tag`, as a walker over its content.
    mutating func enter(_ tag: UInt8) -> DER? {
        let saved = index
        guard let element = next(), element.tag == tag else { index = saved; return nil }
        return DER(bytes, element.content)
    }
}
