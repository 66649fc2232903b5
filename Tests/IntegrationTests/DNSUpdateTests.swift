import Foundation
import TestFixtures
import Testing

/// DNS-01 through RFC 2136 updates against Pebble, with a real BIND as the DNS server Pebble asks:
/// acme writes the TXT records into BIND with TSIG, Pebble reads them from there.
@Suite("DNS-01 by RFC 2136 against Pebble and BIND", .serialized, .integration)
struct DNSUpdateTests {
    func issue(_ pebble: Pebble, _ bind: Bind, _ dir: String, names: [String], server: String? = nil, key: String? = nil,
               extra: [String] = []) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["issue"] + names.flatMap { ["-d", $0] }
                + ["--dns-rfc2136", server ?? "127.0.0.1:\(bind.port)", "--tsig-key", key ?? bind.keyFile]
                + extra + ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"])
    }

    /// Challenge POSTs Pebble received so far (it logs each request's path).
    func challengePOSTs(_ pebble: Pebble) throws -> Int {
        try String(contentsOfFile: pebble.workDir + "/pebble.log", encoding: .utf8).components(separatedBy: "POST /chalZ/").count - 1
    }

    @Test("a wildcard and its base name: published in BIND, validated by Pebble through BIND, removed after; acme renew repeats it")
    func wildcard() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("rfc2136")
        let result = try issue(pebble, bind, dir, names: ["*.wild.example.test", "wild.example.test"])
        #expect(result.status == 0, "\(result.output)\n\(bind.log())")
        #expect(result.stderr.contains("added the TXT record _acme-challenge.wild.example.test in zone example.test at 127.0.0.1:\(bind.port)"), "\(result.output)")
        #expect(result.stderr.contains("TXT records served by every authoritative server: ns1.example.test (127.0.0.1:\(bind.port))"), "\(result.output)")
        let live = dir + "/le/live/wild.example.test"
        for name in ["anything.wild.example.test", "wild.example.test"] {
            let check = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-checkhost", name])
            #expect(check.stdout.contains("does match"), "\(name): \(check.stdout)")
        }
        #expect(try bind.txt("_acme-challenge.wild.example.test") == [], "records left behind in the zone")
        #expect(bind.log().contains("adding an RR at '_acme-challenge.wild.example.test' TXT"), "\(bind.log())")

        let conf = try String(contentsOfFile: dir + "/le/renewal/wild.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = acme-dns-rfc2136"), "\(conf)")
        #expect(conf.contains("acme_dns_rfc2136_server = 127.0.0.1:\(bind.port)") && conf.contains("acme_dns_tsig_key = \(bind.keyFile)"), "\(conf)")
        let secret = try String(contentsOfFile: bind.keyFile, encoding: .utf8).components(separatedBy: "\"")[3]
        #expect(!conf.contains(secret) && !result.output.contains(secret), "the TSIG secret was written or printed")

        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir + "/le"])
        #expect(renewed.status == 0, "\(renewed.output)")
        #expect(renewed.stdout.contains("wild.example.test: renewed"), "\(renewed.output)")
        #expect(renewed.stderr.contains("added the TXT record _acme-challenge.wild.example.test"), "\(renewed.output)")
        #expect(try bind.txt("_acme-challenge.wild.example.test") == [])
        #expect(!renewed.output.contains(secret))
    }

    @Test("wrong secret, a name outside the zone, a key not granted, no server, bad key files: one line, its exit code, the CA never asked to validate, nothing saved")
    func failures() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("rfc2136-fail")
        let silent = TestSupport.freePort()
        let md5 = dir + "/md5.key"
        let made = try run(try TestSupport.require("tsig-keygen"), ["-a", "hmac-md5", "old-key"])
        try made.stdout.write(toFile: md5, atomically: true, encoding: .utf8)
        let garbage = dir + "/garbage.key"
        try "secret \"abc\";\n".write(toFile: garbage, atomically: true, encoding: .utf8)

        let cases: [(what: String, name: String, server: String?, key: String?, status: Int32, message: String)] = [
            ("wrong secret", "bad-sig.example.test", nil, try bind.wrongSecretKeyFile(), 2,
             "rejected the signature made with TSIG key acme-key from \(bind.directory)/wrong-secret.key (BADSIG)"),
            ("outside the zone", "mail.other.test", nil, nil, 2,
             "127.0.0.1:\(bind.port) is not authoritative for a zone that holds _acme-challenge.mail.other.test"),
            ("key not granted", "refused.example.test", nil, bind.otherKeyFile, 2,
             "127.0.0.1:\(bind.port) refused to add the TXT record _acme-challenge.refused.example.test (REFUSED): key other-key may not change it"),
            ("no server", "silent.example.test", "127.0.0.1:\(silent)", nil, 3, "cannot reach the DNS server 127.0.0.1:\(silent)"),
            ("missing key file", "nokey.example.test", nil, dir + "/absent.key", 2, "TSIG key file: cannot read \(dir)/absent.key"),
            ("malformed key file", "garbage.example.test", nil, garbage, 2, "TSIG key file \(garbage): no `key NAME {` statement"),
            ("unsupported algorithm", "md5.example.test", nil, md5, 2, "TSIG key file \(md5): algorithm hmac-md5 is not supported"),
        ]
        for item in cases {
            let result = try issue(pebble, bind, dir, names: [item.name], server: item.server, key: item.key)
            #expect(result.status == item.status, "\(item.what): \(result.output)")
            let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
            #expect(errors.count == 1 && errors[0].contains(item.message), "\(item.what): \(result.stderr)")
            #expect(!result.stderr.contains("validating"), "\(item.what): the CA was told to validate: \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/le/live/" + item.name), "\(item.what)")
        }
        #expect(try challengePOSTs(pebble) == 0, "Pebble was asked to validate a challenge")

        // The zone's second server never serves the record: the wait names it, then the record goes.
        let lagging = try issue(pebble, bind, dir, names: ["lag.lagging.test"], extra: ["--dns-propagation-wait", "2"])
        #expect(lagging.status == 2, "\(lagging.output)")
        #expect(lagging.stderr.contains("the TXT record for _acme-challenge.lag.lagging.test is not visible at ns2.lagging.test (127.0.0.2:\(bind.port)) after 2.0 seconds"), "\(lagging.output)")
        #expect(!lagging.stderr.contains("not visible at ns1.lagging.test"), "\(lagging.output)")
        #expect(try bind.txt("_acme-challenge.lag.lagging.test") == [], "the record was not removed after the failure")
        #expect(try challengePOSTs(pebble) == 0)
    }
}
