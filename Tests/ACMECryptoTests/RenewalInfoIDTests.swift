import Foundation
import Testing
@testable import ACMECrypto

@Suite("ARI certificate identifier")
struct RenewalInfoIDTests {
    /// RFC 9773 §4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
    /// and serial 0x0087654321 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". Built with openssl.
    @Test("the RFC 9773 example, from a certificate openssl made")
    func rfcExample() throws {
        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.path
        try OpenSSLCLI.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p + "/ca.key",
                            "-out", p + "/ca.pem", "-days", "2", "-subj", "/CN=ARI test CA",
                            "-addext", "subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4"])
        try OpenSSLCLI.run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p + "/leaf.key",
                            "-out", p + "/leaf.csr", "-subj", "/CN=ari.example.test"])
        try "authorityKeyIdentifier=keyid:always\n".write(toFile: p + "/ext.cnf", atomically: true, encoding: .utf8)
        try OpenSSLCLI.run(["x509", "-req", "-in", p + "/leaf.csr", "-CA", p + "/ca.pem", "-CAkey", p + "/ca.key", "-set_serial", "0x87654321",
                            "-days", "1", "-extfile", p + "/ext.cnf", "-out", p + "/leaf.pem"])
        let leaf = try Certificate(pem: try String(contentsOfFile: p + "/leaf.pem", encoding: .utf8))
        #expect(leaf.serialDERContent == [0x00, 0x87, 0x65, 0x43, 0x21])
        #expect(leaf.renewalInfoID == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    }
}
