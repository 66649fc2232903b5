import Base
import COpenSSL

/// The elliptic curves ACME CAs accept for certificate and account keys.
public enum ECCurve: String, Sendable, Hashable {
    case p256 = "P-256"
    case p384 = "P-384"

    /// OpenSSL's group name.
    var groupName: String { self == .p256 ? "prime256v1" : "secp384r1" }
    /// Bytes in one coordinate and in one half of a JWS signature.
    var coordinateSize: Int { self == .p256 ? 32 : 48 }
    var jwsAlgorithm: String { self == .p256 ? "ES256" : "ES384" }
    /// certbot's `elliptic_curve` value.
    public var secName: String { self == .p256 ? "secp256r1" : "secp384r1" }
}

/// What kind of key to generate: ECDSA on a curve or RSA of a size.
public enum KeyType: Sendable, Hashable, CustomStringConvertible {
    case ecdsa(ECCurve)
    case rsa(bits: Int)

    /// Accepts the spellings users know from certbot, lego and acme.sh:
    /// `ec256`, `ecdsa`, `p256`, `secp256r1`, `prime256v1`, `ec384`, `p384`,
    /// `secp384r1`, `rsa` (2048), `rsa2048`, `rsa3072`, `rsa4096`.
    public init?(parsing text: String) {
        switch text.lowercased() {
        case "ec256", "ecdsa", "ec", "p256", "p-256", "secp256r1", "prime256v1", "ec-256": self = .ecdsa(.p256)
        case "ec384", "p384", "p-384", "secp384r1", "ec-384": self = .ecdsa(.p384)
        case "rsa", "rsa2048", "2048": self = .rsa(bits: 2048)
        case "rsa3072", "3072": self = .rsa(bits: 3072)
        case "rsa4096", "4096": self = .rsa(bits: 4096)
        default: return nil
        }
    }

    /// A flag value such as `ec256`, or a usage error naming `flag`.
    public init(parsing text: String, flag: String) throws {
        guard let type = KeyType(parsing: text) else {
            throw CryptoError(.invalidKeyType, "\(flag) \(text) is not one of ec256, ec384, rsa2048, rsa3072, rsa4096")
        }
        self = type
    }

    /// ECDSA or RSA: the family that decides which TLS clients can use a certificate.
    public var isECDSA: Bool {
        if case .ecdsa = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .ecdsa(.p256): "ec256"
        case .ecdsa(.p384): "ec384"
        case .rsa(let bits): "rsa\(bits)"
        }
    }
}

/// A failure inside OpenSSL or in key/certificate input, as one line.
public typealias CryptoError = ModuleError<ACMECryptoModule>
public enum ACMECryptoModule {}

extension ModuleError where Module == ACMECryptoModule {
    /// `what` plus the reason OpenSSL queued, clearing its error queue.
    static func openssl(_ what: String, _ code: Code = .openssl) -> CryptoError {
        var reason = ""
        var queued = ERR_get_error()
        while queued != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(queued, &buffer, buffer.count)
            reason = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            queued = ERR_get_error()
        }
        return CryptoError(code, reason.isEmpty ? what : "\(what): \(reason)")
    }
}

extension ErrorCode where Domain == CryptoError {
    /// Not a usable certificate (PEM, DER, validity).
    public static var invalidCertificate: Self { Self("crypto.invalidCertificate", .localState) }
    /// A key type name that is not one of ours (a flag value).
    public static var invalidKeyType: Self { Self("crypto.invalidKeyType", .usage) }
    /// A private key protected by a pass phrase, which acme never asks for.
    public static var encryptedKey: Self { Self("crypto.encryptedKey", .localState) }
    /// Not a usable private key (PEM, JWK, algorithm, size).
    public static var invalidKey: Self { Self("crypto.invalidKey", .localState) }
    /// Input to a CSR or certificate that cannot be encoded.
    public static var invalidInput: Self { Self("crypto.invalidInput", .localState) }
    /// OpenSSL failed, with its queued reason.
    public static var openssl: Self { Self("crypto.openssl", .localState) }
}
