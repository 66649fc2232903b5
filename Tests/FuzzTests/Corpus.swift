import ACMECrypto
import Foundation
import TestFixtures

/// Valid inputs to mutate, generated in the test: real keys and certificates from ACMECrypto,
/// renewal confs as certbot 2.x writes them, JSON documents as CAs, certbot and Traefik write them.
/// Built once per process, on first use.
enum Corpus {
    // MARK: Keys and certificates

    struct Crypto: @unchecked Sendable {
        var ec256: PrivateKey
        var ec384: PrivateKey
        var rsa2048: PrivateKey
        /// A CA (P-256), a P-384 leaf and an RSA leaf it signed, a self-signed leaf and a
        /// TLS-ALPN-01 challenge certificate (with the critical acmeIdentifier extension).
        var ca: Certificate
        var leaf: Certificate
        var leafRSA: Certificate
        var selfSigned: Certificate
        var alpn: Certificate

        // Derived once: generators run thousands of times.
        let keys: [PrivateKey]
        let certificates: [Certificate]
        let keyPEMs: [String]
        let certificatePEMs: [String]
        let chainPEMs: [String]
        let ders: [[UInt8]]
        let jwks: [[String: String]]
        let publicKeyPEM: String

        init(ec256: PrivateKey, ec384: PrivateKey, rsa2048: PrivateKey, ca: Certificate, leaf: Certificate, leafRSA: Certificate,
             selfSigned: Certificate, alpn: Certificate) throws {
            (self.ec256, self.ec384, self.rsa2048) = (ec256, ec384, rsa2048)
            (self.ca, self.leaf, self.leafRSA, self.selfSigned, self.alpn) = (ca, leaf, leafRSA, selfSigned, alpn)
            keys = [ec256, ec384, rsa2048]
            certificates = [ca, leaf, leafRSA, selfSigned, alpn]
            keyPEMs = try keys.map { try $0.pemPKCS8() }
            certificatePEMs = certificates.map(\.pem)
            chainPEMs = [leaf.pem + ca.pem, leafRSA.pem + ca.pem, selfSigned.pem, alpn.pem, ca.pem]
            ders = certificates.map(\.der)
            jwks = try keys.map { try $0.privateJWK() }
            publicKeyPEM = try ec256.publicKeyPEM()
        }
    }

    static let fqdn = "mail.example.com"

    /// Fresh keys and certificates, or those kept in FUZZ_CORPUS_DIR (written there the first time),
    /// so that case numbers reproduce byte for byte across runs.
    static let crypto: Crypto = {
        let names = ["ec256.key", "ec384.key", "rsa2048.key", "ca.crt", "leaf.crt", "leaf-rsa.crt", "self-signed.crt", "alpn.crt"]
        if let directory = FuzzConfig.current.corpusDir {
            let texts = names.compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
            if texts.count == names.count, let loaded = try? Crypto(
                ec256: PrivateKey(pem: texts[0]), ec384: PrivateKey(pem: texts[1]), rsa2048: PrivateKey(pem: texts[2]),
                ca: Certificate(pem: texts[3]), leaf: Certificate(pem: texts[4]), leafRSA: Certificate(pem: texts[5]),
                selfSigned: Certificate(pem: texts[6]), alpn: Certificate(pem: texts[7])) {
                return loaded
            }
        }
        let made = try! generate()
        if let directory = FuzzConfig.current.corpusDir {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let texts = made.keyPEMs + made.certificatePEMs
            for (name, text) in zip(names, texts) {
                try? text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            }
        }
        return made
    }()

