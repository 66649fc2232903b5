import Foundation
import Testing

/// Debian's certbot reads what `acme issue` wrote: it lists the lineage as valid, and it
/// renews it with our account and renewal conf.
@Suite("certbot interoperability", .serialized)
struct CertbotInteropTests {
    func certbot(_ args: [String], pebble: Pebble, configDir: String) throws -> RunResult {
        let certbot = try TestSupport.require("certbot")
        let work = configDir + "/../certbot-work"
        return try run(certbot, args + ["--config-dir", configDir, "--work-dir", work, "--logs-dir", work + "/logs", "--non-interactive"],
                       environment: ["REQUESTS_CA_BUNDLE": pebble.caBundle])
    }

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
