import Base
import Foundation
import Testing
@testable import ACMECrypto

@Suite("ARI certificate identifier")
struct RenewalInfoIDTests {
    /// RFC 9773 §4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
    /// and serial 0x0087654321 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". Built with openssl.
    @Test("the RFC 9773 example, from a certificate openssl made")
    func rfcExample() async throws {
        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.path
        try await OpenSSLCLI.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p + "/ca.key",
                            "-out", p + "/ca.pem", "-days", "2", "-subj", "/CN=ARI test CA",
                            "-addext", "subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4"])
        try await OpenSSLCLI.run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p + "/leaf.key",
                            "-out", p + "/leaf.csr", "-subj", "/CN=ari.example.test"])
        try "authorityKeyIdentifier=keyid:always\n".write(toFile: p + "/ext.cnf", atomically: true, encoding: .utf8)
        try await OpenSSLCLI.run(["x509", "-req", "-in", p + "/leaf.csr", "-CA", p + "/ca.pem", "-CAkey", p + "/ca.key", "-set_serial", "0x87654321",
                            "-days", "1", "-extfile", p + "/ext.cnf", "-out", p + "/leaf.pem"])
        let leaf = try Certificate(pem: try String(contentsOfFile: p + "/leaf.pem", encoding: .utf8))
        #expect(leaf.serialDERContent == [0x00, 0x87, 0x65, 0x43, 0x21])
        #expect(leaf.renewalInfoID == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        let summary = try CertificateSummary(pem: leaf.pem)
        #expect(summary.renewalInfoID == leaf.renewalInfoID && summary.serialHex == leaf.serialHex)
        #expect(summary.notBefore == leaf.notBefore && summary.notAfter == leaf.notAfter)
    }

    @Test("the DER summary agrees with OpenSSL on validity, serial and AKI, across dates and serial lengths")
    func summaryAgreesWithOpenSSL() throws {
        let caKey = try PrivateKey.generate(.ecdsa(.p256))
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        let ca = try CertificateBuilder.make(commonName: "CA", dnsNames: [], key: caKey, notBefore: start,
                                             notAfter: start.addingTimeInterval(86_400 * 3650), isCA: true, issuer: nil)
        let issuer = CertificateBuilder.Issuer(certificate: ca, key: caKey)
        // UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5).
        let day: Double = 86_400
        let cases: [(Double, Double)] = [(0, 6 * day), (-400 * day, 90 * day), (0, 365 * 40 * day)]
        for (offset, end) in cases {
            let leaf = try CertificateBuilder.make(commonName: "a.example.test", dnsNames: ["a.example.test"],
                                                   key: try PrivateKey.generate(.ecdsa(.p256)),
                                                   notBefore: start.addingTimeInterval(offset), notAfter: start.addingTimeInterval(end),
                                                   isCA: false, issuer: issuer)
            let summary = try CertificateSummary(der: leaf.der)
            #expect(summary.notBefore == leaf.notBefore && summary.notAfter == leaf.notAfter, "\(offset) \(end)")
            #expect(summary.serialHex == leaf.serialHex)
            #expect(summary.serialDERContent == leaf.serialDERContent)
            #expect(summary.authorityKeyIdentifier == leaf.authorityKeyIdentifier && summary.authorityKeyIdentifier != nil)
        }
        #expect((#expect(throws: CryptoError.self) { try CertificateSummary(der: [0x30, 0x03, 0x02, 0x01]) })?.code == .invalidCertificate)
        // Many random serials, so that the ones with a leading zero nibble (1 in 16) are met every run.
        for _ in 0..<64 {
            let leaf = try CertificateBuilder.make(commonName: "s.example.test", dnsNames: ["s.example.test"], key: caKey,
                                                   notBefore: start, notAfter: start.addingTimeInterval(day), isCA: false, issuer: issuer)
            #expect(try CertificateSummary(der: leaf.der).serialHex == leaf.serialHex, "serial \(leaf.serialHex)")
        }
    }
}