    private static func generate() throws -> Crypto {
        let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
        let ec256 = try PrivateKey.generate(.ecdsa(.p256))
        let ec384 = try PrivateKey.generate(.ecdsa(.p384))
        let rsa2048 = try PrivateKey.generate(.rsa(bits: 2048))
        let ca = try CertificateBuilder.make(commonName: "Fuzz Root CA", dnsNames: [], key: ec256, notBefore: now.addingTimeInterval(-86_400),
                                             notAfter: now.addingTimeInterval(3650 * 86_400), isCA: true, issuer: nil)
        let issuer = CertificateBuilder.Issuer(certificate: ca, key: ec256)
        let names = [fqdn, "smtp.example.com", "*.imap.example.com"]
        let leaf = try CertificateBuilder.make(commonName: fqdn, dnsNames: names, key: ec384, notBefore: now,
                                               notAfter: now.addingTimeInterval(90 * 86_400), isCA: false, issuer: issuer)
        let leafRSA = try CertificateBuilder.make(commonName: fqdn, dnsNames: names, key: rsa2048, notBefore: now,
                                                  notAfter: now.addingTimeInterval(90 * 86_400), isCA: false, issuer: issuer)
        let selfSigned = try CertificateBuilder.make(commonName: "self.example.com", dnsNames: ["self.example.com"], key: ec384,
                                                     notBefore: now, notAfter: now.addingTimeInterval(365 * 86_400), isCA: false, issuer: nil)
        let alpn = try CertificateBuilder.tlsALPNChallenge(identifier: fqdn, keyAuthorization: "token.thumbprint").certificate
        return try Crypto(ec256: ec256, ec384: ec384, rsa2048: rsa2048, ca: ca, leaf: leaf, leafRSA: leafRSA, selfSigned: selfSigned, alpn: alpn)
    }

    static let pemTokens = [
        "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----", "-----END EC PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED",
        "DEK-Info: AES-128-CBC,00000000000000000000000000000000", "-----BEGIN PUBLIC KEY-----", "-----BEGIN X509 CRL-----",
        "-----BEGIN TRUSTED CERTIFICATE-----", "-----", "=", "==", "\n\n", "MII", "AAAA", "////", "----",
    ]

    /// A PEM block around `der`, 64 characters a line (or `width`).
    static func pem(_ label: String, _ der: [UInt8], width: Int = 64) -> String {
        let body = Data(der).base64EncodedString()
        var lines: [Substring] = []
        var index = body.startIndex
        while index < body.endIndex {
            let next = body.index(index, offsetBy: max(1, width), limitedBy: body.endIndex) ?? body.endIndex
            lines.append(body[index..<next])
            index = next
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }

    /// The DER inside the first PEM block of `text`.
    static func der(_ text: String) -> [UInt8] {
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body).map(Array.init) ?? []
    }

    /// A PEM text whose DER was mutated, re-encoded as valid base64: reaches OpenSSL's DER
    /// decoders instead of stopping at the base64 check.
    static func mutatedPEM(der: [UInt8], label: String, _ rng: inout SplitMix64) -> [UInt8] {
        var der = der
        for _ in 0..<rng.skewed(6) { derMutator.mutate(&der, &rng) }
        return pem(label, Array(der.prefix(64 * 1024)), width: rng.chance(90) ? 64 : rng.skewed(200)).bytes
    }

    static func mutatedPEM(_ text: String, label: String, _ rng: inout SplitMix64) -> [UInt8] {
        mutatedPEM(der: der(text), label: label, &rng)
    }

    /// Splices with certificates and keys, and DER-ish tokens.
    static let derMutator = Mutator(seeds: crypto.ders + crypto.keyPEMs.map(der),
                                    tokens: ["\u{30}\u{82}", "\u{30}\u{84}\u{FF}\u{FF}", "\u{17}\u{0D}", "\u{18}\u{0F}", "\u{A3}", "\u{06}\u{03}\u{55}\u{1D}\u{23}", "\u{80}", "\u{02}\u{01}\u{00}", "\u{05}\u{00}"],
                                    maxLength: 64 * 1024)

    // MARK: Renewal confs

