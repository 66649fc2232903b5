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
#endif
