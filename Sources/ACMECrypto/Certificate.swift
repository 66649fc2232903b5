import Base
import COpenSSL
import FoundationEssentials
import Glibc

/// An X.509 certificate, parsed once through OpenSSL into plain values.
public struct Certificate: Sendable, Hashable {
    public let der: [UInt8]
    public let subjectCommonName: String?
    public let issuerCommonName: String?
    /// DNS subjectAltNames, lowercased, in certificate order.
    public let dnsNames: [String]
    public let notBefore: Date
    public let notAfter: Date
    /// Serial number as lowercase hex without separators.
    public let serialHex: String
    /// DER SubjectPublicKeyInfo, to compare with a private key.
    public let publicKeyDER: [UInt8]
    /// The keyIdentifier of the Authority Key Identifier extension, if present.
    public let authorityKeyIdentifier: [UInt8]?

    public init(der: [UInt8]) throws {
        let x509: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return d2i_X509(nil, &pointer, buffer.count)
        }
        guard let x509 else { throw CryptoError.openssl("not a DER X.509 certificate", .invalidCertificate) }
        defer { X509_free(x509) }
        try self.init(x509: x509)
    }

    /// The first certificate in a PEM text.
    public init(pem: String) throws {
        guard let first = try Certificate.chain(pem: pem).first else {
            throw CryptoError(.invalidCertificate, "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
        }
        self = first
    }

    /// Every certificate in a PEM text, in order.
    public static func chain(pem: String) throws -> [Certificate] {
        var result: [Certificate] = []
        var rest = Substring(pem)
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        while let start = rest.firstRange(of: begin) {
            guard let stop = rest[start.upperBound...].firstRange(of: end) else {
                throw CryptoError(.invalidCertificate, "truncated PEM certificate (no -----END CERTIFICATE-----)")
            }
            guard let der = Base64.decode(String(rest[start.upperBound..<stop.lowerBound])) else {
                throw CryptoError(.invalidCertificate, "PEM certificate has invalid base64")
            }
            result.append(try Certificate(der: der))
            rest = rest[stop.upperBound...]
        }
        return result
    }

    private init(x509: OpaquePointer) throws {
        der = try MemoryBIO.writing("cannot encode the certificate") { i2d_X509_bio($0, x509) == 1 }
        subjectCommonName = Certificate.commonName(X509_get_subject_name(x509))
        issuerCommonName = Certificate.commonName(X509_get_issuer_name(x509))
        var names: [String] = []
        if let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) {
            let general = OpaquePointer(raw)
            for i in 0..<acme_general_names_count(general) {
                if let dns = acme_general_names_dns(general, i), let text = Certificate.string(dns) {
                    names.append(text.lowercased())
                }
            }
            acme_general_names_free(general)
        }
        dnsNames = names
        guard let before = Certificate.date(X509_get0_notBefore(x509)), let after = Certificate.date(X509_get0_notAfter(x509)) else {
            throw CryptoError(.invalidCertificate, "certificate has an unreadable validity period")
        }
        notBefore = before
        notAfter = after
        var serial = ""
        if let bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), nil) {
            if let hex = BN_bn2hex(bn) {
                serial = String(cString: hex).lowercased()
                CRYPTO_free(hex, #file, #line)
            }
            BN_free(bn)
        }
        serialHex = serial
        if let aki = X509_get0_authority_key_id(x509), let data = ASN1_STRING_get0_data(aki) {
            authorityKeyIdentifier = Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(aki))))
        } else {
            authorityKeyIdentifier = nil
        }
        guard let pub = X509_get0_pubkey(x509) else { throw CryptoError.openssl("certificate has no readable public key", .invalidCertificate) }
        publicKeyDER = try MemoryBIO.writing("cannot encode the certificate key") { i2d_PUBKEY_bio($0, pub) == 1 }
    }

    /// The serial number's DER INTEGER content octets (big-endian, with a leading
    /// zero when the high bit is set), as ARI's certificate identifier needs them.
    public var serialDERContent: [UInt8] {
        var hex = Array(serialHex.utf8)
        if hex.count % 2 == 1 { hex.insert(UInt8(ascii: "0"), at: 0) }
        var bytes: [UInt8] = stride(from: 0, to: hex.count, by: 2).map { i in
            UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) ?? 0
        }
        if bytes.isEmpty { bytes = [0] }
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return bytes
    }

    /// The ARI certificate identifier (RFC 9773 §4.1): base64url(AKI keyIdentifier)
    /// "." base64url(serial); nil when the certificate has no AKI.
    public var renewalInfoID: String? {
        CertificateSummary.renewalInfoID(authorityKeyIdentifier: authorityKeyIdentifier, serial: serialDERContent)
    }

    /// SHA-256 over the DER, lowercase hex: what `openssl x509 -fingerprint -sha256` shows.
    public var fingerprint: String { Digest.hex(Digest.sha256(der)) }

    /// PEM text with 64-character lines.
    public var pem: String {
        let body = Base64.encode(der, urlSafe: false)
        var lines: [Substring] = []
        var index = body.startIndex
        while index < body.endIndex {
            let next = body.index(index, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
            lines.append(body[index..<next])
            index = next
        }
        return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
    }

    /// Whether `key` is the private half of this certificate's public key.
    public func matches(_ key: PrivateKey) -> Bool {
        // A key whose public half cannot be encoded matches nothing.
        (try? key.publicKeyDER()) == publicKeyDER
    }

    /// `CN=…` or the first name, for messages; escaped and short, since it comes from the certificate.
    public var label: String {
        if let cn = subjectCommonName { return "CN=\(cn)".excerpt(64) }
        return (dnsNames.first ?? "serial \(serialHex)").excerpt(64)
    }

    /// Whether this is a CA certificate (basicConstraints CA:TRUE, or a v1 self-signed root),
    /// as OpenSSL's X509_check_ca judges it.
    public var isCA: Bool {
        guard let x509 = Certificate.x509(der) else { return false }
        defer { X509_free(x509) }
        return X509_check_ca(x509) != 0
    }

    /// Whether `issuer`'s key verifies this certificate's signature.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let subject = Certificate.x509(der), let parent = Certificate.x509(issuer.der) else { return false }
        defer { X509_free(subject); X509_free(parent) }
        guard let key = X509_get0_pubkey(parent) else { return false }
        let ok = X509_verify(subject, key) == 1
        ERR_clear_error()
        return ok
    }

    /// Whether this certificate is valid for `name` under RFC 6125 rules:
    /// exact match, or a `*.` wildcard covering exactly one leftmost label.
    public func covers(name: String) -> Bool {
        dnsNames.contains { Self.name(name, matches: $0) }
    }

    /// RFC 6125 matching of a DNS name (any case) against one certificate name
    /// pattern (as certificates carry them, lower case): equal, or `*.` standing
    /// for exactly the name's first label.
    public static func name(_ name: String, matches pattern: String) -> Bool {
        let name = name.lowercased()
        if pattern == name { return true }
        guard pattern.hasPrefix("*.") else { return false }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return false }
        return name[name.index(after: dot)...] == pattern.dropFirst(2)
    }

    public func isExpired(at date: Date = Date()) -> Bool { date >= notAfter }

    static func x509(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return d2i_X509(nil, &pointer, buffer.count)
        }
    }

    private static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index) else { return nil }
        return string(UnsafePointer(X509_NAME_ENTRY_get_data(entry)))
    }

    private static func string(_ asn1: UnsafePointer<ASN1_STRING>?) -> String? {
        guard let asn1 else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, asn1)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #file, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
