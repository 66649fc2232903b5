import COpenSSL
import Synchronization

/// The TLS side of a TLS-ALPN-01 responder (RFC 8737): completes handshakes that offer
/// only the `acme-tls/1` protocol, presenting for the requested SNI name the challenge
/// certificate registered for it, and nothing else. Sockets are the caller's business.
public final class ChallengeTLSServer: @unchecked Sendable {
    private let context: OpaquePointer
    /// An X509 pointer owned by the table (freed on removal) and its key.
    struct Entry: @unchecked Sendable {
        let x509: OpaquePointer
        let key: PrivateKey
    }
    fileprivate let certificates = Mutex<[String: Entry]>([:])

    public init() throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw CryptoError.openssl("cannot create a TLS server context") }
        self.context = context
        acme_ssl_ctx_set_min_tls12(context)
        acme_ssl_ctx_require_acme_tls(context)
        acme_ssl_ctx_set_servername_cb(context, { ssl, _, arg in
            guard let ssl, let arg, let name = SSL_get_servername(ssl, acme_TLSEXT_NAMETYPE_host_name) else {
                return acme_SSL_TLSEXT_ERR_ALERT_FATAL
            }
            let server = Unmanaged<ChallengeTLSServer>.fromOpaque(arg).takeUnretainedValue()
            let wanted = String(cString: name).lowercased()
            return server.certificates.withLock { table in
                guard let entry = table[wanted],
                      SSL_use_certificate(ssl, entry.x509) == 1, SSL_use_PrivateKey(ssl, entry.key.pkey) == 1 else {
                    return acme_SSL_TLSEXT_ERR_ALERT_FATAL
                }
                return acme_SSL_TLSEXT_ERR_OK
            }
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        SSL_CTX_free(context)
        certificates.withLock { table in for entry in table.values { X509_free(entry.x509) } }
    }

    /// Serves `certificate` to handshakes with SNI `identifier` until `remove`.
    public func add(identifier: String, certificate: Certificate, key: PrivateKey) throws {
        guard let x509 = Certificate.x509(certificate.der) else { throw CryptoError.openssl("cannot load the challenge certificate") }
        let entry = Entry(x509: x509, key: key)
        let name = identifier.lowercased()
        certificates.withLock { table in
            if let old = table[name] { X509_free(old.x509) }
            table[name] = entry
        }
    }

    public func remove(identifier: String) {
        let name = identifier.lowercased()
        certificates.withLock { table in
            if let old = table.removeValue(forKey: name) { X509_free(old.x509) }
        }
    }

    /// Runs one server handshake on a connected, blocking socket (the caller sets its
    /// timeouts and closes it). Returns the SNI name served, or nil when the client did
    /// not ask for a live name over `acme-tls/1`.
    public func handshake(fd: Int32) -> String? {
        guard let ssl = SSL_new(context) else { return nil }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, fd)
        let ok = SSL_accept(ssl) == 1
        let name = SSL_get_servername(ssl, acme_TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        if ok { SSL_shutdown(ssl) }
        ERR_clear_error()
        return ok ? name : nil
    }
}
