import Base
import COpenSSL

/// A 256-bit key for `SealedBox` (AES-256-GCM).
public struct SealingKey: Sendable {
    /// The key's 32 bytes. Never printed: `description` leaves them out.
    let bytes: [UInt8]

    public static let length = 32

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.length else {
            throw CryptoError(.invalidKey, "an AES-256-GCM key is \(Self.length) bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// 32 bytes from OpenSSL's CSPRNG.
    public static func random() throws -> SealingKey {
        try SealingKey(bytes: try Random.bytes(length))
    }
}

extension SealingKey: CustomStringConvertible {
    public var description: String { "SealingKey(AES-256-GCM)" }
}

/// Random bytes from OpenSSL's CSPRNG.
public enum Random {
    public static func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&out, Int32(count)) == 1 else { throw CryptoError.openssl("cannot draw random bytes") }
        return out
    }
}

/// Authenticated encryption with AES-256-GCM through OpenSSL's EVP layer.
///
/// A sealed box is `0x01 ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`. The
/// associated data is not stored: the caller passes the same bytes to `open` (e.g. which row a
/// value belongs to), so a box moved to another row, or opened with another key, fails its tag
/// check instead of yielding garbage.
public enum SealedBox {
    static let format: UInt8 = 1
    public static let nonceLength = 12
    public static let tagLength = 16
    /// Bytes a box adds to its plaintext.
    public static let overhead = 1 + nonceLength + tagLength

    public static func seal(_ plaintext: [UInt8], key: SealingKey, associatedData: [UInt8]) throws -> [UInt8] {
        let nonce = try Random.bytes(nonceLength)
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("cannot create a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1 else {
            throw CryptoError.openssl("cannot start AES-256-GCM encryption")
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            guard EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw CryptoError.openssl("cannot add associated data")
            }
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var written: Int32 = 0
        if !plaintext.isEmpty {
            guard EVP_EncryptUpdate(context, &ciphertext, &written, plaintext, Int32(plaintext.count)) == 1 else {
                throw CryptoError.openssl("cannot encrypt")
            }
        }
        var final: Int32 = 0
        let finished = ciphertext.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }
        guard finished == 1 else { throw CryptoError.openssl("cannot finish encryption") }
        var tag = [UInt8](repeating: 0, count: tagLength)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagLength), &tag) == 1 else {
            throw CryptoError.openssl("cannot read the GCM tag")
        }
        return [format] + nonce + ciphertext.prefix(Int(written + final)) + tag
    }

    /// The plaintext, or `crypto.sealedBoxRejected` when the box was made with another key,
    /// for other associated data, or was changed.
    public static func open(_ box: [UInt8], key: SealingKey, associatedData: [UInt8]) throws -> [UInt8] {
        guard box.count >= overhead, box[0] == format else {
            throw CryptoError(.sealedBoxRejected, "not an AES-256-GCM sealed box of this format (\(box.count) bytes)")
        }
        let nonce = Array(box[1..<(1 + nonceLength)])
        let ciphertext = Array(box[(1 + nonceLength)..<(box.count - tagLength)])
        var tag = Array(box.suffix(tagLength))
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("cannot create a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1 else {
            throw CryptoError.openssl("cannot start AES-256-GCM decryption")
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            guard EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw CryptoError.openssl("cannot add associated data")
            }
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var written: Int32 = 0
        if !ciphertext.isEmpty {
            guard EVP_DecryptUpdate(context, &plaintext, &written, ciphertext, Int32(ciphertext.count)) == 1 else {
                throw CryptoError.openssl("cannot decrypt")
            }
        }
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), &tag) == 1 else {
            throw CryptoError.openssl("cannot set the GCM tag")
        }
        var final: Int32 = 0
        let verified = plaintext.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }
        // Nothing decrypted leaves this function unless the tag verified.
        guard verified == 1 else {
            ERR_clear_error()
            for i in plaintext.indices { plaintext[i] = 0 }
            throw CryptoError(.sealedBoxRejected, "the sealed data does not open with this key (another key, another row, or changed bytes)")
        }
        return Array(plaintext.prefix(Int(written + final)))
    }
}

extension ErrorCode where Domain == CryptoError {
    /// A sealed box whose tag does not verify: another key, other associated data, or changed bytes.
    public static var sealedBoxRejected: Self { Self("crypto.sealedBoxRejected", .localState) }
}
