import COpenSSL
import FoundationEssentials

/// Creates X.509 certificates locally: a self-signed CA, or a leaf signed by
/// such a CA. For test CAs and self-signed mail-server certificates; an ACME
/// CA issues the real ones.
public enum CertificateBuilder {
    public struct Issuer {
        public let certificate: Certificate
        public let key: PrivateKey
        public init(certificate: Certificate, key: PrivateKey) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// A certificate for `key` with subject CN `commonName` and the DNS names
    /// as subjectAltName. `issuer` nil means self-signed. CA certificates get
    /// basicConstraints CA:TRUE and keyCertSign; leaves CA:FALSE and serverAuth.
    public static func make(commonName: String, dnsNames: [String], key: PrivateKey,
                            notBefore: Date, notAfter: Date, isCA: Bool, issuer: Issuer?) throws -> Certificate {
        try make(commonName: commonName, dnsNames: dnsNames, key: key, notBefore: notBefore, notAfter: notAfter,
                 isCA: isCA, issuer: issuer, acmeIdentifier: nil)
    }

    /// The self-signed certificate a TLS-ALPN-01 responder presents for `identifier`
    /// (RFC 8737 §3): SAN = the name, critical acmeIdentifier = SHA-256(keyAuthorization).
    public static func tlsALPNChallenge(identifier: String, keyAuthorization: String) throws -> (certificate: Certificate, key: PrivateKey) {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let now = Date()
        let certificate = try make(commonName: identifier, dnsNames: [identifier], key: key, notBefore: now.addingTimeInterval(-3600),
                                   notAfter: now.addingTimeInterval(7 * 86_400), isCA: false, issuer: nil,
                                   acmeIdentifier: Digest.sha256(Array(keyAuthorization.utf8)))
        return (certificate, key)
    }

    static func make(commonName: String, dnsNames: [String], key: PrivateKey, notBefore: Date, notAfter: Date,
                     isCA: Bool, issuer: Issuer?, acmeIdentifier: [UInt8]?) throws -> Certificate {
        guard notAfter > notBefore else { throw CryptoError(.invalidInput, "a certificate must end after it starts") }
        guard let cert = X509_new() else { throw CryptoError.openssl("cannot allocate a certificate") }
        defer { X509_free(cert) }
        guard X509_set_version(cert, 2) == 1 else { throw CryptoError.openssl("cannot set the certificate version") }

        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, 16) == 1 else { throw CryptoError.openssl("cannot draw a serial number") }
        serial[0] &= 0x7f  // positive
        serial[0] |= 0x01  // and never shorter than 16 bytes
        guard let bn = BN_bin2bn(serial, 16, nil) else { throw CryptoError.openssl("cannot build the serial") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nil else { throw CryptoError.openssl("cannot set the serial") }

        guard ASN1_TIME_set(X509_getm_notBefore(cert), time_t(notBefore.timeIntervalSince1970)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(cert), time_t(notAfter.timeIntervalSince1970)) != nil
        else { throw CryptoError.openssl("cannot set the validity period") }

        let subject = X509_get_subject_name(cert)
        guard X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1 else {
            throw CryptoError.openssl("cannot set the subject \(commonName)")
        }
        guard X509_set_pubkey(cert, key.pkey) == 1 else { throw CryptoError.openssl("cannot set the certificate key") }

        let issuerX509: OpaquePointer?
        if let issuer {
            guard let parsed = Certificate.x509(issuer.certificate.der) else { throw CryptoError.openssl("cannot read the issuer certificate") }
            issuerX509 = parsed
            guard X509_set_issuer_name(cert, X509_get_subject_name(parsed)) == 1 else { throw CryptoError.openssl("cannot set the issuer") }
        } else {
            issuerX509 = nil
            guard X509_set_issuer_name(cert, subject) == 1 else { throw CryptoError.openssl("cannot set the issuer") }
        }
        defer { if let issuerX509 { X509_free(issuerX509) } }

        for name in dnsNames where name.contains(",") || name.contains(":") {
            throw CryptoError(.invalidInput, "invalid DNS name for a certificate: \(name)")
        }
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, isCA ? "critical,CA:TRUE" : "critical,CA:FALSE"),
            (NID_key_usage, isCA ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature,keyEncipherment"),
            (NID_subject_key_identifier, "hash"),
            (NID_authority_key_identifier, "keyid:always"),
        ]
        if !isCA { extensions.append((NID_ext_key_usage, "serverAuth,clientAuth")) }
        if !dnsNames.isEmpty { extensions.append((NID_subject_alt_name, dnsNames.map { "DNS:\($0)" }.joined(separator: ","))) }
        for (nid, value) in extensions {
            guard acme_x509_add_ext(cert, issuerX509 ?? cert, nid, value) == 1 else {
                throw CryptoError.openssl("cannot add certificate extension \(value)")
            }
        }

        if let acmeIdentifier {
            guard acmeIdentifier.count == 32, acme_x509_add_acme_identifier(cert, acmeIdentifier) == 1 else {
                throw CryptoError.openssl("cannot add the acmeIdentifier extension")
            }
        }
        let signer = issuer?.key ?? key
        let md = signer.type == .ecdsa(.p384) ? EVP_sha384() : EVP_sha256()
        guard X509_sign(cert, signer.pkey, md) > 0 else { throw CryptoError.openssl("cannot sign the certificate") }
        let der = try MemoryBIO.writing("cannot encode the certificate") { i2d_X509_bio($0, cert) == 1 }
        return try Certificate(der: der)
    }
}
