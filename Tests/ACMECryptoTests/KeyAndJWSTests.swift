import Base
import Foundation
import Testing
@testable import ACMECrypto

@Suite("Keys, JWS, CSR and certificates checked by OpenSSL itself")
struct KeyAndJWSTests {
    static let allTypes: [KeyType] = [.ecdsa(.p256), .ecdsa(.p384), .rsa(bits: 2048), .rsa(bits: 3072)]

    @Test("key type spellings", arguments: [
        ("ec256", KeyType.ecdsa(.p256)), ("ecdsa", .ecdsa(.p256)), ("secp384r1", .ecdsa(.p384)),
        ("ec384", .ecdsa(.p384)), ("rsa", .rsa(bits: 2048)), ("rsa4096", .rsa(bits: 4096)),
    ])
    func parsing(text: String, type: KeyType) {
        #expect(KeyType(parsing: text) == type)
    }

    @Test("unknown key types are rejected")
    func badKeyType() {
        #expect(KeyType(parsing: "rsa1024") == nil)
        #expect(KeyType(parsing: "ed25519") == nil)
    }

    @Test("PEM round trip, JWK round trip, flattened JWS verified by openssl", arguments: allTypes)
    func roundTrip(type: KeyType) async throws {
        let key = try PrivateKey.generate(type)
        #expect(key.type == type)
        let pem = try key.pemPKCS8()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let reloaded = try PrivateKey(pem: pem)
        #expect(reloaded.publicJWK == key.publicJWK)
        let fromJWK = try PrivateKey(jwk: try key.privateJWK())
        #expect(fromJWK.publicJWK == key.publicJWK)
        #expect(!String(describing: key).contains("BEGIN"))

        let jws = try JWS.sign(payload: "{\"a\":1}", url: "https://ca.test/new", nonce: "n0nce", key: key, keyID: nil)
        let object = try #require(JSONSerialization.jsonObject(with: Data(jws.utf8)) as? [String: String])
        let protected = try #require(object["protected"]), payload = try #require(object["payload"])
        let headerBytes = try #require(Base64URL.decode(protected))
        let header = try #require(JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])
        #expect(header["alg"] as? String == key.jwsAlgorithm)
        #expect(header["nonce"] as? String == "n0nce")
        #expect(header["url"] as? String == "https://ca.test/new")
        #expect(header["kid"] == nil)
        #expect((header["jwk"] as? [String: String]) == key.publicJWK.members)
        #expect(Base64URL.decode(payload) == Array("{\"a\":1}".utf8))
        let signatureText = try #require(object["signature"])
        let signature = try #require(Base64URL.decode(signatureText))
        let digest = type == .ecdsa(.p384) ? "sha384" : "sha256"
        let isEC = if case .ecdsa = type { true } else { false }
        #expect(try await OpenSSLCLI.verify(signature: signature, input: "\(protected).\(payload)", publicKeyPEM: key.publicKeyPEM(), digest: digest, ecdsa: isEC))
    }

    @Test("kid header and POST-as-GET")
    func kidAndEmptyPayload() throws {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let jws = try JWS.sign(payload: nil, url: "https://ca.test/order/1", nonce: "abc", key: key, keyID: "https://ca.test/acct/7")
        let object = try #require(JSONSerialization.jsonObject(with: Data(jws.utf8)) as? [String: String])
        #expect(object["payload"] == "")
        let headerBytes = try #require(Base64URL.decode(object["protected"]!))
        let header = try #require(JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])
        #expect(header["kid"] as? String == "https://ca.test/acct/7")
        #expect(header["jwk"] == nil)
    }

    @Test("external account binding is an HS256 MAC over the account JWK")
    func eab() throws {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let mac = Array("a secret of the CA".utf8)
        let jws = try JWS.externalAccountBinding(accountKey: key.publicJWK, keyID: "kid-1", macKey: mac, url: "https://ca.test/new-acct")
        let object = try #require(JSONSerialization.jsonObject(with: Data(jws.utf8)) as? [String: String])
        let protected = object["protected"]!, payload = object["payload"]!
        #expect(Base64URL.decode(payload) == Array(key.publicJWK.json.utf8))
        let header = String(decoding: Base64URL.decode(protected)!, as: UTF8.self)
        #expect(header == "{\"alg\":\"HS256\",\"kid\":\"kid-1\",\"url\":\"https://ca.test/new-acct\"}")
        #expect(Base64URL.decode(object["signature"]!) == Digest.hmacSHA256(key: mac, message: Array("\(protected).\(payload)".utf8)))
    }

