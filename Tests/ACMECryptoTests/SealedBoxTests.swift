import ACMECrypto
import Testing

@Suite("SealedBox: AES-256-GCM through OpenSSL")
struct SealedBoxTests {
    @Test("what is sealed opens with the same key and associated data, and only then")
    func roundTrip() throws {
        let key = try SealingKey.random(), other = try SealingKey.random()
        let secret = Array("-----BEGIN PRIVATE KEY-----\nMIG…\n".utf8)
        let box = try SealedBox.seal(secret, key: key, associatedData: Array("row 1".utf8))
        #expect(box.count == secret.count + SealedBox.overhead)
        #expect(!box.indices.dropLast(secret.count).contains { Array(box[$0..<($0 + secret.count)]) == secret }, "plaintext visible in the box")
        #expect(try SealedBox.open(box, key: key, associatedData: Array("row 1".utf8)) == secret)

        for (label, attempt) in [("another key", { try SealedBox.open(box, key: other, associatedData: Array("row 1".utf8)) }),
                                 ("another row", { try SealedBox.open(box, key: key, associatedData: Array("row 2".utf8)) }),
                                 ("a changed byte", { var changed = box; changed[20] ^= 1; return try SealedBox.open(changed, key: key, associatedData: Array("row 1".utf8)) }),
                                 ("a cut box", { try SealedBox.open(Array(box.prefix(10)), key: key, associatedData: Array("row 1".utf8)) })] {
            let error = #expect(throws: CryptoError.self, "\(label)") { try attempt() }
            #expect(error?.code == .sealedBoxRejected, "\(label)")
        }
    }

    @Test("every box has its own nonce; empty plaintext works; keys are 32 bytes and never printed")
    func nonces() throws {
        let key = try SealingKey(bytes: Array(repeating: 0x42, count: 32))
        let a = try SealedBox.seal([1, 2, 3], key: key, associatedData: [])
        let b = try SealedBox.seal([1, 2, 3], key: key, associatedData: [])
        #expect(a != b)
        #expect(try SealedBox.open(try SealedBox.seal([], key: key, associatedData: [9]), key: key, associatedData: [9]) == [])
        #expect(throws: CryptoError.self) { try SealingKey(bytes: Array(repeating: 1, count: 16)) }
        #expect("\(key)" == "SealingKey(AES-256-GCM)")
    }

    @Test("OpenSSL's AES-256-GCM: the NIST test vector (key 0, IV 0, one zero block)")
    func knownAnswer() throws {
        // GCM spec test case 14: K = 0^256, IV = 0^96, P = 0^128 → C = cea7403d4d606b6e074ec5d3baf39d18, T = d0d1c8a799996bf0265b98b5d48ab919.
        // The box draws its own nonce, so the vector is checked by opening a box built from it.
        let key = try SealingKey(bytes: Array(repeating: 0, count: 32))
        let box: [UInt8] = [1] + Array(repeating: 0, count: 12) + hex("cea7403d4d606b6e074ec5d3baf39d18") + hex("d0d1c8a799996bf0265b98b5d48ab919")
        #expect(try SealedBox.open(box, key: key, associatedData: []) == Array(repeating: 0, count: 16))
    }

    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
