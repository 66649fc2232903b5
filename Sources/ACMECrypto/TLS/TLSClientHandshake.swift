import COpenSSL
import Base
import Glibc

/// One TLS client handshake over a connected socket, as `acme check` needs it: SNI, the
/// peer's chain, and OpenSSL's verification verdict against a trust store with the
/// hostname check — the same verdict `openssl s_client -verify_hostname` reports. The
/// handshake completes even when verification fails, so the certificate can be shown.
public enum TLSClientHandshake {
    public struct Result: Sendable {
        /// As sent by the server: leaf first.
        public var chain: [Certificate]
        /// X509_V_OK (0) when the chain verifies and names `verifyName`.
        public var verifyCode: Int
        public var verifyMessage: String
        public var protocolVersion: String
        public var cipher: String
    }

    /// `caFile` nil: the system trust store. The handshake ends by `deadline` however slowly
    /// the server sends: the socket is non-blocking during the handshake (its flags are put back
    /// afterwards) and every wait for the server is a poll(2) on the time left, so a server that
    /// drips its handshake a byte at a time cannot stretch it. Past the deadline it throws.
    /// `rsaOnly`: offer only what a client without ECDSA offers (TLS 1.2, RSA cipher suites and
    /// signature algorithms), so that a server holding an RSA fallback certificate presents it.
    public static func run(fd: Int32, serverName: String?, verifyName: String?, caFile: String?,
                           deadline: ContinuousClock.Instant, rsaOnly: Bool = false) throws -> Result {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw CryptoError.openssl("cannot create a TLS client context") }
        defer { SSL_CTX_free(context) }
        if rsaOnly, acme_ssl_ctx_rsa_only(context) != 1 { throw CryptoError.openssl("cannot restrict the TLS client to RSA") }
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw CryptoError.openssl("cannot load CA certificates from \(caFile)")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw CryptoError.openssl("cannot load the system trust store") }
        }
        acme_ssl_ctx_verify_and_continue(context)  // report the verdict (s_client's number) instead of aborting
        guard let ssl = SSL_new(context) else { throw CryptoError.openssl("cannot create a TLS connection") }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, fd)
        if let serverName, acme_ssl_set_sni(ssl, serverName) != 1 { throw CryptoError.openssl("cannot set SNI \(serverName)") }
        if let verifyName, SSL_set1_host(ssl, verifyName) != 1 { throw CryptoError.openssl("cannot set the name to verify \(verifyName)") }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        while true {
            ERR_clear_error()
            let rc = SSL_connect(ssl)
            if rc == 1 { break }
            let events: Int32
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_READ: events = Int32(POLLIN)
            case SSL_ERROR_WANT_WRITE: events = Int32(POLLOUT)
            default: throw CryptoError.openssl("TLS handshake failed")
            }
            try wait(fd, events, until: deadline)
        }
        var chain: [Certificate] = []
        let stack = SSL_get_peer_cert_chain(ssl)
        for index in 0..<acme_x509_stack_count(stack) {
            // A peer certificate OpenSSL cannot re-encode is left out of the list; the verify
            // result below still judges the chain OpenSSL received.
            if let x509 = acme_x509_stack_value(stack, index),
               let der = try? MemoryBIO.writing("cannot encode a peer certificate", { i2d_X509_bio($0, x509) == 1 }) {
                chain.append(try Certificate(der: der))
            }
        }
        let code = Int(SSL_get_verify_result(ssl))
        let result = Result(chain: chain, verifyCode: code, verifyMessage: String(cString: X509_verify_cert_error_string(CLong(code))),
                            protocolVersion: String(cString: SSL_get_version(ssl)),
                            cipher: SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "")
        SSL_shutdown(ssl)  // non-blocking: sends close_notify if it can, never waits for the answer
        ERR_clear_error()
        return result
    }

    /// Until `fd` is ready for `events`; throws once `deadline` has passed.
    private static func wait(_ fd: Int32, _ events: Int32, until deadline: ContinuousClock.Instant) throws {
        while true {
            let left = deadline - .now
            guard left > .zero else { throw CryptoError(.openssl, "the TLS handshake did not finish by the deadline") }
            let (seconds, attoseconds) = left.components
            let milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
            BlockingCheck.willWait("a TLS handshake (poll)")
            let ready = poll(&entry, 1, milliseconds)
            if ready == 1 { return }
            if ready < 0 && errno != EINTR { throw CryptoError(.openssl, "cannot wait for the TLS peer: \(String(cString: strerror(errno)))") }
        }
    }
}

extension Certificate {
    /// "ECDSA P-256", "RSA 2048", … for display.
    public func keyDescription() -> String {
        guard let x509 = Certificate.x509(der) else { return "unknown" }
        defer { X509_free(x509) }
        guard let key = X509_get0_pubkey(x509) else { return "unknown" }
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: return "RSA \(bits)"
        case EVP_PKEY_EC: return bits == 384 ? "ECDSA P-384" : bits == 256 ? "ECDSA P-256" : "ECDSA \(bits)"
        case EVP_PKEY_ED25519: return "Ed25519"
        default: return "\(bits)-bit key"
        }
    }
}