    /// As certbot 2.1 writes them (Tests/TestFixtures/CertbotRenewalConfs.swift), and as acme writes them.
    static let renewalConfs: [String] = [
        CertbotRenewalConfs.standaloneRSA, CertbotRenewalConfs.webrootMap, CertbotRenewalConfs.manualDNSWildcard,
        CertbotRenewalConfs.reuseKeyP384, CertbotRenewalConfs.quotedHooks,
        """
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/wildcard.example.test
        cert = /etc/letsencrypt/live/wildcard.example.test/cert.pem
        privkey = /etc/letsencrypt/live/wildcard.example.test/privkey.pem
        chain = /etc/letsencrypt/live/wildcard.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/wildcard.example.test/fullchain.pem
        renew_before_expiry = 1 day, 6 hours

        # Options used in the renewal process
        [renewalparams]
        account = 310de1cd76466abd031e0e09a379e650
        pref_challs = dns-01,
        server = https://acme-v02.api.letsencrypt.org/directory
        authenticator = manual
        manual_auth_hook = /etc/letsencrypt/hooks/dns-auth.sh
        manual_cleanup_hook = /etc/letsencrypt/hooks/dns-cleanup.sh
        key_type = ecdsa
        elliptic_curve = secp384r1
        reuse_key = True
        pre_hook = "echo a, b"
        post_hook = 'echo "x" # y'
        renew_hook = '''echo "it's"'''

        """,
        """
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/mail.example.com
        cert = /etc/letsencrypt/live/mail.example.com/cert.pem
        privkey = /etc/letsencrypt/live/mail.example.com/privkey.pem
        chain = /etc/letsencrypt/live/mail.example.com/chain.pem
        fullchain = /etc/letsencrypt/live/mail.example.com/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        account = 0123456789abcdef0123456789abcdef
        server = https://acme-v02.api.letsencrypt.org/directory
        authenticator = acme-dns-hook
        acme_dns_hook = /usr/local/bin/dns-hook
        acme_dns_propagation_wait = 60
        acme_dns_resolver = 127.0.0.1:53
        key_type = ecdsa
        preferred_profile = tlsserver
        ca_bundle = /etc/ssl/certs/ca-certificates.crt

        """,
        """
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/alpn.example.com
        cert = /etc/letsencrypt/live/alpn.example.com/cert.pem
        privkey = /etc/letsencrypt/live/alpn.example.com/privkey.pem
        chain = /etc/letsencrypt/live/alpn.example.com/chain.pem
        fullchain = /etc/letsencrypt/live/alpn.example.com/fullchain.pem

        [renewalparams]
        server = https://acme-staging-v02.api.letsencrypt.org/directory
        authenticator = acme-tls-alpn
        tls_alpn_01_port = 443
        tls_alpn_01_address = ::
        key_type = rsa
        rsa_key_size = 4096
        required_profile = shortlived

        """,
    ]

    static let confTokens = [
        "[renewalparams]", "[[webroot_map]]", "[[[deeper]]]", "[", "]", "[[", "]]", "\"\"\"", "'''", " = ", "=", "#", ",",
        "authenticator", "webroot", "manual", "standalone", "acme-dns-hook", "acme-tls-alpn", "key_type", "ecdsa", "rsa",
        "elliptic_curve", "secp521r1", "rsa_key_size", "http01_port", "reuse_key", "True", "False", "webroot_path",
        "archive_dir", "cert", "privkey", "chain", "fullchain", "version", "renew_before_expiry",
    ]

    // MARK: JSON documents

