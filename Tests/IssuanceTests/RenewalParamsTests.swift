import ACMECrypto
import Base
import CertStore
import Challenges
import TestFixtures
import Testing
@testable import Issuance

@Suite("renewal conf codec")
struct RenewalParamsTests {
    static func decode(_ text: String, path: String = "/etc/letsencrypt/renewal/x.conf") throws -> RenewalParams {
        try RenewalParams(decoding: try RenewalConfig.parse(text), path: path, defaultServer: "https://default.invalid/dir")
    }

    /// A conf written by acme for `params`, parsed back.
    static func roundTrip(_ params: RenewalParams) throws -> RenewalParams {
        let (lines, webrootMap) = params.encoded()
        let config = RenewalConfig(version: "0.1.0", archiveDir: "/a", cert: "/c", privkey: "/p", chain: "/ch", fullchain: "/f",
                                   renewalParams: lines, webrootMap: webrootMap)
        return try decode(config.serialized())
    }

    static let methods: [ChallengeMethod] = [
        .standalone(address: nil, port: 80), .standalone(address: "::1", port: 5002),
        .webroot(path: "/var/www/html"),
        .webrootMap(["a.example.test": "/var/www/a", "b.example.test": "/var/www/b"], default: "/var/www/html"),
        .webrootMap(["a.example.test": "/var/www/a"], default: nil),
        .dnsHook(script: "/usr/local/bin/dns-hook add, \"quoted\" # not a comment", propagationSeconds: 30, resolver: "127.0.0.1:53"),
        .dnsRFC2136(server: "[2001:db8::53]:5353", keyFile: "/etc/acme/tsig.key", propagationSeconds: 300),
        .dnsRFC2136(server: "ns1.example.test", keyFile: "/etc/acme/tsig.key", propagationSeconds: 120),
        .dnsHook(script: "/usr/local/bin/dns-hook", propagationSeconds: 0, resolver: nil, parallel: true),
        .certbotManual(authHook: "/hooks/auth.sh", cleanupHook: "/hooks/clean.sh", challenge: "dns-01"),
        .certbotManual(authHook: "/hooks/auth.sh", cleanupHook: nil, challenge: "http-01"),
        .tlsALPN(address: nil, port: 443), .tlsALPN(address: "192.0.2.1", port: 8443),
    ]

