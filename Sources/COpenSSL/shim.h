#ifndef ACME_COPENSSL_SHIM_H
#define ACME_COPENSSL_SHIM_H
// OpenSSL 3 through Swift. Everything here is either a header include or a
// tiny static inline wrapper for what the Swift importer cannot see:
// function-like macros (BIO_get_mem_data, the sk_* stack accessors) and a
// few fixed-signature helpers around variadic/ownership-heavy calls.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/ssl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

/// Selection macros built from other macros are invisible to Swift.
static const int acme_EVP_PKEY_KEYPAIR = EVP_PKEY_KEYPAIR;

/// Bytes held by a memory BIO (BIO_get_mem_data is a macro).
static inline long acme_BIO_get_mem_data(BIO *bio, char **out) {
    return BIO_get_mem_data(bio, out);
}

/// Number of entries in a GENERAL_NAMES stack.
static inline int acme_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

/// The dNSName at index i, or NULL when that entry is another kind of name.
static inline const ASN1_IA5STRING *acme_general_names_dns(const GENERAL_NAMES *names, int i) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
    if (name == NULL || name->type != GEN_DNS) return NULL;
    return name->d.dNSName;
}

static inline void acme_general_names_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}

/// Adds a subjectAltName extension (value in openssl's "DNS:a,DNS:b" syntax)
/// to a certificate request. Returns 1 on success.
static inline int acme_x509_req_add_san(X509_REQ *req, const char *value) {
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, value);
    if (ext == NULL) return 0;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    if (exts == NULL) { X509_EXTENSION_free(ext); return 0; }
    int ok = sk_X509_EXTENSION_push(exts, ext) > 0 && X509_REQ_add_extensions(req, exts) == 1;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ok ? 1 : 0;
}

/// Converts a DER ECDSA signature to the fixed-width r||s form JWS wants
/// (RFC 7518 §3.4). `out` must hold 2*width bytes. Returns 1 on success.
static inline int acme_ecdsa_der_to_raw(const unsigned char *der, long length, unsigned char *out, int width) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, length);
    if (sig == NULL) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, out, width) == width && BN_bn2binpad(s, out + width, width) == width;
    ECDSA_SIG_free(sig);
    return ok ? 1 : 0;
}

/// Adds an X.509v3 extension given in openssl's config syntax ("CA:TRUE",
/// "keyid:always", "DNS:a,DNS:b") to `cert`; `issuer` is the certificate
/// whose key signs it (the certificate itself when self-signed), needed for
/// authorityKeyIdentifier. Returns 1 on success.
static inline int acme_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 1 : 0;
}

/// Adds the critical id-pe-acmeIdentifier extension (RFC 8737 §3): its value is the DER
/// OCTET STRING holding SHA-256 of the key authorization. Returns 1 on success.
static inline int acme_x509_add_acme_identifier(X509 *cert, const unsigned char *digest32) {
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    if (oid == NULL) return 0;
    unsigned char der[34];
    der[0] = 0x04; der[1] = 0x20;
    memcpy(der + 2, digest32, 32);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    int ok = value != NULL && ASN1_OCTET_STRING_set(value, der, sizeof der) == 1;
    X509_EXTENSION *ext = ok ? X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value) : NULL;
    ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    return ok ? 1 : 0;
}

/// ALPN for TLS-ALPN-01 (RFC 8737 §3): accept only "acme-tls/1", refuse every other handshake.
static inline int acme_alpn_select_acme_tls(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                            const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char wanted[] = "\x0a" "acme-tls/1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, wanted, sizeof wanted - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/// Refuses a ClientHello that does not offer acme-tls/1 at all: without this, a client
/// that sends no ALPN extension would complete a handshake and see the challenge certificate.
static inline int acme_client_hello_wants_acme_tls(SSL *ssl, int *alert, void *arg) {
    (void)arg;
    const unsigned char *ext = NULL;
    size_t length = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &length) == 1 && length >= 2) {
        size_t list = ((size_t)ext[0] << 8) | ext[1];
        size_t i = 2;
        while (i < 2 + list && i < length) {
            size_t n = ext[i];
            if (n == 10 && i + 1 + n <= length && memcmp(ext + i + 1, "acme-tls/1", 10) == 0) return SSL_CLIENT_HELLO_SUCCESS;
            i += 1 + n;
        }
    }
    *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
    return SSL_CLIENT_HELLO_ERROR;
}

static inline void acme_ssl_ctx_require_acme_tls(SSL_CTX *ctx) {
    SSL_CTX_set_client_hello_cb(ctx, acme_client_hello_wants_acme_tls, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, acme_alpn_select_acme_tls, NULL);
}

/// The SNI callback and its argument (both set through macros).
static inline void acme_ssl_ctx_set_servername_cb(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

static inline int acme_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// Offers ALPN protocols as a client (wire format: length-prefixed names).
static inline int acme_ssl_set_alpn(SSL *ssl, const unsigned char *protos, unsigned int length) {
    return SSL_set_alpn_protos(ssl, protos, length) == 0 ? 1 : 0;
}

/// A verify callback that notes each error and goes on, as `openssl s_client` does: the
/// connection's verify result is then the same number s_client prints.
static inline int acme_verify_continue(int ok, X509_STORE_CTX *ctx) { (void)ok; (void)ctx; return 1; }
static inline void acme_ssl_ctx_verify_and_continue(SSL_CTX *ctx) { SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, acme_verify_continue); }

static inline int acme_x509_stack_count(STACK_OF(X509) *stack) { return stack == NULL ? 0 : sk_X509_num(stack); }
static inline X509 *acme_x509_stack_value(STACK_OF(X509) *stack, int i) { return sk_X509_value(stack, i); }

static inline int acme_ssl_ctx_set_min_tls12(SSL_CTX *ctx) { return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
// A client that cannot use ECDSA (as old MTAs): TLS 1.2 at most, RSA-authenticated cipher suites
// and RSA signature algorithms only, so that a server with an ECDSA and an RSA certificate
// must present the RSA one (s_client -tls1_2 -cipher aRSA -sigalgs RSA-PSS+SHA256:RSA+SHA256).
static inline int acme_ssl_ctx_rsa_only(SSL_CTX *ctx) {
    return SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1
        && SSL_CTX_set_cipher_list(ctx, "aRSA:!aNULL:!eNULL") == 1
        && SSL_CTX_set1_sigalgs_list(ctx, "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512") == 1;
}
static const int acme_SSL_TLSEXT_ERR_ALERT_FATAL = SSL_TLSEXT_ERR_ALERT_FATAL;
static const int acme_SSL_TLSEXT_ERR_OK = SSL_TLSEXT_ERR_OK;
static const int acme_SSL_TLSEXT_ERR_NOACK = SSL_TLSEXT_ERR_NOACK;
static const int acme_TLSEXT_NAMETYPE_host_name = TLSEXT_NAMETYPE_host_name;

#endif