    @Test("CSR carries every name as a SAN and verifies", arguments: [KeyType.ecdsa(.p256), .rsa(bits: 2048)])
    func csr(type: KeyType) async throws {
        let key = try PrivateKey.generate(type)
        let names = ["mail.example.test", "smtp.example.test", "imap.example.test"]
        let der = try CSR.der(names: names, key: key)
        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("req.der")
        try Data(der).write(to: file)
        let text = try await OpenSSLCLI.run(["req", "-inform", "DER", "-in", file.path, "-noout", "-text", "-verify"])
        for name in names { #expect(text.contains("DNS:\(name)")) }
        #expect(text.contains("CN = mail.example.test"))
    }

    @Test("certificate inspection agrees with openssl x509")
    func certificate() async throws {
        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("key.pem"), certFile = dir.appendingPathComponent("cert.pem")
        let key = try PrivateKey.generate(.ecdsa(.p256))
        try key.pemPKCS8().write(to: keyFile, atomically: true, encoding: .utf8)
        try await OpenSSLCLI.run(["req", "-x509", "-key", keyFile.path, "-out", certFile.path, "-days", "30",
                            "-subj", "/CN=mail.example.test", "-addext", "subjectAltName=DNS:mail.example.test,DNS:*.example.test",
                            "-set_serial", "0x1234abcd"])
        let cert = try Certificate(pem: try String(contentsOf: certFile, encoding: .utf8))
        #expect(cert.subjectCommonName == "mail.example.test")
        #expect(cert.issuerCommonName == "mail.example.test")
        #expect(cert.dnsNames == ["mail.example.test", "*.example.test"])
        #expect(cert.serialHex == "1234abcd")
        let days = cert.notAfter.timeIntervalSince(cert.notBefore) / 86400
        #expect(days > 29.9 && days < 30.1)
        #expect(cert.matches(key))
        #expect(!cert.matches(try PrivateKey.generate(.ecdsa(.p256))))
        #expect(cert.isSigned(by: cert))
        #expect(cert.covers(name: "smtp.example.test"))
        #expect(!cert.covers(name: "a.b.example.test"))
        #expect(!cert.covers(name: "example.test"))
        // PEM re-encoding is byte-identical to what openssl wrote.
        #expect(cert.pem == (try String(contentsOf: certFile, encoding: .utf8)))
        #expect(try Certificate.chain(pem: cert.pem + cert.pem).count == 2)
        #expect((#expect(throws: CryptoError.self) { try Certificate(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") })?.code == .invalidCertificate)
    }

    @Test("bad key input gives a clear error")
    func badKeys() {
        #expect((#expect(throws: CryptoError.self) { try PrivateKey(pem: "not a key") })?.code == .invalidKey)
        #expect((#expect(throws: CryptoError.self) { try PrivateKey(jwk: ["kty": "oct", "k": "AAAA"]) })?.code == .invalidKey)
        var broken = Vectors.a3Key
        broken["d"] = Vectors.a3Key["x"]
        #expect((#expect(throws: CryptoError.self) { try PrivateKey(jwk: broken) })?.code == .invalidKey)
    }
}

@Suite("Private JWK consistency")
struct JWKConsistencyTests {
    @Test("a private JWK whose public part belongs to another key is refused", arguments: [
        KeyType.ecdsa(.p256), .rsa(bits: 2048),
    ])
    func mismatched(type: KeyType) throws {
        var jwk = try PrivateKey.generate(type).privateJWK()
        let other = try PrivateKey.generate(type).privateJWK()
        for member in ["n", "x", "y"] where jwk[member] != nil { jwk[member] = other[member] }
        #expect((#expect(throws: CryptoError.self) { try PrivateKey(jwk: jwk) })?.code == .invalidKey)
    }
}
