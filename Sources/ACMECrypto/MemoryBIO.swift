import COpenSSL

/// Memory BIO helpers: OpenSSL reads and writes PEM/DER through BIOs.
enum MemoryBIO {
    /// Runs `body` with a read-only BIO over `bytes`.
    static func reading<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw CryptoError.openssl("cannot allocate a memory BIO")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with an empty writable BIO and returns what it wrote.
    static func writing(_ what: String, _ body: (OpaquePointer) -> Bool) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openssl("cannot allocate a memory BIO") }
        defer { BIO_free(bio) }
        guard body(bio) else { throw CryptoError.openssl(what) }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = acme_BIO_get_mem_data(bio, &pointer)
        guard length > 0, let pointer else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }
}

/// Big-endian unsigned bytes of a BIGNUM, left-padded to `width` when given.
func bignumBytes(_ bn: OpaquePointer, width: Int? = nil) -> [UInt8] {
    let size = width ?? Int((BN_num_bits(bn) + 7) / 8)
    var out = [UInt8](repeating: 0, count: max(size, 1))
    if width != nil {
        _ = BN_bn2binpad(bn, &out, Int32(size))
    } else {
        let written = BN_bn2bin(bn, &out)
        out = Array(out.prefix(Int(max(written, 1))))
    }
    return out
}
