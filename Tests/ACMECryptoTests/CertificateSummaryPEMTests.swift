import Foundation
import Testing
@testable import ACMECrypto

/// `CertificateSummary(pem:)` finds the first certificate of a PEM text (a leaf file, a
/// fullchain, a file with OpenSSL's "Bag Attributes" text before it) and refuses text without one.
@Suite("certificate summary from PEM")
struct CertificateSummaryPEMTests {
    static func pair() throws -> (leaf: Certificate, ca: Certificate) {
        let caKey = try PrivateKey.generate(.ecdsa(.p256))
        let start = Date(timeIntervalSince1970: 1_760_000_000)
        let ca = try CertificateBuilder.make(commonName: "CA", dnsNames: [], key: caKey, notBefore: start,
                                             notAfter: start.addingTimeInterval(86_400 * 365), isCA: true, issuer: nil)
        let leaf = try CertificateBuilder.make(commonName: "mail.example.test", dnsNames: ["mail.example.test", "MX.Example.test"],
                                               key: try PrivateKey.generate(.ecdsa(.p256)), notBefore: start.addingTimeInterval(60),
                                               notAfter: start.addingTimeInterval(86_400 * 90), isCA: false,
                                               issuer: CertificateBuilder.Issuer(certificate: ca, key: caKey))
        return (leaf, ca)
    }

    @Test("the first certificate of a leaf file, a fullchain, or a file with text before it")
    func firstCertificate() throws {
        let (leaf, ca) = try Self.pair()
        for text in [leaf.pem, leaf.pem + ca.pem, "Bag Attributes\n    friendlyName: mail\nsubject=CN=mail.example.test\n" + leaf.pem + ca.pem,
                     leaf.pem.replacingOccurrences(of: "\n", with: "\r\n")] {
            let summary = try CertificateSummary(pem: text)
            #expect(summary.notBefore == leaf.notBefore && summary.notAfter == leaf.notAfter)
            #expect(summary.serialHex == leaf.serialHex)
            #expect(summary.dnsNames == ["mail.example.test", "mx.example.test"])
        }
        #expect(try CertificateSummary(pem: ca.pem + leaf.pem).serialHex == ca.serialHex, "the first one, not the leaf")
    }

    @Test("text without a whole certificate is refused", arguments: [
        "", "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n", "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    ])
    func refused(_ text: String) {
        #expect((#expect(throws: CryptoError.self) { try CertificateSummary(pem: text) })?.code == .invalidCertificate)
    }

    @Test("the PEM body decoder accepts and refuses exactly what Base64.decode does")
    func decoderAgrees() {
        let fixed = ["", "TWFu", "TWE=", "TWE", "TQ==", "TQ", "T", "TR==", "TWE=x", "TWE= ", "TW\r\nFu\n", "a-_b", "a+/b",
                     "====", "TWFu=TWFu", "TWF!", "TWFu\u{0}", "TWFuTWE\t=\n", "é"]
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        let alphabet = Array("ABCxyz019+/-_= \n\r\t!.".utf8)
        var random: [String] = []
        for _ in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(seed % 13) {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(alphabet[Int(seed >> 33) % alphabet.count])
            }
            random.append(String(decoding: bytes, as: UTF8.self))
        }
        for text in fixed + random {
            #expect(CertificateSummary.base64(ArraySlice(text.utf8)) == Base64.decode(text), "\(text.debugDescription)")
        }
    }
}
