import Testing
@testable import ACMECrypto

@Suite("Known answers from the RFCs")
struct KnownAnswerTests {
    @Test("RFC 7638 §3.1 thumbprint")
    func thumbprint() {
        let jwk = JWK(members: ["kty": "RSA", "e": "AQAB", "n": Vectors.rfc7638Modulus])
        #expect(jwk.thumbprint == Vectors.rfc7638Thumbprint)
        #expect(jwk.json.hasPrefix("{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7"))
    }

    @Test("RFC 7515 A.2: RS256 is deterministic and matches the published signature")
    func rs256Vector() throws {
        let key = try PrivateKey(jwk: Vectors.a2Key)
        #expect(key.type == .rsa(bits: 2048))
        #expect(key.jwsAlgorithm == "RS256")
        let signature = try key.sign(Array("\(Vectors.a2Header).\(Vectors.payload)".utf8))
        #expect(Base64URL.encode(signature) == Vectors.a2Signature)
        // Exporting gives back the same members certbot would store.
        let exported = try key.privateJWK()
        #expect(exported == Vectors.a2Key)
    }

    @Test("RFC 7515 A.3: the published ES256 signature verifies with the imported key")
    func es256Vector() async throws {
        let key = try PrivateKey(jwk: Vectors.a3Key)
        #expect(key.type == .ecdsa(.p256))
        #expect(key.publicJWK.members["x"] == Vectors.a3Key["x"])
        #expect(key.publicJWK.members["y"] == Vectors.a3Key["y"])
        let input = "\(Vectors.a3Header).\(Vectors.payload)"
        let published = try #require(Base64URL.decode(Vectors.a3Signature))
        #expect(try await OpenSSLCLI.verify(signature: published, input: input, publicKeyPEM: key.publicKeyPEM(), digest: "sha256", ecdsa: true))
        // Our own (randomised) signature is 64 raw bytes and verifies too.
        let ours = try key.sign(Array(input.utf8))
        #expect(ours.count == 64)
        #expect(try await OpenSSLCLI.verify(signature: ours, input: input, publicKeyPEM: key.publicKeyPEM(), digest: "sha256", ecdsa: true))
        #expect(try await !OpenSSLCLI.verify(signature: ours, input: input + "x", publicKeyPEM: key.publicKeyPEM(), digest: "sha256", ecdsa: true))
    }

    @Test("RFC 4231 test case 2: HMAC-SHA256")
    func hmac() {
        let mac = Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("base64url round trips and rejects garbage", arguments: [0, 1, 2, 3, 4, 31, 32, 33, 255])
    func base64(length: Int) throws {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let text = Base64URL.encode(bytes)
        #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
        #expect(Base64URL.decode(text) == bytes)
        #expect(Base64URL.decode(text + "!") == nil)
    }
}
