import Foundation
import TestFixtures
import Testing

/// Debian's certbot reads what `acme issue` wrote: it lists the lineage as valid, and it
/// renews it with our account and renewal conf.
@Suite("certbot interoperability", .serialized, .integration)
struct CertbotInteropTests {
    @Test("certbot certificates lists our lineage as valid")
    func certbotLists() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("certbot-list") + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "-d", "smtp.example.test"]
                             + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        let listed = try certbot(["certificates"], pebble: pebble, configDir: dir)
        #expect(listed.status == 0, "\(listed.output)")
        #expect(listed.stdout.contains("Certificate Name: mail.example.test"), "\(listed.output)")
        #expect(listed.stdout.contains("Domains: mail.example.test smtp.example.test"), "\(listed.output)")
        #expect(listed.stdout.contains("(VALID:"), "\(listed.output)")
        #expect(!listed.stdout.contains("INVALID"), "\(listed.output)")
        #expect(listed.stdout.contains("Key Type: ECDSA"), "\(listed.output)")
    }

    @Test("certbot renews our lineage with our account, and issues a new one with it")
    func certbotUsesOurAccount() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("certbot-account") + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        let accountsDir = dir + "/accounts/localhost:\(pebble.acmePort)/dir"
        let ours = try FileManager.default.contentsOfDirectory(atPath: accountsDir)
        #expect(ours.count == 1)

        let renewed = try certbot(["renew", "--cert-name", "mail.example.test", "--force-renewal", "--no-random-sleep-on-renew"], pebble: pebble, configDir: dir)
        #expect(renewed.status == 0, "certbot renew of our lineage: \(renewed.output)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/live/mail.example.test/cert.pem")
                == "../../archive/mail.example.test/cert2.pem")

        let fresh = try certbot(["certonly", "--standalone", "-d", "other.example.test", "--server", pebble.directoryURL,
                                 "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1"],
                                pebble: pebble, configDir: dir)
        #expect(fresh.status == 0, "certbot certonly with our account: \(fresh.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: accountsDir) == ours, "certbot registered another account instead of using ours")

        // And we keep reading what certbot wrote: same names, not due → nothing to do.
        let again = try run(TestSupport.acmeBinary, ["issue", "-d", "other.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stderr.contains("not due for renewal"), "\(again.output)")
    }
}

extension CertbotInteropTests {
    @Test("a certbot lineage (standalone, RSA) is renewed by acme, then listed and renewed by certbot again")
    func acmeRenewsCertbotLineage() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("certbot-standalone") + "/le"
        let created = try certbot(["certonly", "--standalone", "-d", "cb.example.test", "-d", "mx.example.test", "--server", pebble.directoryURL,
                                   "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1",
                                   "--agree-tos", "--register-unsafely-without-email", "--key-type", "rsa", "--rsa-key-size", "3072"],
                                  pebble: pebble, configDir: dir)
        #expect(created.status == 0, "certbot certonly: \(created.output)")
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir, "--ca-bundle", pebble.caBundle])
        #expect(renewed.status == 0, "acme renew of a certbot lineage: \(renewed.output)")
        #expect(renewed.stdout.contains("cb.example.test: renewed (forced); version 2"), "\(renewed.output)")
        #expect(try RenewTests.consistent(dir, "cb.example.test"))
        let text = try run("/usr/bin/openssl", ["x509", "-in", dir + "/live/cb.example.test/cert.pem", "-noout", "-text"]).stdout
        #expect(text.contains("3072 bit") && text.contains("DNS:mx.example.test"), "key type or names lost: \(text)")
        let conf = try String(contentsOfFile: dir + "/renewal/cb.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = standalone") && conf.contains("rsa_key_size = 3072"), "\(conf)")

        let listed = try certbot(["certificates"], pebble: pebble, configDir: dir)
        #expect(listed.stdout.contains("Certificate Name: cb.example.test") && listed.stdout.contains("(VALID:") && !listed.stdout.contains("INVALID"),
                "\(listed.output)")
        let again = try certbot(["renew", "--cert-name", "cb.example.test", "--force-renewal", "--no-random-sleep-on-renew"], pebble: pebble, configDir: dir)
        #expect(again.status == 0, "certbot renew after acme: \(again.output)")
        #expect(RenewTests.version(dir, "cb.example.test") == 3)
    }

    @Test("a certbot webroot lineage with a webroot_map is renewed by acme through the same document root")
    func acmeRenewsCertbotWebroot() throws {
        let pebble = try Pebble()
        let base = try TestSupport.temporaryDirectory("certbot-webroot")
        let dir = base + "/le", root = base + "/www"
        let server = try WebrootServer(root: root, port: pebble.httpPort)
        defer { withExtendedLifetime(server) {} }

        let created = try certbot(["certonly", "--webroot", "-w", root, "-d", "wr.example.test", "--server", pebble.directoryURL,
                                   "--agree-tos", "--register-unsafely-without-email"], pebble: pebble, configDir: dir)
        #expect(created.status == 0, "certbot certonly --webroot: \(created.output)")
        let conf = try String(contentsOfFile: dir + "/renewal/wr.example.test.conf", encoding: .utf8)
        #expect(conf.contains("[[webroot_map]]"), "certbot wrote no webroot_map: \(conf)")
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir, "--ca-bundle", pebble.caBundle])
        #expect(renewed.status == 0, "acme renew of a certbot webroot lineage: \(renewed.output)")
        #expect(RenewTests.version(dir, "wr.example.test") == 2)
        #expect(try RenewTests.consistent(dir, "wr.example.test"))
        let after = try String(contentsOfFile: dir + "/renewal/wr.example.test.conf", encoding: .utf8)
        #expect(after.contains("[[webroot_map]]") && after.contains("wr.example.test = \(root)"), "webroot_map lost: \(after)")
        let challengeFiles = (try? FileManager.default.contentsOfDirectory(atPath: root + "/.well-known/acme-challenge")) ?? []
        #expect(challengeFiles.isEmpty, "tokens left behind: \(challengeFiles)")
    }
}

