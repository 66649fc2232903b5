import ACMECrypto
import Foundation
import Testing
@testable import Provision

@Suite("Finding the certificate: lineages, Traefik, Caddy, manual, self-signed")
struct SourceTests {
    @Test("letsencrypt: the FQDN's lineage; acme-companion's key.pem works too")
    func fqdnLineage() throws {
        let f = try Fixtures("fqdn")
        let pair = try f.pair([f.fqdn])
        try f.lineage(f.fqdn, pair, keyFile: "key.pem")
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == pair.leaf)
        #expect(set.primary.keySource.hasSuffix("live/mail.example.test/key.pem"))
        #expect(set.alt == nil)
    }

    @Test("letsencrypt: a wildcard lineage named after the parent domain serves the FQDN")
    func wildcardFallback() throws {
        let f = try Fixtures("wild")
        let wildcard = try f.pair(["example.test", "*.example.test"])
        try f.lineage("example.test", wildcard)
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == wildcard.leaf)
        #expect(set.origin.contains("live/example.test"))
    }

    @Test("letsencrypt: the RSA lineage of a pair (<name>-rsa) becomes the ALT pair with no setting")
    func rsaPairLineage() throws {
        let f = try Fixtures("pair")
        let ecdsa = try f.pair([f.fqdn], days: 60)
        let rsa = try f.pair([f.fqdn], type: .rsa(bits: 2048), days: 60)
        try f.lineage(f.fqdn, ecdsa)
        try f.lineage(f.fqdn + "-rsa", rsa)
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == ecdsa.leaf)
        #expect(set.alt?.leaf == rsa.leaf)
        #expect(set.origin.hasSuffix("; RSA fallback from lineage \(f.settings(.letsencrypt).letsencryptDir)/live/\(f.fqdn)-rsa"), "\(set.origin)")
    }

    @Test("letsencrypt: SSL_DOMAIN with *. is tried first; a lineage not covering the FQDN is skipped with a note; latest expiry wins")
    func candidates() throws {
        let f = try Fixtures("cands")
        try f.lineage(f.fqdn, try f.pair(["other.example.test"], days: 80))        // wrong name
        let short = try f.pair(["*.example.test"], days: 20)
        try f.lineage("example.test", short)
        var settings = f.settings(.letsencrypt)
        settings.sslDomain = "*.example.test"
        #expect(settings.lineageNames == ["example.test", "example.test-rsa", "mail.example.test", "mail.example.test-rsa"])
        var set = try #require(try CertificateFinder(settings: settings).find())
        #expect(set.primary.leaf == short.leaf)
        #expect(set.notes.contains { $0.contains("other.example.test") && $0.contains("not mail.example.test") })

        // A longer-lived valid candidate under the FQDN wins over the wildcard.
        let long = try f.pair([f.fqdn], days: 85)
        try f.lineage(f.fqdn, long)
        set = try #require(try CertificateFinder(settings: settings).find())
        #expect(set.primary.leaf == long.leaf)
    }

    @Test("letsencrypt: with ECDSA and RSA candidates, ECDSA is the primary and RSA the fallback, whatever their expiry")
    func ecdsaWithRSAFallback() throws {
        let f = try Fixtures("dual")
        let ec = try f.pair([f.fqdn], days: 30)
        let rsa = try f.pair(["*.example.test"], type: .rsa(bits: 2048), days: 80)   // expires later, still only the fallback
        try f.lineage(f.fqdn, ec)
        try f.lineage("example.test", rsa)
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == ec.leaf)
        #expect(set.alt?.leaf == rsa.leaf)
    }

    @Test("Traefik v2 acme.json: an expired and a valid entry for the same name; the valid one is taken, matched by wildcard SAN")
    func traefikV2() throws {
        let f = try Fixtures("traefik2")
        let expired = try f.pair(["mail.example.test"], days: -1, startDaysAgo: 90)
        let valid = try f.pair(["example.test", "*.example.test"], days: 50)
        let unrelated = try f.pair(["www.other.test"], days: 80)
        try f.write("le/acme.json", Fixtures.traefikV2([
            ("mail.example.test", [], expired), ("example.test", ["*.example.test"], valid), ("www.other.test", [], unrelated),
        ]))
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == valid.leaf)
        #expect(set.origin.contains("resolver letsencrypt"))
        #expect(set.notes.contains { $0.contains("expired") })
    }

    @Test("Traefik v1 acme.json (Domain.Main, Domain.SANs, Certificate, Key): expired and valid entry for the same name")
    func traefikV1() throws {
        let f = try Fixtures("traefik1")
        let expired = try f.pair(["example.test", "mail.example.test"], days: -3, startDaysAgo: 90)
        let valid = try f.pair(["example.test", "mail.example.test"])
        try f.write("le/acme.json", Fixtures.traefikV1([("example.test", ["mail.example.test"], expired),
                                                        ("example.test", ["mail.example.test"], valid)]))
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.primary.leaf == valid.leaf)
        #expect(set.origin.contains("entry 2"))
    }

    @Test("Traefik: only expired entries means no certificate, never an expired one")
    func traefikOnlyExpired() throws {
        let f = try Fixtures("traefikx")
        let expired = try f.pair(["mail.example.test"], days: -1, startDaysAgo: 90)
        try f.write("le/acme.json", Fixtures.traefikV2([("mail.example.test", [], expired)]))
        #expect { try CertificateFinder(settings: f.settings(.letsencrypt)).find() } throws: { error in
            "\(error)".contains("no usable certificate for mail.example.test") && "\(error)".contains("expired")
        }
    }

    @Test("acme.json that is not JSON is refused naming the file")
    func traefikBroken() throws {
        let f = try Fixtures("traefikbad")
        try f.write("le/acme.json", "{\"letsencrypt\": {\"Certificates\": [")
        #expect { try CertificateFinder(settings: f.settings(.letsencrypt)).find() } throws: { error in
            "\(error)".contains("acme.json: not valid JSON")
        }
    }

    @Test("Caddy storage, EC and RSA", arguments: [KeyType.ecdsa(.p256), .rsa(bits: 2048)])
    func caddy(type: KeyType) throws {
        let f = try Fixtures("caddy")
        let pair = try f.pair([f.fqdn], type: type)
        let base = "caddy/certificates/acme-v02.api.letsencrypt.org-directory/mail.example.test/mail.example.test"
        try f.write(base + ".crt", pair.chainPEM)
        try f.write(base + ".key", pair.keyPEM)
        var settings = f.settings(.letsencrypt)
        settings.caddyData = f.root + "/caddy"
        let set = try #require(try CertificateFinder(settings: settings).find())
        #expect(set.primary.leaf == pair.leaf)
        #expect(set.origin.hasPrefix("Caddy "))
    }

    @Test("manual with an RSA ALT pair next to an ECDSA primary")
    func manualWithAlt() throws {
        let f = try Fixtures("manual")
        let ec = try f.pair([f.fqdn]), rsa = try f.pair([f.fqdn], type: .rsa(bits: 2048))
        try f.write("m/cert.pem", ec.chainPEM); try f.write("m/key.pem", ec.keyPEM)
        try f.write("m/rsa-cert.pem", rsa.chainPEM); try f.write("m/rsa-key.pem", rsa.keyPEM)
        var settings = f.settings(.manual)
        settings.certPath = f.root + "/m/cert.pem"; settings.keyPath = f.root + "/m/key.pem"
        settings.altCertPath = f.root + "/m/rsa-cert.pem"; settings.altKeyPath = f.root + "/m/rsa-key.pem"
        let set = try #require(try CertificateFinder(settings: settings).find())
        #expect(set.primary.leaf == ec.leaf && set.alt?.leaf == rsa.leaf)

        // An ALT pair of the same key type is refused with the reason.
        let ec2 = try f.pair([f.fqdn])
        try f.write("m/rsa-cert.pem", ec2.chainPEM); try f.write("m/rsa-key.pem", ec2.keyPEM)
        #expect { try CertificateFinder(settings: settings).find() } throws: { error in
            "\(error)".contains("ALT key is ECDSA like the primary")
        }
        settings.altKeyPath = nil
        #expect { try CertificateFinder(settings: settings).find() } throws: { error in
            "\(error)".contains("set both or neither")
        }
    }

    @Test("self-signed: <FQDN>-key.pem, <FQDN>-cert.pem and demoCA/cacert.pem")
    func selfSigned() throws {
        let f = try Fixtures("self")
        let pair = try f.pair([f.fqdn])
        try f.write("dms/ssl/mail.example.test-key.pem", pair.keyPEM)
        try f.write("dms/ssl/mail.example.test-cert.pem", pair.leaf.pem)
        try f.write("dms/ssl/demoCA/cacert.pem", f.ca.certificate.pem)
        let set = try #require(try CertificateFinder(settings: f.settings(.selfSigned)).find())
        #expect(set.primary.leaf == pair.leaf)
        #expect(set.caPEM == f.ca.certificate.pem)

        // A leaf that the CA file did not sign is refused.
        let other = try Fixtures("self2")
        try f.write("dms/ssl/demoCA/cacert.pem", other.ca.certificate.pem)
        #expect { try CertificateFinder(settings: f.settings(.selfSigned)).find() } throws: { error in
            "\(error)".contains("not signed by the CA certificate")
        }
    }

    @Test("bad input is refused naming the file", arguments: ["mismatched key", "expired", "missing file", "truncated PEM", "wrong order"])
    func badInput(kind: String) throws {
        let f = try Fixtures("bad")
        var pair = try f.pair([f.fqdn])
        let expected: String
        switch kind {
        case "mismatched key":
            pair.keyPEM = try f.pair([f.fqdn]).keyPEM
            expected = "key.pem does not belong to the certificate in"
        case "expired":
            pair = try f.pair([f.fqdn], days: -2, startDaysAgo: 30)
            expected = "cert.pem: the certificate expired on"
        case "missing file":
            expected = "key.pem: key file does not exist"
        case "truncated PEM":
            pair.chainPEM = String(pair.chainPEM.prefix(300))
            expected = "cert.pem: truncated PEM certificate"
        default:
            pair.chainPEM = f.ca.certificate.pem + pair.leaf.pem
            expected = "is number 2 in the chain; put the leaf first"
        }
        try f.write("m/cert.pem", pair.chainPEM)
        if kind != "missing file" { try f.write("m/key.pem", pair.keyPEM) }
        var settings = f.settings(.manual)
        settings.certPath = f.root + "/m/cert.pem"; settings.keyPath = f.root + "/m/key.pem"
        #expect { try CertificateFinder(settings: settings).find() } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("a chain whose certificates are out of order is refused")
    func chainOrder() throws {
        let f = try Fixtures("order")
        let pair = try f.pair([f.fqdn])
        let other = try Fixtures("order2")
        try f.write("m/cert.pem", pair.leaf.pem + other.ca.certificate.pem)
        try f.write("m/key.pem", pair.keyPEM)
        var settings = f.settings(.manual)
        settings.certPath = f.root + "/m/cert.pem"; settings.keyPath = f.root + "/m/key.pem"
        #expect { try CertificateFinder(settings: settings).find() } throws: { error in
            "\(error)".contains("did not sign certificate 1")
        }
    }

    @Test("under 14 days left: accepted with a warning")
    func expiresSoon() throws {
        let f = try Fixtures("soon")
        try f.lineage(f.fqdn, try f.pair([f.fqdn], days: 5))
        let set = try #require(try CertificateFinder(settings: f.settings(.letsencrypt)).find())
        #expect(set.warnings.contains { $0.contains("expires in 4 days") || $0.contains("expires in 5 days") })
    }
}
