import Foundation
import TestFixtures
import Testing

/// `acme selfsigned` and `acme tlsa`, checked with openssl's own computations.
@Suite("selfsigned and tlsa", .serialized, .integration)
struct ToolTests {
    /// SHA-256 of a certificate's SubjectPublicKeyInfo, the openssl way.
    static func spkiDigest(certPEM: String) throws -> String {
        let dir = try TestSupport.temporaryDirectory("spki")
        try certPEM.write(toFile: dir + "/c.pem", atomically: true, encoding: .utf8)
        let result = try run("/bin/sh", ["-c", "openssl x509 -in \(dir)/c.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r"])
        return String(result.stdout.prefix { $0 != " " })
    }

    static func certificates(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.components(separatedBy: "-----END CERTIFICATE-----").dropLast().map { $0 + "-----END CERTIFICATE-----\n" }
    }

    @Test("selfsigned writes docker-mailserver's files; openssl verifies them; provision accepts them; no silent overwrite")
    func selfSigned() throws {
        let base = try TestSupport.temporaryDirectory("selfsigned")
        let ssl = base + "/dms/ssl"
        for (type, algorithm) in [("ec256", "id-ecPublicKey"), ("rsa2048", "rsaEncryption")] {
            let made = try run(TestSupport.acmeBinary, ["selfsigned", "--hostname", "Mail.Example.Test", "--san", "imap.example.test",
                                                        "--key-type", type, "--days", "30", "--dms-config", base + "/dms", "--force"])
            #expect(made.status == 0, "\(made.output)")
            let verify = try run("/usr/bin/openssl", ["verify", "-CAfile", ssl + "/demoCA/cacert.pem", ssl + "/mail.example.test-cert.pem"])
            #expect(verify.stdout.contains(": OK"), "\(verify.output)")
            for name in ["mail.example.test", "imap.example.test"] {
                let check = try run("/usr/bin/openssl", ["x509", "-in", ssl + "/mail.example.test-cert.pem", "-noout", "-checkhost", name])
                #expect(check.stdout.contains("does match"), "\(name): \(check.stdout)")
            }
            let text = try run("/usr/bin/openssl", ["x509", "-in", ssl + "/mail.example.test-cert.pem", "-noout", "-text"]).stdout
            #expect(text.contains(algorithm))
            let certKey = try run("/bin/sh", ["-c", "openssl x509 -in \(ssl)/mail.example.test-cert.pem -noout -pubkey"]).stdout
            let key = try run("/bin/sh", ["-c", "openssl pkey -in \(ssl)/mail.example.test-key.pem -pubout"]).stdout
            #expect(certKey == key && !key.isEmpty)
            let mode = try FileManager.default.attributesOfItem(atPath: ssl + "/mail.example.test-key.pem")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let days = try run("/usr/bin/openssl", ["x509", "-in", ssl + "/mail.example.test-cert.pem", "-noout", "-checkend", String(29 * 86_400)])
            #expect(days.status == 0, "the certificate should last 30 days")

            // What docker-mailserver's SSL_TYPE=self-signed does with them.
            try FileManager.default.createDirectory(atPath: base + "/postfix", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/dovecot/conf.d", withIntermediateDirectories: true)
            try "myhostname = mail.example.test\n".write(toFile: base + "/postfix/main.cf", atomically: true, encoding: .utf8)
            let provision = try run(TestSupport.acmeBinary, ["provision", "--ssl-type", "self-signed", "--hostname", "mail.example.test",
                                                             "--dms-config", base + "/dms", "--tls-dir", base + "/tls", "--postfix-dir", base + "/postfix",
                                                             "--dovecot-dir", base + "/dovecot", "--dovecot-version", "2.3", "--dry-run"])
            #expect(provision.status == 0, "provision refused acme selfsigned's files: \(provision.output)")
        }
        let before = try String(contentsOfFile: ssl + "/mail.example.test-cert.pem", encoding: .utf8)
        let again = try run(TestSupport.acmeBinary, ["selfsigned", "--hostname", "mail.example.test", "--dms-config", base + "/dms"])
        #expect(again.status == 2 && again.stderr.contains("already exists; pass --force"), "\(again.output)")
        #expect(try String(contentsOfFile: ssl + "/mail.example.test-cert.pem", encoding: .utf8) == before)
        let bad = try run(TestSupport.acmeBinary, ["selfsigned", "--hostname", "../etc", "--output", base + "/x"])
        #expect(bad.status == 64, "\(bad.output)")
    }

    @Test("tlsa: 3 1 1 and 2 1 1 agree with openssl; --next is the key the next renewal really uses")
    func tlsa() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("tlsa") + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "mx.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        #expect(!issued.stderr.contains("Certificate Transparency"), "a local test CA got the CT notice")
        let live = dir + "/live/mx.example.test"
        let leaf = try Self.spkiDigest(certPEM: try String(contentsOfFile: live + "/cert.pem", encoding: .utf8))
        let issuer = try Self.spkiDigest(certPEM: try Self.certificates(live + "/chain.pem")[0])

        let records = try run(TestSupport.acmeBinary, ["tlsa", "--cert-name", "mx.example.test", "--config-dir", dir])
        #expect(records.status == 0, "\(records.output)")
        #expect(records.stdout.contains("_25._tcp.mx.example.test. IN TLSA 3 1 1 \(leaf)"), "\(records.stdout) vs \(leaf)")
        #expect(records.stdout.contains("_25._tcp.mx.example.test. IN TLSA 2 1 1 \(issuer)"), "\(records.stdout) vs \(issuer)")
        let byFile = try run(TestSupport.acmeBinary, ["tlsa", "--cert-path", live + "/fullchain.pem", "--port", "465", "--host", "smtp.example.test"])
        #expect(byFile.stdout.contains("_465._tcp.smtp.example.test. IN TLSA 3 1 1 \(leaf)"), "\(byFile.output)")

        let next = try run(TestSupport.acmeBinary, ["tlsa", "--cert-name", "mx.example.test", "--next", "--config-dir", dir])
        #expect(next.status == 0, "\(next.output)")
        let nextLine = next.stdout.split(separator: "\n").first { $0.contains("next renewal") }.map(String.init) ?? ""
        let nextDigest = nextLine.split(separator: " ").dropFirst(6).first.map(String.init) ?? ""
        #expect(nextDigest.count == 64 && nextDigest != leaf, "\(next.output)")
        // Asking again prints the same prepared key.
        let same = try run(TestSupport.acmeBinary, ["tlsa", "--cert-name", "mx.example.test", "--next", "--config-dir", dir])
        #expect(same.stdout.contains(nextDigest))

        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(renewed.status == 0, "\(renewed.output)")
        let after = try Self.spkiDigest(certPEM: try String(contentsOfFile: live + "/cert.pem", encoding: .utf8))
        #expect(after == nextDigest, "the renewal did not use the pre-published key")
        #expect(!FileManager.default.fileExists(atPath: dir + "/archive/mx.example.test/.acme-next-privkey.pem"))
        let missing = try run(TestSupport.acmeBinary, ["tlsa", "--cert-path", dir + "/nope.pem"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.pem"), "\(missing.output)")
    }
}