extension CertbotInteropTests {
    @Test("a certbot wildcard made with --manual DNS hooks is renewed by acme with the same hooks, and by certbot again")
    func acmeRenewsCertbotManualDNS() throws {
        let pebble = try Pebble()
        let base = try TestSupport.temporaryDirectory("certbot-manual")
        let dir = base + "/le", log = base + "/hooks.log"
        let api = "http://127.0.0.1:\(pebble.challtestManagementPort)"
        try """
        #!/bin/sh
        echo "auth $CERTBOT_DOMAIN $CERTBOT_REMAINING_CHALLENGES [$CERTBOT_ALL_DOMAINS]" >> \(log)
        curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" \(api)/set-txt >/dev/null
        echo "published-$CERTBOT_DOMAIN"
        """.write(toFile: base + "/auth.sh", atomically: true, encoding: .utf8)
        try """
        #!/bin/sh
        echo "cleanup $CERTBOT_DOMAIN $CERTBOT_AUTH_OUTPUT" >> \(log)
        curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" \(api)/clear-txt >/dev/null
        """.write(toFile: base + "/cleanup.sh", atomically: true, encoding: .utf8)
        chmod(base + "/auth.sh", 0o755)
        chmod(base + "/cleanup.sh", 0o755)

        let created = try certbot(["certonly", "--manual", "--preferred-challenges", "dns", "-d", "*.manual.example.test", "-d", "manual.example.test",
                                   "--manual-auth-hook", base + "/auth.sh", "--manual-cleanup-hook", base + "/cleanup.sh",
                                   "--server", pebble.directoryURL, "--agree-tos", "--register-unsafely-without-email"],
                                  pebble: pebble, configDir: dir)
        #expect(created.status == 0, "certbot certonly --manual: \(created.output)")
        try FileManager.default.removeItem(atPath: log)
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir, "--ca-bundle", pebble.caBundle])
        #expect(renewed.status == 0, "acme renew of a certbot manual lineage: \(renewed.output)")
        #expect(RenewTests.version(dir, "manual.example.test") == 2)
        #expect(try RenewTests.consistent(dir, "manual.example.test"))
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        // One auth per pending authorization, counting down to 0 (the CA may have reused one of the
        // two: seen once in five loaded runs, with PEBBLE_AUTHZREUSE=0).
        let auths = lines.split(separator: "\n").filter { $0.hasPrefix("auth manual.example.test ") }
        #expect((1...2).contains(auths.count) && auths.last?.hasPrefix("auth manual.example.test 0 [") == true
                && (auths.count == 1 || auths.first?.hasPrefix("auth manual.example.test 1 [") == true)
                && auths.allSatisfy { $0.hasSuffix("[*.manual.example.test,manual.example.test]") }, "\(lines)")
        #expect(lines.contains("cleanup manual.example.test published-manual.example.test"), "CERTBOT_AUTH_OUTPUT missing: \(lines)")
        let check = try run("/usr/bin/openssl", ["x509", "-in", dir + "/live/manual.example.test/cert.pem", "-noout", "-checkhost", "x.manual.example.test"])
        #expect(check.stdout.contains("does match"), "\(check.stdout)")
        let conf = try String(contentsOfFile: dir + "/renewal/manual.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = manual") && conf.contains("manual_auth_hook = \(base)/auth.sh"), "\(conf)")

        let again = try certbot(["renew", "--cert-name", "manual.example.test", "--force-renewal", "--no-random-sleep-on-renew"], pebble: pebble, configDir: dir)
        #expect(again.status == 0, "certbot renew after acme: \(again.output)")
        #expect(RenewTests.version(dir, "manual.example.test") == 3)
    }
}
