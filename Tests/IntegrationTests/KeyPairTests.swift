import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// `acme issue --key-type ecdsa,rsa` against a real Pebble that reuses valid authorizations,
/// `acme renew` of the pair, and `acme provision` serving both to real Postfix and Dovecot.
@Suite("ECDSA + RSA pair against Pebble, Postfix and Dovecot", .serialized, .integration)
struct KeyPairTests {
    static let name = "mail.example.test"
    static let rsaName = "mail.example.test-rsa"

    /// The lines of `output` before and after the line that starts the RSA order.
    static func halves(_ output: String) -> (ecdsa: [Substring], rsa: [Substring]) {
        let lines = output.split(separator: "\n")
        let split = lines.firstIndex { $0.contains("RSA certificate (") } ?? lines.endIndex
        return (Array(lines[..<split]), Array(lines[split...]))
    }

    /// Challenge responses the client POSTed (`--verbose` prints every request with its URL;
    /// Pebble's challenge URLs are /chalZ/…).
    static func challengePOSTs(_ lines: [Substring]) -> Int {
        lines.filter { $0.contains("POST ") && $0.contains("/chalZ/") }.count
    }

    static func leaf(_ le: String, _ lineage: String) throws -> Certificate {
        try Certificate.chain(pem: try String(contentsOfFile: le + "/live/\(lineage)/cert.pem", encoding: .utf8))[0]
    }

