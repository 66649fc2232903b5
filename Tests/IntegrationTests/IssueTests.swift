import Foundation
import TestFixtures
import Testing

/// `acme issue` against a real Pebble CA, checked the way a user would check it.
@Suite("acme issue against Pebble", .serialized, .integration)
struct IssueTests {
    @Test("one name, ECDSA, standalone responder")
    func oneName() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("one")
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--email", "admin@example.test"]
                             + pebble.acmeArguments(configDir: dir + "/le"))
        #expect(result.status == 0, "acme issue failed: \(result.output)")
        #expect(result.stdout.contains(dir + "/le/live/mail.example.test/fullchain.pem"))
        #expect(result.stderr.contains("validated 1 name"), "\(result.output)")
        try LineageChecks(configDir: dir + "/le", name: "mail.example.test")
            .verify(names: ["mail.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")

        // The same names again: valid and not due, so nothing is ordered and nothing changes.
        let before = LineageChecks.snapshot(dir + "/le")
        let again = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test"] + pebble.acmeArguments(configDir: dir + "/le"))
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stderr.contains("not due for renewal"), "\(again.output)")
        #expect(!again.stderr.contains("order created"))
        #expect(LineageChecks.snapshot(dir + "/le") == before)
    }

    @Test("20 names, RSA 2048, one order validated together")
    func twentyNames() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("twenty")
        let names = (1...20).map { "host\($0).example.test" }
        let result = try run(TestSupport.acmeBinary, ["issue", "--key-type", "rsa2048"] + names.flatMap { ["-d", $0] }
                             + pebble.acmeArguments(configDir: dir + "/le"))
        #expect(result.status == 0, "acme issue failed: \(result.output)")
        #expect(result.stderr.contains("validating 20 names with http-01"))
        #expect(result.stderr.contains("validated 20 names"), "\(result.output)")
        try LineageChecks(configDir: dir + "/le", name: "host1.example.test")
            .verify(names: names, root: try pebble.rootPEM(), keyAlgorithm: "rsaEncryption")
    }

    @Test("ECDSA P-384 and RSA 4096 keys")
    func otherKeyTypes() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("keys")
        for (type, name, algo) in [("ec384", "p384.example.test", "NIST CURVE: P-384"), ("rsa4096", "rsa.example.test", "4096 bit")] {
            let result = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--key-type", type] + pebble.acmeArguments(configDir: dir + "/le"))
            #expect(result.status == 0, "\(type): \(result.output)")
            try LineageChecks(configDir: dir + "/le", name: name).verify(names: [name], root: try pebble.rootPEM(), keyAlgorithm: algo)
        }
        let conf = try String(contentsOfFile: dir + "/le/renewal/rsa.example.test.conf", encoding: .utf8)
        #expect(conf.contains("key_type = rsa") && conf.contains("rsa_key_size = 4096"), "\(conf)")
    }

    @Test("webroot: token files served by another web server, removed afterwards")
    func webroot() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("webroot")
        let root = dir + "/www"
        let server = try WebrootServer(root: root, port: pebble.httpPort)
        defer { withExtendedLifetime(server) {} }

        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "web.example.test", "--webroot", root,
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                      "--config-dir", dir + "/le", "--agree-tos"])
        #expect(result.status == 0, "acme issue --webroot failed: \(result.output)")
        try LineageChecks(configDir: dir + "/le", name: "web.example.test")
            .verify(names: ["web.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey")
        #expect(!FileManager.default.fileExists(atPath: root + "/.well-known"), "webroot token directory left behind")
        let conf = try String(contentsOfFile: dir + "/le/renewal/web.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = webroot"), "\(conf)")
    }

    /// The HTTP requests `acme issue --verbose` reports for `names` names through `method`, with
    /// an existing account: every one of them, retries included (ACMEClient.requestCount).
    func requests(_ pebble: Pebble, dir: String, names: [String], method: [String]) throws -> Int {
        let result = try run(TestSupport.acmeBinary, ["issue", "--verbose"] + names.flatMap { ["-d", $0] } + method
                             + ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir, "--agree-tos"])
        #expect(result.status == 0, "\(result.output)")
        guard let line = result.output.split(separator: "\n").first(where: { $0.hasSuffix(" HTTP requests to the CA") }),
              let count = Int(line.split(separator: " ").first { Int($0) != nil } ?? "") else {
            throw TestFailure("acme issue --verbose reported no request count: \(result.output)")
        }
        return count
    }

    @Test("at the protocol floor on every HTTP-01 path: 9 requests for one name (a late validation: 2 polls more at most), at most 1.2 x (7 + 2 per name) for 20")
    func requestCounts() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("requests")
        let server = try WebrootServer(root: dir + "/www", port: pebble.httpPort)
        let register = try run(TestSupport.acmeBinary, ["account", "register", "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                        "--config-dir", dir + "/le", "--agree-tos"])
        #expect(register.status == 0, "\(register.output)")
        // directory, newNonce, newOrder, an authorization and a challenge per name, one order poll once
        // validated, finalize, one order poll (Pebble finalizes asynchronously), download.
        func minimum(_ n: Int) -> Int { 7 + 2 * n }
        let webroot = ["--webroot", server.root]
        // A webroot gives no sign of the CA's fetch, so the order is polled on a schedule: on a loaded
        // machine Pebble validates later and a poll or two more is honest (seen once in seven loaded runs).
        let one = try requests(pebble, dir: dir + "/le", names: ["one.example.test"], method: webroot)
        #expect(one >= minimum(1) && one <= minimum(1) + 2, "one name through a webroot: \(one) requests")
        let twenty = (1...20).map { "w\($0).example.test" }
        let many = try requests(pebble, dir: dir + "/le", names: twenty, method: webroot)
        #expect(many >= minimum(20) && Double(many) <= 1.2 * Double(minimum(20)), "20 names through a webroot: \(many) requests")
        server.stop()

        let standalone = ["--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1"]
        // The responder sees the CA's fetch, but Pebble records the validation a moment later: on a
        // loaded machine the first poll after the fetch may still find it pending (seen once).
        let solo = try requests(pebble, dir: dir + "/le", names: ["solo.example.test"], method: standalone)
        #expect(solo >= minimum(1) && solo <= minimum(1) + 2, "one name through the responder: \(solo) requests")
        let responded = try requests(pebble, dir: dir + "/le", names: (1...20).map { "s\($0).example.test" }, method: standalone)
        #expect(responded >= minimum(20) && Double(responded) <= 1.2 * Double(minimum(20)), "20 names through the responder: \(responded) requests")
    }

    @Test("an existing account is reused; a second lineage for other names; -0001 on a name clash")
    func existingAccount() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("account")
        let args = pebble.acmeArguments(configDir: dir + "/le")
        let first = try run(TestSupport.acmeBinary, ["issue", "-d", "a.example.test"] + args)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stderr.contains("registered account"))
        let second = try run(TestSupport.acmeBinary, ["issue", "-d", "a.example.test", "-d", "b.example.test"] + args)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stderr.contains("using account"), "\(second.output)")
        #expect(!second.stderr.contains("registered account"))
        #expect(FileManager.default.fileExists(atPath: dir + "/le/live/a.example.test-0001/cert.pem"))
        let accountDirs = try FileManager.default.contentsOfDirectory(atPath: dir + "/le/accounts/localhost:\(pebble.acmePort)/dir")
        #expect(accountDirs.count == 1, "accounts: \(accountDirs)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/le/accounts")[.posixPermissions] as? Int
        #expect(mode == 0o700)

        // --force-renewal on existing names writes version 2 into the same lineage.
        let forced = try run(TestSupport.acmeBinary, ["issue", "-d", "a.example.test", "--force-renewal"] + args)
        #expect(forced.status == 0, "\(forced.output)")
        try LineageChecks(configDir: dir + "/le", name: "a.example.test")
            .verify(names: ["a.example.test"], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey", version: 2)
    }

    @Test("External Account Binding: refused without, accepted with")
    func externalAccountBinding() throws {
        let pebble = try Pebble(requireEAB: true)
        let dir = try TestSupport.temporaryDirectory("eab")
        let args = pebble.acmeArguments(configDir: dir + "/le")
        let without = try run(TestSupport.acmeBinary, ["issue", "-d", "eab.example.test"] + args)
        #expect(without.status == 64, "\(without.output)")
        #expect(without.stderr.contains("--eab-kid"), "\(without.stderr)")
        let with = try run(TestSupport.acmeBinary, ["issue", "-d", "eab.example.test", "--eab-kid", "kid-1",
                                                    "--eab-hmac-key", Pebble.eabKeys["kid-1"]!] + args)
        #expect(with.status == 0, "\(with.output)")
        #expect(FileManager.default.fileExists(atPath: dir + "/le/live/eab.example.test/fullchain.pem"))
    }

    @Test("half of all nonces rejected: every issuance still succeeds")
    func badNonces() throws {
        let pebble = try Pebble(nonceReject: 50)
        let dir = try TestSupport.temporaryDirectory("nonce")
        for i in 1...4 {
            let result = try run(TestSupport.acmeBinary, ["issue", "-d", "n\(i).example.test", "-d", "m\(i).example.test"]
                                 + pebble.acmeArguments(configDir: dir + "/le"))
            #expect(result.status == 0, "issuance \(i) with PEBBLE_WFE_NONCEREJECT=50: \(result.output)")
        }
    }
}
