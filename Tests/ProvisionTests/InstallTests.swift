import ACMECrypto
import Foundation
import TestFixtures
import Testing
@testable import Provision

@Suite("Installing: files, Postfix main.cf through postconf, Dovecot 10-ssl.conf, change detection", .integration)
struct InstallTests {
    func manualSettings(_ f: Fixtures, alt: Bool = false) throws -> ProvisionSettings {
        let ec = try f.pair([f.fqdn])
        try f.write("m/cert.pem", ec.chainPEM); try f.write("m/key.pem", ec.keyPEM)
        var settings = f.settings(.manual)
        settings.certPath = f.root + "/m/cert.pem"; settings.keyPath = f.root + "/m/key.pem"
        if alt {
            let rsa = try f.pair([f.fqdn], type: .rsa(bits: 2048))
            try f.write("m/rsa-cert.pem", rsa.chainPEM); try f.write("m/rsa-key.pem", rsa.keyPEM)
            settings.altCertPath = f.root + "/m/rsa-cert.pem"; settings.altKeyPath = f.root + "/m/rsa-key.pem"
        }
        return settings
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test("first run installs files (key 0600, chain 0644), sets Postfix and Dovecot; second run changes nothing")
    func installThenIdempotent() throws {
        let f = try Fixtures("install")
        try f.daemonDirs()
        let settings = try manualSettings(f, alt: true)
        let report = try Provisioner(settings: settings).run(dryRun: false)
        #expect(report.changed)
        #expect(report.changes.contains { $0.hasPrefix("certificate for mail.example.test") })

        let tls = f.root + "/tls/current"
        #expect(try mode(tls + "/key.pem") == 0o600 && mode(tls + "/alt_key.pem") == 0o600)
        #expect(try mode(tls + "/fullchain.pem") == 0o644 && mode(tls + "/alt_fullchain.pem") == 0o644)
        let installed = try Certificate.chain(pem: try f.read("tls/current/fullchain.pem"))
        #expect(installed.count == 2 && installed[0].covers(name: f.fqdn))
        #expect(try f.read("tls/current/dhparams.pem") == DHParameters.ffdhe4096PEM)

        let main = try f.read("postfix/main.cf")
        #expect(main.contains("smtpd_tls_chain_files = \(tls)/key.pem \(tls)/fullchain.pem \(tls)/alt_key.pem \(tls)/alt_fullchain.pem"))
        #expect(main.contains("smtpd_tls_protocols = !SSLv2,!SSLv3,!TLSv1,!TLSv1.1"))
        #expect(main.contains("tls_high_cipherlist = ECDHE-ECDSA-AES128-GCM-SHA256:"))
        #expect(main.contains("smtpd_tls_dh1024_param_file = \(tls)/dhparams.pem"))
        #expect(main.contains("smtpd_banner = $myhostname ESMTP"), "other settings stay")

        let ssl = try f.read("dovecot/conf.d/10-ssl.conf")
        #expect(ssl.contains("ssl_cert = <\(tls)/fullchain.pem\nssl_key = <\(tls)/key.pem\n"))
        #expect(ssl.contains("ssl_alt_cert = <\(tls)/alt_fullchain.pem\nssl_alt_key = <\(tls)/alt_key.pem\n"))
        #expect(ssl.contains("ssl_min_protocol = TLSv1.2") && ssl.contains("ssl_dh = <\(tls)/dhparams.pem"))

        let before = f.snapshot()
        let again = try Provisioner(settings: settings).run(dryRun: false)
        #expect(!again.changed, "\(again.changes)")
        #expect(again.reloaded.isEmpty)
        #expect(f.snapshot() == before, "a run with nothing changed must write nothing")
        #expect(FileManager.default.fileExists(atPath: f.root + "/tls/.acme-provision.json"))
    }

    @Test("a new certificate replaces the old one in one switch and is reported with both serials")
    func renewal() throws {
        let f = try Fixtures("renew")
        try f.daemonDirs()
        let settings = try manualSettings(f)
        _ = try Provisioner(settings: settings).run(dryRun: false)
        let oldSerial = try Certificate.chain(pem: try f.read("tls/current/fullchain.pem"))[0].serialHex
        let mainBefore = try f.read("postfix/main.cf")

        let renewed = try f.pair([f.fqdn])
        try f.write("m/cert.pem", renewed.chainPEM); try f.write("m/key.pem", renewed.keyPEM)
        let report = try Provisioner(settings: settings).run(dryRun: false)
        #expect(report.changes.count == 1, "only the certificate changed: \(report.changes)")
        #expect(report.changes[0].contains("serial \(renewed.leaf.serialHex)") && report.changes[0].contains("replaces serial \(oldSerial)"))
        #expect(try f.read("tls/current/fullchain.pem").hasPrefix(renewed.leaf.pem))
        #expect(try f.read("postfix/main.cf") == mainBefore, "paths are stable: main.cf is not touched on renewal")
        let sets = try FileManager.default.contentsOfDirectory(atPath: f.root + "/tls/sets").filter { !$0.hasPrefix(".") }
        #expect(sets.count == 2, "the new set and the one it replaced: \(sets)")
    }

    @Test("refused input leaves the installed files and configuration exactly as they were")
    func refusalKeepsState() throws {
        let f = try Fixtures("keep")
        try f.daemonDirs()
        let settings = try manualSettings(f)
        _ = try Provisioner(settings: settings).run(dryRun: false)
        let before = f.snapshot()
        for breakIt in ["expired", "mismatch", "truncated", "missing"] {
            switch breakIt {
            case "expired":
                let expired = try f.pair([f.fqdn], days: -1, startDaysAgo: 90)
                try f.write("m/cert.pem", expired.chainPEM); try f.write("m/key.pem", expired.keyPEM)
            case "mismatch":
                try f.write("m/cert.pem", try f.pair([f.fqdn]).chainPEM)
            case "truncated":
                try f.write("m/cert.pem", String(try f.read("m/cert.pem").prefix(200)))
            default:
                try FileManager.default.removeItem(atPath: f.root + "/m/key.pem")
            }
            #expect(throws: ProvisionError.self, "\(breakIt)") { try Provisioner(settings: settings).run(dryRun: false) }
            #expect(f.snapshot() == before, "\(breakIt) changed the installed state")
        }
    }

    @Test("an acme.json that stops being JSON is refused and the certificate extracted from it before stays")
    func brokenTraefikKeepsState() throws {
        let f = try Fixtures("keeptraefik")
        try f.daemonDirs()
        let pair = try f.pair([f.fqdn])
        try f.write("le/acme.json", Fixtures.traefikV2([(f.fqdn, [], pair)]))
        _ = try Provisioner(settings: f.settings(.letsencrypt)).run(dryRun: false)
        #expect(try f.read("tls/current/fullchain.pem") == pair.chainPEM)
        #expect(try mode(f.root + "/tls/current/key.pem") == 0o600, "keys extracted from acme.json are 0600")
        let before = f.snapshot()
        try f.write("le/acme.json", "{ truncated")
        #expect((#expect(throws: ProvisionError.self) { try Provisioner(settings: f.settings(.letsencrypt)).run(dryRun: false) })?.code == .refused)
        #expect(f.snapshot() == before)
    }

    @Test("an installed file edited by hand is noticed and replaced by a fresh set")
    func tamperedSetIsRepaired() throws {
        let f = try Fixtures("tamper")
        try f.daemonDirs()
        let settings = try manualSettings(f)
        _ = try Provisioner(settings: settings).run(dryRun: false)
        let good = try f.read("tls/current/fullchain.pem")
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/tls/current")
        try "edited\n".write(toFile: f.root + "/tls/current/fullchain.pem", atomically: false, encoding: .utf8)
        let report = try Provisioner(settings: settings).run(dryRun: false)
        #expect(report.changed)
        #expect(try f.read("tls/current/fullchain.pem") == good)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: f.root + "/tls/current") != target)
    }

    @Test("concurrent runs on one TLS directory do not interleave: the result is one consistent set")
    func concurrentRuns() async throws {
        let f = try Fixtures("concurrent")
        try f.daemonDirs()
        let settings = try manualSettings(f, alt: true)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try Provisioner(settings: settings).run(dryRun: false) } }
            try await group.waitForAll()
        }
        let key = try PrivateKey(pem: try f.read("tls/current/key.pem"))
        let leaf = try Certificate.chain(pem: try f.read("tls/current/fullchain.pem"))[0]
        #expect(leaf.matches(key))
        let again = try await Provisioner(settings: settings).run(dryRun: false)
        #expect(!again.changed, "\(again.changes)")
        let staging = try FileManager.default.contentsOfDirectory(atPath: f.root + "/tls/sets").filter { $0.hasPrefix(".staging") }
        #expect(staging.isEmpty)
    }

    @Test("dry run reports what would change and writes nothing")
    func dryRun() throws {
        let f = try Fixtures("dry")
        try f.daemonDirs()
        let before = f.snapshot()
        let report = try Provisioner(settings: try manualSettings(f)).run(dryRun: true)
        #expect(report.changes.contains { $0.hasPrefix("postfix: smtpd_tls_chain_files = ") })
        #expect(report.changes.contains { $0.hasPrefix("dovecot: ") })
        #expect(f.snapshot() == before)
        #expect(!FileManager.default.fileExists(atPath: f.root + "/tls"))
    }

    @Test("Dovecot 2.4 gets its own setting names")
    func dovecot24() throws {
        let f = try Fixtures("dc24")
        try f.daemonDirs()
        var settings = try manualSettings(f, alt: true)
        settings.dovecotVersion = .v2_4
        _ = try Provisioner(settings: settings).run(dryRun: false)
        let ssl = try f.read("dovecot/conf.d/10-ssl.conf")
        let tls = f.root + "/tls/current"
        for line in ["ssl_server_cert_file = \(tls)/fullchain.pem", "ssl_server_key_file = \(tls)/key.pem",
                     "ssl_server_alt_cert_file = \(tls)/alt_fullchain.pem", "ssl_server_alt_key_file = \(tls)/alt_key.pem",
                     "ssl_server_dh_file = \(tls)/dhparams.pem", "ssl_server_prefer_ciphers = server"] {
            #expect(ssl.contains(line + "\n"), "\(line)")
        }
        #expect(!ssl.contains("ssl_cert ="))
    }

    @Test("TLS_LEVEL=intermediate: the wider cipher list, still TLS 1.2 minimum")
    func intermediate() throws {
        let f = try Fixtures("inter")
        try f.daemonDirs()
        var settings = try manualSettings(f)
        settings.tlsLevel = .intermediate
        _ = try Provisioner(settings: settings).run(dryRun: false)
        let main = try f.read("postfix/main.cf")
        #expect(main.contains("tls_high_cipherlist = ECDHE-ECDSA-CHACHA20-POLY1305:"))
        #expect(main.contains("ECDHE-RSA-AES128-SHA256"))
        #expect(main.contains("smtpd_tls_protocols = !SSLv2,!SSLv3,!TLSv1,!TLSv1.1"))
    }

    @Test("self-signed: the CA is installed and given to Postfix as smtpd_tls_CAfile and smtp_tls_CAfile")
    func selfSignedCA() throws {
        let f = try Fixtures("selfca")
        try f.daemonDirs()
        let pair = try f.pair([f.fqdn])
        try f.write("dms/ssl/mail.example.test-key.pem", pair.keyPEM)
        try f.write("dms/ssl/mail.example.test-cert.pem", pair.leaf.pem)
        try f.write("dms/ssl/demoCA/cacert.pem", f.ca.certificate.pem)
        _ = try Provisioner(settings: f.settings(.selfSigned)).run(dryRun: false)
        let tls = f.root + "/tls/current"
        #expect(try f.read("tls/current/cacert.pem") == f.ca.certificate.pem)
        let main = try f.read("postfix/main.cf")
        #expect(main.contains("smtpd_tls_CAfile = \(tls)/cacert.pem") && main.contains("smtp_tls_CAfile = \(tls)/cacert.pem"))

        // Switching to another source undoes only our CA setting.
        _ = try Provisioner(settings: try manualSettings(f)).run(dryRun: false)
        let after = try f.read("postfix/main.cf")
        #expect(!after.contains("smtpd_tls_CAfile = \(tls)/cacert.pem"))
        #expect(!FileManager.default.fileExists(atPath: tls + "/cacert.pem"))
    }

    @Test("empty SSL_TYPE: plaintext as docker-mailserver documents it, with a loud warning")
    func plaintext() throws {
        let f = try Fixtures("plain")
        try f.daemonDirs()
        try f.write("postfix/master.cf", """
        smtp      inet  n       -       y       -       -       smtpd
        submissions inet n       -       y       -       -       smtpd
          -o syslog_name=postfix/submissions
          -o smtpd_tls_wrappermode=yes
          -o smtpd_tls_security_level=encrypt

        """)
        let report = try Provisioner(settings: f.settings(.plaintext)).run(dryRun: false)
        #expect(report.warnings.contains { $0.contains("WITHOUT TLS") })
        let main = try f.read("postfix/main.cf")
        #expect(main.contains("smtpd_tls_security_level = none") && main.contains("smtpd_tls_auth_only = no"))
        let master = try f.read("postfix/master.cf")
        #expect(master.contains("smtpd_tls_wrappermode=no") && master.contains("smtpd_tls_security_level=none"), "\(master)")
        let ssl = try f.read("dovecot/conf.d/10-ssl.conf")
        #expect(ssl.contains("ssl = no\n") && ssl.contains("disable_plaintext_auth = no\n"))
    }

    @Test("a custom dhparams.pem replaces ffdhe4096 with a warning; a weak one is refused")
    func customDH() throws {
        let f = try Fixtures("dh")
        try f.daemonDirs()
        let settings = try manualSettings(f)
        let custom = try OpenSSL.run(["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048"])
        try f.write("dms/dhparams.pem", custom)
        let report = try Provisioner(settings: settings).run(dryRun: false)
        #expect(report.warnings.contains { $0.contains("custom DH parameters") && $0.contains("2048 bits") })
        #expect(try f.read("tls/current/dhparams.pem") == custom)

        try f.write("dms/dhparams.pem", "not DH parameters\n")
        #expect { try Provisioner(settings: settings).run(dryRun: false) } throws: { "\($0)".contains("dhparams.pem: not PEM DH parameters") }
    }
}

enum OpenSSL {
    static func run(_ arguments: [String]) throws -> String {
        try runChild("/usr/bin/openssl", arguments).stdout
    }
}
