import COpenSSL

/// PKCS#10 certificate signing requests.
public enum CSR {
    /// DER CSR for `names`: every name as a DNS subjectAltName, the first
    /// (when it fits the 64-character limit) also as the subject CN.
    public static func der(names: [String], key: PrivateKey) throws -> [UInt8] {
        guard !names.isEmpty else { throw CryptoError(.invalidInput, "a CSR needs at least one name") }
        guard let req = X509_REQ_new() else { throw CryptoError.openssl("cannot allocate a CSR") }
        defer { X509_REQ_free(req) }
        guard X509_REQ_set_version(req, 0) == 1 else { throw CryptoError.openssl("cannot set the CSR version") }
        if names[0].utf8.count <= 64 {
            let subject = X509_REQ_get_subject_name(req)
            guard X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, names[0], -1, -1, 0) == 1 else {
                throw CryptoError.openssl("cannot set the CSR subject")
            }
        }
        for name in names where name.contains(",") || name.contains(":") {
            throw CryptoError(.invalidInput, "invalid name for a CSR: \(name)")
        }
        let san = names.map { "DNS:\($0)" }.joined(separator: ",")
        guard acme_x509_req_add_san(req, san) == 1 else { throw CryptoError.openssl("cannot add subjectAltName to the CSR") }
        guard X509_REQ_set_pubkey(req, key.pkey) == 1 else { throw CryptoError.openssl("cannot set the CSR key") }
        let md = key.type == .ecdsa(.p384) ? EVP_sha384() : EVP_sha256()
        guard X509_REQ_sign(req, key.pkey, md) > 0 else { throw CryptoError.openssl("cannot sign the CSR") }
        return try MemoryBIO.writing("cannot encode the CSR") { i2d_X509_REQ_bio($0, req) == 1 }
    }
}