    static let directory = #"""
        {"keyChange":"https://acme-v02.api.letsencrypt.org/acme/key-change","meta":{"caaIdentities":["letsencrypt.org"],
        "profiles":{"classic":"https://letsencrypt.org/docs/profiles#classic","shortlived":"https://letsencrypt.org/docs/profiles#shortlived"},
        "termsOfService":"https://letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf","website":"https://letsencrypt.org"},
        "newAccount":"https://acme-v02.api.letsencrypt.org/acme/new-acct","newNonce":"https://acme-v02.api.letsencrypt.org/acme/new-nonce",
        "newOrder":"https://acme-v02.api.letsencrypt.org/acme/new-order","renewalInfo":"https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo",
        "revokeCert":"https://acme-v02.api.letsencrypt.org/acme/revoke-cert","xYz_random":"https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417"}
        """#

    static let order = #"""
        {"status":"pending","expires":"2026-01-08T00:00:00Z","identifiers":[{"type":"dns","value":"mail.example.com"},
        {"type":"dns","value":"*.example.com"}],"profile":"classic","authorizations":["https://acme.example/authz/1","https://acme.example/authz/2"],
        "finalize":"https://acme.example/finalize/1","certificate":"https://acme.example/cert/1"}
        """#

    static let invalidOrder = #"""
        {"status":"invalid","identifiers":[{"type":"dns","value":"mail.example.com"}],"authorizations":[],"finalize":"https://acme.example/f",
        "error":{"type":"urn:ietf:params:acme:error:caa","detail":"CAA record forbids issuance","status":403,
        "subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"no","identifier":{"type":"dns","value":"mail.example.com"}}]}}
        """#

    static let authorization = #"""
        {"identifier":{"type":"dns","value":"example.com"},"status":"pending","expires":"2026-01-08T00:00:00Z","wildcard":true,
        "challenges":[{"type":"http-01","url":"https://acme.example/chall/1","status":"pending","token":"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"},
        {"type":"dns-01","url":"https://acme.example/chall/2","status":"valid","token":"DGyRejmCefe7v4NfDGDKfA","validated":"2026-01-01T00:00:00Z"},
        {"type":"tls-alpn-01","url":"https://acme.example/chall/3","status":"invalid","token":"x",
        "error":{"type":"urn:ietf:params:acme:error:connection","detail":"Timeout during connect (likely firewall problem)","status":400}}]}
        """#

    static let challenge = #"""
        {"type":"http-01","url":"https://acme.example/chall/1","status":"processing","token":"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA","validated":"2026-01-01T00:00:00.123456Z"}
        """#

    static let problem = #"""
        {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order :: Cannot issue for \"*.*.example.com\": Domain name has more than one wildcard","status":400,
        "identifier":{"type":"dns","value":"*.*.example.com"},"subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"Invalid underscore in DNS name \"_example.com\"",
        "identifier":{"type":"dns","value":"_example.com"}},{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"This CA will not issue for \"example.net\"","identifier":{"type":"dns","value":"example.net"}}]}
        """#

    static let rateLimited = #"""
        {"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-01-02 00:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers","status":429}
        """#

    static let account = #"""
        {"key":{"kty":"EC","crv":"P-256","x":"AAA","y":"BBB"},"contact":["mailto:postmaster@example.com"],"initialIp":"192.0.2.1",
        "createdAt":"2026-01-01T00:00:00Z","status":"valid","orders":"https://acme.example/acct/1/orders","termsOfServiceAgreed":true}
        """#

    static let renewalInfo = #"""
        {"suggestedWindow":{"start":"2026-03-01T00:00:00Z","end":"2026-03-03T00:00:00Z"},"explanationURL":"https://acme.example/docs/ari"}
        """#

    static let acmeDocuments = [directory, order, invalidOrder, authorization, challenge, problem, rateLimited, account, renewalInfo]

    static let jsonTokens = [
        "{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "0", "-0.0e-0", "1e999", "\"status\"", "\"type\"", "\"url\"",
        "\"identifier\"", "\"subproblems\"", "\"challenges\"", "\"error\"", "\"value\"", "\"detail\"", "\"urn:ietf:params:acme:error:\"",
        "\"newNonce\"", "\"meta\"", "\"profiles\"", "\"wildcard\"", "\"token\"", "{}", "[]", "\"\"", "\"\\u0000\"", "\"\\ud800\"",
        "\u{FEFF}", "/*", "//", "NaN", "Infinity", "'", "\\",
    ]
}