    @Test("every challenge method, key type, profile, hook and key reuse survives write and read", arguments: methods)
    func roundTrips(method: ChallengeMethod) throws {
        for keyType in [KeyType.ecdsa(.p256), .ecdsa(.p384), .rsa(bits: 2048), .rsa(bits: 4096)] {
            let params = RenewalParams(account: "0123abcd", server: "https://ca.example/dir", challenge: method, keyType: keyType,
                                       preferredChain: "ISRG Root X1", caBundle: "/etc/ssl/private-ca.pem", profile: .required("tlsserver"),
                                       reuseKey: true, hooks: SavedHooks(pre: "echo a, b", post: #"echo "x" # y"#, deploy: #"echo "it's""#))
            #expect(try Self.roundTrip(params) == params)
        }
        var plain = RenewalParams(account: nil, server: "https://ca.example/dir", challenge: method, keyType: .ecdsa(.p256))
        plain.profile = .preferred("shortlived")
        #expect(try Self.roundTrip(plain) == plain)
    }

    @Test("certbot 2.1 standalone RSA 3072 with pre and deploy hooks")
    func certbotStandalone() throws {
        let params = try Self.decode(CertbotRenewalConfs.standaloneRSA)
        #expect(params.challenge == .standalone(address: nil, port: 45073))
        #expect(params.keyType == .rsa(bits: 3072))
        #expect(params.account == "310de1cd76466abd031e0e09a379e650")
        #expect(params.server == "https://localhost:14000/dir")
        #expect(params.hooks == SavedHooks(pre: "true", post: nil, deploy: "echo deployed"))
        #expect(!params.reuseKey)
    }

    @Test("certbot 2.1 webroot with webroot_map and preferred chain")
    func certbotWebrootMap() throws {
        let params = try Self.decode(CertbotRenewalConfs.webrootMap)
        guard case .webrootMap(let map, let root) = params.challenge else {
            Issue.record("expected a webroot map, got \(params.challenge)")
            return
        }
        #expect(map == ["a.example.test": "/var/www/root1", "b.example.test": "/var/www/root2"])
        #expect(root == "/var/www/root1")
        #expect(params.keyType == .ecdsa(.p256))
        #expect(params.preferredChain == "Pebble Root CA")
    }

    @Test("certbot 2.1 manual DNS-01 hooks for a wildcard")
    func certbotManual() throws {
        let params = try Self.decode(CertbotRenewalConfs.manualDNSWildcard)
        guard case .certbotManual(let auth, let cleanup, let challenge) = params.challenge else {
            Issue.record("expected manual hooks, got \(params.challenge)")
            return
        }
        #expect(challenge == "dns-01")
        #expect(auth.hasSuffix("dns-auth.sh") && cleanup?.hasSuffix("dns-cleanup.sh") == true)
        #expect(params.challenge.validatesDNS)
    }

    @Test("certbot 2.1 reuse_key with P-384")
    func certbotReuseKey() throws {
        let params = try Self.decode(CertbotRenewalConfs.reuseKeyP384)
        #expect(params.reuseKey)
        #expect(params.keyType == .ecdsa(.p384))
        #expect(try RenewalParams.reusesKey(try RenewalConfig.parse(CertbotRenewalConfs.reuseKeyP384), path: "x"))
    }

    @Test("certbot's quoting (comma, quote and hash, both quote kinds) reads back as the hook text, and is written the same way")
    func certbotQuoting() throws {
        let config = try RenewalConfig.parse(CertbotRenewalConfs.quotedHooks)
        let params = try RenewalParams(decoding: config, path: "x", defaultServer: "")
        #expect(params.hooks == SavedHooks(pre: "echo a, b", post: #"echo "x" # y"#, deploy: #"echo "it's""#))
        let written = config.serialized()
        for line in ["pre_hook = \"echo a, b\"", "post_hook = 'echo \"x\" # y'", "renew_hook = '''echo \"it's\"'''",
                     "webroot_path = /var/www/serve,"] {
            #expect(written.contains(line + "\n"), "\(line) not in:\n\(written)")
        }
    }

    @Test("unmanaged keys (certbot's config_dir, a plugin's) are kept, managed ones replaced")
    func merge() throws {
        let config = try RenewalConfig.parse(CertbotRenewalConfs.standaloneRSA)
        let params = RenewalParams(account: "new", server: "https://ca.example/dir", challenge: .webroot(path: "/srv"), keyType: .ecdsa(.p256))
        let merged = params.merged(into: config.renewalParams)
        #expect(merged.contains { $0 == ("work_dir", "/var/lib/letsencrypt") })
        #expect(merged.filter { $0.key == "account" }.map(\.value) == ["new"])
        #expect(!merged.contains { $0.key == "http01_port" || $0.key == "pre_hook" || $0.key == "rsa_key_size" })
    }

    @Test("values acme cannot use are errors naming the file and the key", arguments: [
        ("http01_port = 99999", "http01_port 99999"), ("reuse_key = maybe", "reuse_key maybe"),
        ("authenticator = nginx", "authenticator nginx"), ("key_type = dsa", "key_type dsa"),
        ("acme_dns_propagation_wait = soon", "acme_dns_propagation_wait soon"),
        ("authenticator = manual", "without manual_auth_hook"), ("authenticator = webroot", "without webroot_path"),
        ("authenticator = acme-dns-rfc2136", "without acme_dns_rfc2136_server and acme_dns_tsig_key"),
    ])
    func invalid(line: String, named: String) throws {
        let text = "archive_dir = /a\ncert = /c\nprivkey = /p\nchain = /ch\nfullchain = /f\n[renewalparams]\n\(line)\n"
        let error = #expect(throws: IssuanceError.self) { try Self.decode(text, path: "/le/renewal/bad.conf") }
        #expect(error?.code == .invalidRenewalConf)
        #expect(error?.message.contains("/le/renewal/bad.conf") == true && error?.message.contains(named) == true, "\(String(describing: error))")
    }
}
