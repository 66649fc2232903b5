import Foundation
import ACME
import TestFixtures
import Testing
@testable import Challenges

/// The TLS-ALPN-01 responder seen through `openssl s_client`.
@Suite("TLS-ALPN-01 responder on real sockets", .serialized, .integration)
struct TLSALPNResponderTests {
    func sClient(port: Int, name: String, alpn: String?) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", name, "-showcerts"] + (alpn.map { ["-alpn", $0] } ?? [])
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("presents the challenge certificate (SAN, critical acmeIdentifier with SHA-256 of the key authorization) only over acme-tls/1 and only for live names")
    func presents() throws {
        let responder = try TLSALPN01Responder(address: "127.0.0.1", port: 0)
        try responder.add(identifier: "alpn.example.test", keyAuthorization: "token.thumbprint")
        try responder.start()
        defer { responder.stop() }

        let good = try sClient(port: responder.port, name: "alpn.example.test", alpn: "acme-tls/1")
        #expect(good.output.contains("ALPN protocol: acme-tls/1"), "\(good.output)")
        #expect(responder.hasServed(identifier: "alpn.example.test"))
        guard let begin = good.output.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = good.output.range(of: "-----END CERTIFICATE-----") else {
            Issue.record("no certificate in the handshake: \(good.output)")
            return
        }
        let pem = String(good.output[begin.lowerBound..<end.upperBound]) + "\n"
        let file = NSTemporaryDirectory() + "alpn-\(UUID().uuidString).pem"
        try pem.write(toFile: file, atomically: true, encoding: .utf8)
        let text = Process()
        text.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        text.arguments = ["x509", "-in", file, "-noout", "-text"]
        let pipe = Pipe()
        text.standardOutput = pipe
        try text.run()
        let dump = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        text.waitUntilExit()
        #expect(dump.contains("DNS:alpn.example.test"), "\(dump)")
        #expect(dump.contains("1.3.6.1.5.5.7.1.31: critical"), "\(dump)")
        // SHA-256("token.thumbprint") as a DER OCTET STRING (04 20 …) inside the extension's value.
        let body = pem.components(separatedBy: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = [UInt8](Data(base64Encoded: body) ?? Data())
        let wanted: [UInt8] = [0x04, 0x20] + SHA256Hex.digest("token.thumbprint")
        let found = der.count >= wanted.count && (0...(der.count - wanted.count)).contains { Array(der[$0..<$0 + wanted.count]) == wanted }
        #expect(found, "acmeIdentifier value is not SHA-256 of the key authorization: \(dump)")

        // No acme-tls/1 offered, or a name that is not live: no handshake.
        let plain = try sClient(port: responder.port, name: "alpn.example.test", alpn: nil)
        #expect(!plain.output.contains("BEGIN CERTIFICATE"), "served without acme-tls/1: \(plain.output)")
        let other = try sClient(port: responder.port, name: "other.example.test", alpn: "acme-tls/1")
        #expect(!other.output.contains("BEGIN CERTIFICATE"), "served an unknown name: \(other.output)")
        responder.remove(identifier: "alpn.example.test")
        let removed = try sClient(port: responder.port, name: "alpn.example.test", alpn: "acme-tls/1")
        #expect(!removed.output.contains("BEGIN CERTIFICATE"), "served after remove: \(removed.output)")
    }

    @Test("the TLS-ALPN-01 solver tells the order flow when the CA has fetched: after an acme-tls/1 handshake for every name")
    func solverSeesFetch() async throws {
        let solver = try TLSALPNSolver(address: "127.0.0.1", port: 0)
        try await solver.present(identifier: "a.alpn.test", token: "t1", keyAuthorization: "t1.thumb")
        try await solver.present(identifier: "b.alpn.test", token: "t2", keyAuthorization: "t2.thumb")
        let both = [PresentedChallenge(identifier: "a.alpn.test", token: "t1"), PresentedChallenge(identifier: "B.Alpn.Test", token: "t2")]
        #expect(await solver.waitForFetch(both, limit: .milliseconds(50)) == false, "fetched before any handshake")
        _ = try sClient(port: solver.port, name: "b.alpn.test", alpn: nil)
        _ = try sClient(port: solver.port, name: "a.alpn.test", alpn: "acme-tls/1")
        #expect(await solver.waitForFetch(both, limit: .milliseconds(50)) == false, "one of two names (and a plain TLS client) counted as all")
        // Waiting starts before the CA's last handshake and ends with it, long before the limit.
        let waiter = Task { await solver.waitForFetch(both, limit: .seconds(60)) }
        let last = try sClient(port: solver.port, name: "b.alpn.test", alpn: "acme-tls/1")
        #expect(last.output.contains("ALPN protocol: acme-tls/1"), "\(last.output)")
        #expect(await waiter.value, "the fetch of both names was not seen")
        await solver.cleanup(identifier: "a.alpn.test", token: "t1")
        await solver.cleanup(identifier: "b.alpn.test", token: "t2")
    }
}

enum SHA256Hex {
    /// SHA-256(text), computed by openssl.
    static func digest(_ text: String) -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["dgst", "-sha256", "-binary"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try? process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        let result = [UInt8](output.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        return result
    }
}
