import Foundation
import TestFixtures
@testable import ACMECrypto

/// The openssl command line as an independent verifier of what we produce.
enum OpenSSLCLI {
    struct Failure: Error, CustomStringConvertible { var description: String }

    @discardableResult
    static func run(_ arguments: [String], input: Data? = nil) async throws -> String {
        let result = try await runTool("/usr/bin/openssl", arguments, input: input ?? Data())
        guard result.status == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
        return result.output
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("acme-crypto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Verifies a JWS signature over `input` with `publicKeyPEM` using
    /// `openssl dgst`. ECDSA signatures are converted from r‖s to DER first.
    static func verify(signature: [UInt8], input: String, publicKeyPEM: String, digest: String, ecdsa: Bool) async throws -> Bool {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("pub.pem"), sig = dir.appendingPathComponent("sig"), data = dir.appendingPathComponent("data")
        try publicKeyPEM.write(to: key, atomically: true, encoding: .utf8)
        try Data(ecdsa ? derECDSA(signature) : signature).write(to: sig)
        try Data(input.utf8).write(to: data)
        do {
            let out = try await run(["dgst", "-\(digest)", "-verify", key.path, "-signature", sig.path, data.path])
            return out.contains("Verified OK")
        } catch {
            return false
        }
    }

    /// r‖s → DER SEQUENCE { INTEGER r, INTEGER s }.
    static func derECDSA(_ raw: [UInt8]) -> [UInt8] {
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var body = Array(bytes.drop(while: { $0 == 0 }))
            if body.isEmpty || body[0] & 0x80 != 0 { body.insert(0, at: 0) }
            return [0x02, UInt8(body.count)] + body
        }
        let half = raw.count / 2
        let content = integer(raw[..<half]) + integer(raw[half...])
        return [0x30, UInt8(content.count)] + content
    }
}
