import COpenSSL

/// Hashes and MACs, all through OpenSSL's EVP layer.
public enum Digest {
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, EVP_sha256()) }

    /// Hex MD5; certbot names accounts by the MD5 of the public key PEM.
    public static func md5Hex(_ bytes: [UInt8]) -> String { hex(digest(bytes, EVP_md5())) }

    /// Lowercase hex, two digits per byte.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The hash functions HMAC is offered with (EAB uses SHA-256; TSIG keys SHA-256 or SHA-512).
    public enum HMACHash: Sendable {
        case sha256, sha512

        var md: OpaquePointer? {
            switch self {
            case .sha256: EVP_sha256()
            case .sha512: EVP_sha512()
            }
        }

        /// The MAC's length in bytes.
        public var length: Int { self == .sha256 ? 32 : 64 }
    }

    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] { hmac(.sha256, key: key, message: message) }

    public static func hmac(_ hash: HMACHash, key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(hash.md, k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
            }
        }
        precondition(ok != nil, "HMAC failed inside OpenSSL")
        return Array(out.prefix(Int(length)))
    }

    /// Whether two MACs are equal, in time independent of where they differ.
    public static func equalMACs(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    private static func digest(_ bytes: [UInt8], _ md: OpaquePointer?) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { EVP_Digest($0.baseAddress, $0.count, &out, &length, md, nil) }
        precondition(ok == 1, "digest failed inside OpenSSL")
        return Array(out.prefix(Int(length)))
    }
}