    @Test("issue --key-type ecdsa,rsa: two lineages with the right keys and the same names, validated once, the pair recorded")
    func issuePair() throws {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory("pair")
        let le = dir + "/le"
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa", "--verbose"]
                             + pebble.acmeArguments(configDir: le))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains(le + "/live/\(Self.name)/fullchain.pem"), "\(result.stdout)")
        #expect(result.stdout.contains(le + "/live/\(Self.rsaName)/fullchain.pem"), "\(result.stdout)")
        let root = try pebble.rootPEM()
        try LineageChecks(configDir: le, name: Self.name).verify(names: [Self.name], root: root, keyAlgorithm: "id-ecPublicKey")
        try LineageChecks(configDir: le, name: Self.rsaName).verify(names: [Self.name], root: root, keyAlgorithm: "rsaEncryption")

        // Validated once: the ECDSA order answered a challenge, the RSA order none.
        let (ecdsaLines, rsaLines) = Self.halves(result.stderr)
        #expect(!rsaLines.isEmpty, "no RSA order in the output: \(result.output)")
        #expect(Self.challengePOSTs(ecdsaLines) == 1, "\(result.stderr)")
        #expect(Self.challengePOSTs(rsaLines) == 0, "the RSA order validated again: \(result.stderr)")
        #expect(result.stderr.contains("names validated: ECDSA 1, RSA 0"), "\(result.stderr)")
        #expect(result.stderr.contains("reused the authorizations"), "\(result.stderr)")
        // Fewer requests for the second order: no challenge, no validation polling, no directory or nonce.
        let counts = result.stderr.split(separator: "\n").first { $0.contains("HTTP requests to the CA (ECDSA ") }
        let numbers = counts.map { $0.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) } } ?? []
        #expect(numbers.count >= 3 && numbers[2] < numbers[1], "request counts: \(counts ?? "none")")

        let ecdsaConf = try String(contentsOfFile: le + "/renewal/\(Self.name).conf", encoding: .utf8)
        let rsaConf = try String(contentsOfFile: le + "/renewal/\(Self.rsaName).conf", encoding: .utf8)
        #expect(ecdsaConf.contains("acme_key_pair = \(Self.rsaName)\n") && ecdsaConf.contains("key_type = ecdsa"), "\(ecdsaConf)")
        #expect(rsaConf.contains("acme_key_pair = \(Self.name)\n") && rsaConf.contains("key_type = rsa"), "\(rsaConf)")

        // The same command again: both valid and not due, nothing ordered.
        let again = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa"] + pebble.acmeArguments(configDir: le))
        #expect(again.status == 0, "\(again.output)")
        #expect(!again.stderr.contains("order created"), "\(again.output)")
        #expect(again.stderr.contains("certificate \(Self.name) covers") && again.stderr.contains("certificate \(Self.rsaName) covers"), "\(again.output)")

        // --cert-name names both; a wrong pair spelling is a one-line usage error before any CA contact.
        let named = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "rsa3072,ec384", "--cert-name", "mx"]
                            + pebble.acmeArguments(configDir: le))
        #expect(named.status == 0, "\(named.output)")
        try LineageChecks(configDir: le, name: "mx").verify(names: [Self.name], root: root, keyAlgorithm: "NIST CURVE: P-384")
        try LineageChecks(configDir: le, name: "mx-rsa").verify(names: [Self.name], root: root, keyAlgorithm: "3072 bit")
        let wrong = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ec256,ec384"] + pebble.acmeArguments(configDir: le))
        #expect(wrong.status == 64, "\(wrong.output)")
        #expect(wrong.stderr.contains("--key-type ec256,ec384 names two ECDSA key types"), "\(wrong.output)")
    }

    @Test("the RSA half fails after the ECDSA half succeeded: the ECDSA lineage stays, one error line names the missing RSA lineage and the retry")
    func rsaHalfFails() throws {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory("pair-half")
        let le = dir + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa"] + pebble.acmeArguments(configDir: le))
        #expect(issued.status == 0, "\(issued.output)")
        // The RSA lineage's certificate became unreadable (a disk problem, a bad hand edit).
        try "not a certificate\n".write(toFile: le + "/archive/\(Self.rsaName)/cert1.pem", atomically: true, encoding: .utf8)
        let before = try Self.leaf(le, Self.name)

        let again = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa", "--force-renewal"]
                            + pebble.acmeArguments(configDir: le))
        #expect(again.status == 2, "a local problem is exit 2: \(again.output)")
        let errors = again.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1, "\(again.stderr)")
        #expect(errors.first?.contains("the ECDSA certificate is saved in lineage \(Self.name) and stays in use, but the RSA certificate (lineage \(Self.rsaName)) was not obtained") == true, "\(again.stderr)")
        #expect(errors.first?.contains("run the same acme issue command again") == true, "\(again.stderr)")
        let after = try Self.leaf(le, Self.name)
        #expect(after.serialHex != before.serialHex, "the ECDSA lineage was renewed and kept")
        try LineageChecks(configDir: le, name: Self.name).verify(names: [Self.name], root: try pebble.rootPEM(), keyAlgorithm: "id-ecPublicKey", version: 2)
    }

    @Test("renew: --cert-name of the ECDSA lineage renews both; one due renews both, ECDSA first; a partner deleted leaves the other alone")
    func renewPair() throws {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory("pair-renew")
        let le = dir + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa"] + pebble.acmeArguments(configDir: le))
        #expect(issued.status == 0, "\(issued.output)")
        let before = (try Self.leaf(le, Self.name), try Self.leaf(le, Self.rsaName))
        let ca = ["--ca-bundle", pebble.caBundle, "--config-dir", le, "--no-random-sleep"]

        let forced = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--cert-name", Self.name] + ca)
        #expect(forced.status == 0, "\(forced.output)")
        #expect(forced.stdout.contains("\(Self.name): renewed (forced); version 2"), "\(forced.output)")
        #expect(forced.stdout.contains("\(Self.rsaName): renewed (forced); version 2"), "\(forced.output)")
        let after = (try Self.leaf(le, Self.name), try Self.leaf(le, Self.rsaName))
        #expect(after.0.serialHex != before.0.serialHex && after.1.serialHex != before.1.serialHex)
        #expect(forced.stderr.contains("\(Self.rsaName): the name is already authorized") || forced.stderr.contains("\(Self.rsaName): every name already authorized"),
                "the RSA renewal should reuse the authorization: \(forced.output)")
        let conf = try String(contentsOfFile: le + "/renewal/\(Self.rsaName).conf", encoding: .utf8)
        #expect(conf.contains("acme_key_pair = \(Self.name)\n"), "a renewal must keep the pairing: \(conf)")

        // Only the RSA lineage due (Pebble's certificates last 5 years): the ECDSA one comes along, first.
        let rsaConfPath = le + "/renewal/\(Self.rsaName).conf"
        try ("renew_before_expiry = 2000 days\n" + conf).write(toFile: rsaConfPath, atomically: true, encoding: .utf8)
        let due = try run(TestSupport.acmeBinary, ["renew"] + ca)
        #expect(due.status == 0, "\(due.output)")
        #expect(due.stdout.contains("\(Self.rsaName): renewed (renew_before_expiry = 2000 days); version 3"), "\(due.output)")
        #expect(due.stdout.contains("\(Self.name): renewed (together with its pair \(Self.rsaName)); version 3"), "\(due.output)")
        let ecdsaAt = due.stderr.range(of: "\(Self.name): renewing"), rsaAt = due.stderr.range(of: "\(Self.rsaName): renewing")
        #expect(ecdsaAt != nil && rsaAt != nil && ecdsaAt!.lowerBound < rsaAt!.lowerBound, "ECDSA must be renewed first: \(due.stderr)")

        // The user deleted the RSA lineage: the ECDSA one renews alone, with a note.
        let deleted = try run(TestSupport.acmeBinary, ["delete", "--cert-name", Self.rsaName, "--config-dir", le])
        #expect(deleted.status == 0, "\(deleted.output)")
        let alone = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--cert-name", Self.name] + ca)
        #expect(alone.status == 0, "\(alone.output)")
        #expect(alone.stdout.contains("\(Self.name): renewed (forced); version 4"), "\(alone.output)")
        #expect(!alone.stdout.contains(Self.rsaName + ":"), "\(alone.output)")
        #expect(alone.output.contains("its pair \(Self.rsaName) has no renewal conf any more; renewing \(Self.name) alone"), "\(alone.output)")
    }

    @Test("daemon: only the RSA lineage is due, and both are renewed in the same round, ECDSA first")
    func daemonRenewsPair() throws {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory("pair-daemon")
        let le = dir + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa"] + pebble.acmeArguments(configDir: le))
        #expect(issued.status == 0, "\(issued.output)")
        let before = (try Self.leaf(le, Self.name), try Self.leaf(le, Self.rsaName))
        let rsaConfPath = le + "/renewal/\(Self.rsaName).conf"
        try ("renew_before_expiry = 2000 days\n" + String(contentsOfFile: rsaConfPath, encoding: .utf8))
            .write(toFile: rsaConfPath, atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(["--no-provision", "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", le],
                                       log: dir + "/daemon.log")
        try waitUntil("the daemon renews both lineages", timeout: 60) {
            daemon.lines(containing: "renewed \(Self.name):").count == 1 && daemon.lines(containing: "renewed \(Self.rsaName):").count == 1
        }
        // The RSA lineage stays due (its conf says so), but a lineage the daemon renewed is held
        // back for a quarter of its lifetime: no second round of renewals.
        Thread.sleep(forTimeInterval: 3)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
        let log = daemon.log
        #expect(daemon.lines(containing: "renewed ").count == 2, "renewed again: \(log)")
        let ecdsaAt = log.range(of: "renewed \(Self.name):"), rsaAt = log.range(of: "renewed \(Self.rsaName):")
        #expect(ecdsaAt != nil && rsaAt != nil && ecdsaAt!.lowerBound < rsaAt!.lowerBound, "ECDSA first: \(log)")
        #expect(log.contains("together with its pair \(Self.rsaName)"), "\(log)")
        let after = (try Self.leaf(le, Self.name), try Self.leaf(le, Self.rsaName))
        #expect(after.0.serialHex != before.0.serialHex && after.1.serialHex != before.1.serialHex)
    }

    /// A Pebble that reuses authorizations (kept alive by the caller), the pair issued from it under
    /// `dir/le`, and Pebble's root in `dir/pebble-root.pem` for the TLS probes.
    func issuedPair(_ label: String) throws -> (pebble: Pebble, dir: String, le: String, root: String) {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory(label)
        let le = dir + "/le"
        let root = dir + "/pebble-root.pem"
        try pebble.rootPEM().write(toFile: root, atomically: true, encoding: .utf8)
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", Self.name, "--key-type", "ecdsa,rsa"] + pebble.acmeArguments(configDir: le))
        #expect(issued.status == 0, "\(issued.output)")
        return (pebble, dir, le, root)
    }

    static func provisionArguments(_ dir: String, _ le: String, _ postfix: PostfixServer, _ dovecot: DovecotServer) -> [String] {
        ["provision", "--ssl-type", "letsencrypt", "--hostname", name, "--config-dir", le, "--tls-dir", dir + "/tls",
         "--postfix-dir", postfix.configDir, "--dovecot-dir", dovecot.configDir, "--dms-config", dir + "/dms"]
    }

    @Test("provision installs the RSA lineage as ALT by itself; ECDSA and RSA-only clients each get theirs on SMTP STARTTLS and IMAPS")
    func provisionPair() throws {
        let (pebble, dir, le, root) = try issuedPair("pair-provision")
        defer { withExtendedLifetime(pebble) {} }  // the CA renewals and probes need

        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        let provision = try run(TestSupport.acmeBinary, Self.provisionArguments(dir, le, postfix, dovecot))
        #expect(provision.status == 0, "\(provision.output)")
        #expect(provision.stdout.contains("installed from lineage \(le)/live/\(Self.name); RSA fallback from lineage \(le)/live/\(Self.rsaName)"),
                "\(provision.output)")
        let mainCF = try String(contentsOfFile: postfix.configDir + "/main.cf", encoding: .utf8)
        let chainFiles = mainCF.split(separator: "\n").first { $0.hasPrefix("smtpd_tls_chain_files") }.map(String.init) ?? ""
        #expect(chainFiles.split(separator: " ").count >= 6, "Postfix needs both key+chain pairs: \(chainFiles)")
        let dovecotSSL = try FileManager.default.contentsOfDirectory(atPath: dovecot.configDir + "/conf.d")
            .map { try String(contentsOfFile: dovecot.configDir + "/conf.d/" + $0, encoding: .utf8) }.joined()
        #expect(dovecotSSL.contains("ssl_alt_cert = <"), "\(dovecotSSL)")

        try postfix.start()
        try dovecot.start()
        let ecLeaf = try Self.leaf(le, Self.name), rsaLeaf = try Self.leaf(le, Self.rsaName)
        for (label, port, starttls) in [("smtp", postfix.smtpPort, "smtp" as String?), ("imaps", dovecot.imapsPort, nil)] {
            let modern = try TLSProbe.connect(port: port, starttls: starttls, caFile: root)
            #expect(modern.verifyResult == "Verify return code: 0 (ok)", "\(label): \(modern.output.suffix(1500))")
            #expect(modern.leaf?.serialHex == ecLeaf.serialHex && modern.isECDSA, "\(label): an ECDSA-capable client must get the ECDSA certificate")
            for extra in [["-tls1_2", "-cipher", "aRSA"], ["-tls1_2", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"]] {
                let rsaOnly = try TLSProbe.connect(port: port, starttls: starttls, caFile: root, extra: extra)
                #expect(rsaOnly.verifyResult == "Verify return code: 0 (ok)", "\(label) \(extra): \(rsaOnly.output.suffix(1500))")
                #expect(rsaOnly.leaf?.serialHex == rsaLeaf.serialHex && rsaOnly.isRSA,
                        "\(label) \(extra): an RSA-only client must get the RSA certificate, got \(rsaOnly.leaf?.serialHex ?? "none")")
            }
        }
    }

    @Test("provision --verify checks the RSA fallback too: a Dovecot still serving the old RSA certificate to clients without ECDSA is found and the previous set put back")
    func verifyRSAFallback() throws {
        let (pebble, dir, le, root) = try issuedPair("pair-verify")
        defer { withExtendedLifetime(pebble) {} }  // the CA renewals and probes need
        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        let provision = Self.provisionArguments(dir, le, postfix, dovecot)
        let first = try run(TestSupport.acmeBinary, provision)
        #expect(first.status == 0, "\(first.output)")
        try postfix.start()
        try dovecot.start()
        let verify = provision + ["--verify", "--verify-ca-file", root, "--verify-timeout", "15",
                                  "--endpoint", "smtp://127.0.0.1:\(postfix.smtpPort)", "--endpoint", "imaps://127.0.0.1:\(dovecot.imapsPort)"]
        let served = try run(TestSupport.acmeBinary, verify)
        #expect(served.status == 0, "both certificates are served: \(served.output)")
        let firstSet = try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current")

        // Dovecot's RSA fallback is pinned to copies of today's files, after the managed settings.
        try FileManager.default.createDirectory(atPath: dir + "/pinned", withIntermediateDirectories: true)
        for file in ["alt_fullchain.pem", "alt_key.pem"] {
            try FileManager.default.copyItem(atPath: dir + "/tls/current/" + file, toPath: dir + "/pinned/" + file)
        }
        let conf = dovecot.configDir + "/dovecot.conf"
        try (try String(contentsOfFile: conf, encoding: .utf8) + "ssl_alt_cert = <\(dir)/pinned/alt_fullchain.pem\nssl_alt_key = <\(dir)/pinned/alt_key.pem\n")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--cert-name", Self.name, "--config-dir", le])
        #expect(renewed.status == 0 && renewed.stdout.contains("\(Self.rsaName): renewed"), "\(renewed.output)")

        let rolledBack = try run(TestSupport.acmeBinary, verify)
        #expect(rolledBack.status == 1, "\(rolledBack.output)")
        #expect(rolledBack.stderr.contains("imaps://127.0.0.1:\(dovecot.imapsPort): to clients without ECDSA: serves another certificate"), "\(rolledBack.output)")
        #expect(!rolledBack.stderr.contains("smtp://127.0.0.1:\(postfix.smtpPort): "), "Postfix serves both new certificates: \(rolledBack.output)")
        #expect(rolledBack.stderr.contains("the previous certificate was put back and is served"), "\(rolledBack.output)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current") == firstSet)
    }
}
