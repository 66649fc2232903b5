import Foundation
import Testing
@testable import ACMECrypto

@Suite("Locally built certificates, checked by openssl verify")
struct CertificateBuilderTests {
    @Test("a CA and a leaf signed by it verify with openssl; names, dates and key match", arguments: [
        KeyType.ecdsa(.p256), .rsa(bits: 2048),
    ])
    func caAndLeaf(type: KeyType) async throws {
        let now = Date()
        let caKey = try PrivateKey.generate(type)
        let ca = try CertificateBuilder.make(commonName: "Test Root", dnsNames: [], key: caKey,
                                             notBefore: now - 60, notAfter: now + 86400 * 30, isCA: true, issuer: nil)
        let leafKey = try PrivateKey.generate(.ecdsa(.p256))
        let leaf = try CertificateBuilder.make(commonName: "mail.example.test", dnsNames: ["mail.example.test", "*.example.test"],
                                               key: leafKey, notBefore: now - 60, notAfter: now + 86400 * 7, isCA: false,
                                               issuer: .init(certificate: ca, key: caKey))
        #expect(leaf.dnsNames == ["mail.example.test", "*.example.test"])
        #expect(leaf.issuerCommonName == "Test Root")
        #expect(leaf.matches(leafKey) && !leaf.matches(caKey))
        #expect(leaf.isSigned(by: ca) && ca.isSigned(by: ca) && !ca.isSigned(by: leaf))
        #expect(abs(leaf.notAfter.timeIntervalSince(now + 86400 * 7)) < 2)
        #expect(leaf.covers(name: "imap.example.test") && !leaf.covers(name: "a.b.example.test"))

        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ca.pem.write(to: dir.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        try leaf.pem.write(to: dir.appendingPathComponent("leaf.pem"), atomically: true, encoding: .utf8)
        let out = try await OpenSSLCLI.run(["verify", "-CAfile", dir.appendingPathComponent("ca.pem").path,
                                      "-purpose", "sslserver", dir.appendingPathComponent("leaf.pem").path])
        #expect(out.contains("leaf.pem: OK"))
    }

    @Test("an expired certificate can be made and is reported expired")
    func expired() throws {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let now = Date()
        let cert = try CertificateBuilder.make(commonName: "old.example.test", dnsNames: ["old.example.test"], key: key,
                                               notBefore: now - 86400 * 100, notAfter: now - 86400, isCA: false, issuer: nil)
        #expect(cert.isExpired())
        #expect(throws: CryptoError.self) {
            try CertificateBuilder.make(commonName: "x", dnsNames: [], key: key, notBefore: now, notAfter: now - 1, isCA: false, issuer: nil)
        }
    }
}
