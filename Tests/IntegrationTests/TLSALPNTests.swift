import Foundation
import TestFixtures
import Testing

@Suite("TLS-ALPN-01 against Pebble", .serialized, .integration)
struct TLSALPNTests {
    @Test("issue over TLS-ALPN-01 on Pebble's tlsPort, saved for renewal, renewed the same way")
    func issueAndRenew() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("alpn") + "/le"
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "alpn.example.test", "-d", "smtp.alpn.example.test",
                                                      "--tls-alpn-01-port", String(pebble.tlsPort), "--tls-alpn-01-address", "127.0.0.1",
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                      "--config-dir", dir, "--agree-tos"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("validating 2 names with tls-alpn-01"), "\(result.output)")
        try LineageChecks(configDir: dir, name: "alpn.example.test")
            .verify(names: ["alpn.example.test", "smtp.alpn.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        let conf = try String(contentsOfFile: dir + "/renewal/alpn.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = acme-tls-alpn") && conf.contains("tls_alpn_01_port = \(pebble.tlsPort)"), "\(conf)")
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(renewed.status == 0 && renewed.stdout.contains("alpn.example.test: renewed"), "\(renewed.output)")

        let both = try run(TestSupport.acmeBinary, ["issue", "-d", "x.example.test", "--tls-alpn-01-port", "443", "--webroot", "/tmp"])
        #expect(both.status == 64 && both.stderr.contains("give one"), "\(both.output)")
    }
}
