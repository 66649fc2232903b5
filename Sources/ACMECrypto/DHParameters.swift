import COpenSSL

/// Finite-field Diffie-Hellman parameters ("BEGIN DH PARAMETERS"), as Postfix
/// and Dovecot read them for DHE cipher suites.
public enum DHParameters {
    /// RFC 7919 ffdhe4096, the default group: a named, well-studied prime
    /// instead of a locally generated one.
    public static let ffdhe4096PEM = """
    -----BEGIN DH PARAMETERS-----
    MIICCAKCAgEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
    +8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
    87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
    YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
    7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
    ssbzSibBsu/6iGtCOGEfz9zeNVs7ZRkDW7w09N75nAI4YbRvydbmyQd62R0mkff3
    7lmMsPrBhtkcrv4TCYUTknC0EwyTvEN5RPT9RFLi103TZPLiHnH1S/9croKrnJ32
    nuhtK8UiNjoNq8Uhl5sN6todv5pC1cRITgq80Gv6U93vPBsg7j/VnXwl5B0rZp4e
    8W5vUsMWTfT7eTDp5OWIV7asfV9C1p9tGHdjzx1VA0AEh/VbpX4xzHpxNciG77Qx
    iu1qHgEtnmgyqQdgCpGBMMRtx3j5ca0AOAkpmaMzy4t6Gh25PXFAADwqTs6p+Y0K
    zAqCkc3OyX3Pjsm1Wn+IpGtNtahR9EGC4caKAH5eZV9q//////////8CAQI=
    -----END DH PARAMETERS-----

    """

    /// Size in bits of the prime in `pem`, or nil when `pem` holds no DH parameters.
    public static func bits(pem: String) -> Int? {
        let bytes = Array(pem.utf8)
        // nil is the answer "no DH parameters", whatever OpenSSL disliked.
        return try? MemoryBIO.reading(bytes) { bio -> Int? in
            guard let pkey = PEM_read_bio_Parameters(bio, nil) else { ERR_clear_error(); return nil }
            defer { EVP_PKEY_free(pkey) }
            guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_DH else { return nil }
            return Int(EVP_PKEY_get_bits(pkey))
        } ?? nil
    }
}
