import Foundation
import Synchronization
import TestFixtures
import Testing

/// `acme issue` against Pebble while another loopback address (127.0.0.2) floods the
/// responder's port with 100 slow connections: Pebble validates from 127.0.0.1 and must still
/// get its answer. Before the responders limited connections per client address, the flood
/// took every slot (HTTP-01) or the one handshake at a time (TLS-ALPN-01) and validation failed.
@Suite("challenge responders under a flood, against Pebble", .serialized, .integration)
struct FloodTests {
    @Test("HTTP-01: acme issue succeeds while 127.0.0.2 holds 100 slow connections to the responder's port")
    func http01() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("flood-http") + "/le"
        let flood = Flooder(host: "127.0.0.1", port: pebble.httpPort, source: "127.0.0.2", count: 100, duration: 120,
                            drip: Array("GET / HTTP/1.1\r\nHost: flood.example.test\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 200))
        flood.start()
        defer { flood.stop() }
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "flood.example.test", "-d", "smtp.flood.example.test"]
                             + pebble.acmeArguments(configDir: dir), timeout: 150)
        flood.stop()
        #expect(result.status == 0, "acme issue failed during the flood (\(flood)): \(result.output)")
        #expect(flood.established.load(ordering: .relaxed) > 0, "the flood never reached the responder: \(flood)")
        #expect(flood.closedByServer.load(ordering: .relaxed) > 0, "the responder refused none of the flood: \(flood)")
        if result.status == 0 {
            try LineageChecks(configDir: dir, name: "flood.example.test")
                .verify(names: ["flood.example.test", "smtp.flood.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        }
    }

    @Test("TLS-ALPN-01: acme issue succeeds while 127.0.0.2 holds 100 slow connections to the responder's port")
    func tlsALPN01() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("flood-alpn") + "/le"
        // A TLS handshake record header announcing a 512-byte ClientHello that never completes.
        let flood = Flooder(host: "127.0.0.1", port: pebble.tlsPort, source: "127.0.0.2", count: 100, duration: 120,
                            drip: [22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3] + [UInt8](repeating: 7, count: 200))
        flood.start()
        defer { flood.stop() }
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "alpnflood.example.test", "-d", "smtp.alpnflood.example.test",
                                                      "--tls-alpn-01-port", String(pebble.tlsPort), "--tls-alpn-01-address", "127.0.0.1",
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                      "--config-dir", dir, "--agree-tos"], timeout: 150)
        flood.stop()
        #expect(result.status == 0, "acme issue failed during the flood (\(flood)): \(result.output)")
        #expect(result.stderr.contains("validating 2 names with tls-alpn-01"), "\(result.output)")
        #expect(flood.established.load(ordering: .relaxed) > 0, "the flood never reached the responder: \(flood)")
        if result.status == 0 {
            try LineageChecks(configDir: dir, name: "alpnflood.example.test")
                .verify(names: ["alpnflood.example.test", "smtp.alpnflood.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        }
    }
}
