import COpenSSL
import Glibc

/// A private key held by OpenSSL (EVP_PKEY): ECDSA P-256/P-384 or RSA.
/// Key material never leaves this type except as PEM or JWK on request, and
/// `description` never shows it.
public final class PrivateKey: @unchecked Sendable, CustomStringConvertible {
    let pkey: OpaquePointer
    public let type: KeyType

    private init(pkey: OpaquePointer) throws {
        self.pkey = pkey
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            guard EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, nil) == 1 else {
                EVP_PKEY_free(pkey)
                throw CryptoError.openssl("cannot read the curve of an EC key")
            }
            switch String(cString: name) {
            case "prime256v1", "P-256", "secp256r1": type = .ecdsa(.p256)
            case "secp384r1", "P-384": type = .ecdsa(.p384)
            case let other:
                EVP_PKEY_free(pkey)
                throw CryptoError(.invalidKey, "unsupported EC curve \(other): use P-256 or P-384")
            }
        case EVP_PKEY_RSA:
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= 2048 else {
                EVP_PKEY_free(pkey)
                throw CryptoError(.invalidKey, "RSA key of \(bits) bits is too small: use at least 2048")
            }
            // Keys come from files: an absurd size would make every signature take minutes.
            guard bits <= Self.maxRSABits else {
                EVP_PKEY_free(pkey)
                throw CryptoError(.invalidKey, "RSA key of \(bits) bits is larger than \(Self.maxRSABits): use 2048 to 4096")
            }
            type = .rsa(bits: bits)
        default:
            EVP_PKEY_free(pkey)
            throw CryptoError(.invalidKey, "unsupported key algorithm: use an ECDSA (P-256/P-384) or RSA key")
        }
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The largest RSA key acme reads (it makes 2048 to 4096).
    public static let maxRSABits = 8192

    public var description: String { "PrivateKey(\(type))" }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func generate(_ type: KeyType) throws -> PrivateKey {
        let algorithm: String
        switch type {
        case .ecdsa: algorithm = "EC"
        case .rsa(let bits):
            guard [2048, 3072, 4096].contains(bits) else { throw CryptoError(.invalidKey, "RSA keys must be 2048, 3072 or 4096 bits, not \(bits)") }
            algorithm = "RSA"
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw CryptoError.openssl("cannot create a key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw CryptoError.openssl("cannot start key generation") }
        switch type {
        case .ecdsa(let curve):
            guard EVP_PKEY_CTX_set_group_name(ctx, curve.groupName) == 1 else { throw CryptoError.openssl("cannot select curve \(curve.rawValue)") }
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else { throw CryptoError.openssl("cannot set RSA size \(bits)") }
        }
        var pkey: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else { throw CryptoError.openssl("key generation failed") }
        return try PrivateKey(pkey: pkey)
    }

    /// Loads an unencrypted PEM key: PKCS#8 ("PRIVATE KEY") or the
    /// traditional "EC PRIVATE KEY" / "RSA PRIVATE KEY" forms.
    /// An encrypted key is refused with its own error; OpenSSL's pass-phrase prompt is never
    /// reached (a callback that supplies no pass phrase replaces the default one, which would
    /// block on the terminal).
    public convenience init(pem: String) throws {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.contains("Proc-Type: 4,ENCRYPTED") {
            throw CryptoError(.encryptedKey, "the private key is encrypted with a pass phrase; acme needs it unencrypted (openssl pkey -in KEY -out KEY.plain)")
        }
        let loaded = try MemoryBIO.reading(Array(pem.utf8)) { bio in
            PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let loaded else { throw CryptoError.openssl("not a PEM private key (or it is encrypted)", .invalidKey) }
        try self.init(pkey: loaded)
    }

    /// Loads a private JWK (RFC 7517/7518): `kty` EC with crv/x/y/d, or RSA
    /// with n/e/d and, when present, the CRT members p/q/dp/dq/qi.
    public convenience init(jwk: [String: String]) throws {
        let parameters = try JWKParameters(jwk: jwk)
        let algorithm: String
        switch jwk["kty"] {
        case "EC":
            algorithm = "EC"
            try parameters.pushEC()
        case "RSA":
            algorithm = "RSA"
            try parameters.pushRSA()
        default:
            throw CryptoError(.invalidKey, "private JWK has unsupported kty \(jwk["kty"] ?? "(none)"): use EC or RSA")
        }
        let params = try parameters.build()
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw CryptoError.openssl("cannot create a key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &pkey, acme_EVP_PKEY_KEYPAIR, params) == 1, let pkey else {
            throw CryptoError.openssl("private JWK does not form a valid key", .invalidKey)
        }
        try self.init(pkey: pkey)
        // A JWK whose public half does not belong to its private half would
        // sign requests the CA attributes to another key; refuse it.
        // A signature made with the private half must verify with the public
        // half: as strict as EVP_PKEY_pairwise_check for this purpose, but that
        // call re-tests RSA primes and costs tens of milliseconds per start.
        guard signatureVerifies() else { throw CryptoError.openssl("private JWK is inconsistent: its private and public parts differ", .invalidKey) }
    }

    private func signatureVerifies() -> Bool {
        let message = Array("acme key consistency check".utf8)
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        var length = 0
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pkey) == 1,
              EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { return false }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { return false }
        guard let verify = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(verify) }
        let ok = EVP_DigestVerifyInit(verify, nil, EVP_sha256(), nil, pkey) == 1
            && EVP_DigestVerify(verify, signature, length, message, message.count) == 1
        ERR_clear_error()
        return ok
    }

    /// Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), what certbot writes.
    public func pemPKCS8() throws -> String {
        let bytes = try MemoryBIO.writing("cannot encode the private key") { bio in
            PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
    public func publicKeyPEM() throws -> String {
        let bytes = try MemoryBIO.writing("cannot encode the public key") { PEM_write_bio_PUBKEY($0, pkey) == 1 }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SubjectPublicKeyInfo DER.
    public func publicKeyDER() throws -> [UInt8] {
        try MemoryBIO.writing("cannot encode the public key") { i2d_PUBKEY_bio($0, pkey) == 1 }
    }

    public var jwsAlgorithm: String {
        switch type {
        case .ecdsa(let curve): curve.jwsAlgorithm
        case .rsa: "RS256"
        }
    }

    /// The public JWK with exactly the required members (RFC 7638 §3.2).
    public var publicJWK: JWK {
        switch type {
        case .ecdsa(let curve):
            let (x, y) = ecPoint(curve)
            return JWK(members: ["kty": "EC", "crv": curve.rawValue, "x": Base64URL.encode(x), "y": Base64URL.encode(y)])
        case .rsa:
            return JWK(members: ["kty": "RSA", "n": Base64URL.encode(bigParam(OSSL_PKEY_PARAM_RSA_N)!),
                                 "e": Base64URL.encode(bigParam(OSSL_PKEY_PARAM_RSA_E)!)])
        }
    }

    /// The private JWK, as certbot stores it in `private_key.json`.
    public func privateJWK() throws -> [String: String] {
        var members = publicJWK.members
        func add(_ name: String, _ param: String, width: Int? = nil) throws {
            guard let bytes = bigParam(param, width: width) else { throw CryptoError.openssl("cannot export key member \(name)") }
            members[name] = Base64URL.encode(bytes)
        }
        switch type {
        case .ecdsa(let curve):
            try add("d", OSSL_PKEY_PARAM_PRIV_KEY, width: curve.coordinateSize)
        case .rsa:
            try add("d", OSSL_PKEY_PARAM_RSA_D)
            try add("p", "rsa-factor1")
            try add("q", "rsa-factor2")
            try add("dp", "rsa-exponent1")
            try add("dq", "rsa-exponent2")
            try add("qi", "rsa-coefficient1")
        }
        return members
    }

    /// Signs `message` with SHA-256 (P-256, RSA) or SHA-384 (P-384). ECDSA
    /// signatures come back in JWS form: fixed-width r‖s, not DER.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.openssl("cannot allocate a signing context") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = type == .ecdsa(.p384) ? EVP_sha384() : EVP_sha256()
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1 else { throw CryptoError.openssl("cannot start signing") }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { throw CryptoError.openssl("signing failed") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { throw CryptoError.openssl("signing failed") }
        signature.removeSubrange(length...)
        guard case .ecdsa(let curve) = type else { return signature }
        var raw = [UInt8](repeating: 0, count: 2 * curve.coordinateSize)
        guard acme_ecdsa_der_to_raw(signature, signature.count, &raw, Int32(curve.coordinateSize)) == 1 else {
            throw CryptoError.openssl("cannot convert the ECDSA signature")
        }
        return raw
    }

    private func bigParam(_ name: String, width: Int? = nil) -> [UInt8]? {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else { return nil }
        defer { BN_clear_free(bn) }
        return bignumBytes(bn, width: width)
    }

    private func ecPoint(_ curve: ECCurve) -> (x: [UInt8], y: [UInt8]) {
        let x = bigParam(OSSL_PKEY_PARAM_EC_PUB_X, width: curve.coordinateSize) ?? []
        let y = bigParam(OSSL_PKEY_PARAM_EC_PUB_Y, width: curve.coordinateSize) ?? []
        return (x, y)
    }
}

/// The OSSL_PARAM builder a private JWK's members are pushed into. The builder keeps pointers
/// (names, strings, numbers) until OSSL_PARAM_BLD_to_param, so everything handed to it lives
/// as long as this object: no Swift temporaries.
private final class JWKParameters {
    let jwk: [String: String]
    let builder: OpaquePointer
    private var bignums: [OpaquePointer] = []
    private var buffers: [UnsafeMutableRawPointer] = []

    init(jwk: [String: String]) throws {
        guard let builder = OSSL_PARAM_BLD_new() else { throw CryptoError.openssl("cannot allocate key parameters") }
        self.jwk = jwk
        self.builder = builder
    }

    deinit {
        OSSL_PARAM_BLD_free(builder)
        bignums.forEach { BN_clear_free($0) }
        buffers.forEach { free($0) }
    }

    func member(_ name: String) throws -> [UInt8] {
        guard let text = jwk[name], let bytes = Base64URL.decode(text), !bytes.isEmpty else {
            throw CryptoError(.invalidKey, "private JWK lacks a valid \"\(name)\" member")
        }
        // No member of a key acme accepts is longer than an RSA modulus of maxRSABits: checked
        // before OpenSSL builds (and test-signs with) a key from numbers of any size.
        guard bytes.count <= PrivateKey.maxRSABits / 8 else {
            throw CryptoError(.invalidKey, "private JWK member \"\(name)\" is \(bytes.count) bytes, more than a \(PrivateKey.maxRSABits)-bit key has")
        }
        return bytes
    }

    func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(text)!
        buffers.append(UnsafeMutableRawPointer(copy))
        return copy
    }

    func pushBN(_ key: String, _ bytes: [UInt8]) throws {
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw CryptoError.openssl("bad JWK number", .invalidKey) }
        bignums.append(bn)
        guard OSSL_PARAM_BLD_push_BN(builder, cString(key), bn) == 1 else { throw CryptoError.openssl("bad JWK number", .invalidKey) }
    }

    /// The parameters pushed so far, to be freed with OSSL_PARAM_free.
    func build() throws -> UnsafeMutablePointer<OSSL_PARAM> {
        guard let params = OSSL_PARAM_BLD_to_param(builder) else { throw CryptoError.openssl("cannot build key parameters") }
        return params
    }

    /// crv, x, y (the public point) and d.
    func pushEC() throws {
        let curve: ECCurve
        switch jwk["crv"] {
        case "P-256": curve = .p256
        case "P-384": curve = .p384
        default: throw CryptoError(.invalidKey, "private JWK has unsupported curve \(jwk["crv"] ?? "(none)")")
        }
        let x = try member("x"), y = try member("y")
        guard x.count == curve.coordinateSize, y.count == curve.coordinateSize else {
            throw CryptoError(.invalidKey, "private JWK has coordinates of the wrong size for \(curve.rawValue)")
        }
        let point = [0x04] + x + y
        let pointBuffer = malloc(point.count)!
        buffers.append(pointBuffer)
        point.withUnsafeBytes { pointBuffer.copyMemory(from: $0.baseAddress!, byteCount: point.count) }
        guard OSSL_PARAM_BLD_push_utf8_string(builder, cString(OSSL_PKEY_PARAM_GROUP_NAME), cString(curve.groupName), 0) == 1,
              OSSL_PARAM_BLD_push_octet_string(builder, cString(OSSL_PKEY_PARAM_PUB_KEY), pointBuffer, point.count) == 1 else {
            throw CryptoError.openssl("bad EC JWK", .invalidKey)
        }
        try pushBN(OSSL_PKEY_PARAM_PRIV_KEY, try member("d"))
    }

    /// n, e, d and, when p is there, the CRT members.
    func pushRSA() throws {
        try pushBN(OSSL_PKEY_PARAM_RSA_N, try member("n"))
        try pushBN(OSSL_PKEY_PARAM_RSA_E, try member("e"))
        try pushBN(OSSL_PKEY_PARAM_RSA_D, try member("d"))
        if jwk["p"] != nil {
            try pushBN("rsa-factor1", try member("p"))
            try pushBN("rsa-factor2", try member("q"))
            try pushBN("rsa-exponent1", try member("dp"))
            try pushBN("rsa-exponent2", try member("dq"))
            try pushBN("rsa-coefficient1", try member("qi"))
        }
    }
}
