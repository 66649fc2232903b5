import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// `acme provision` with certificates from Pebble, installed into a real Postfix
/// and a real Dovecot, checked from outside with `openssl s_client`.
@Suite("acme provision with real Postfix and Dovecot", .serialized, .integration)
struct ProvisionIntegrationTests {
    @Test("ECDSA primary + RSA fallback served on SMTP, submissions, IMAP, IMAPS, POP3S; a renewal is served after reload, without restart")
    func postfixAndDovecot() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("provision")
        let le = dir + "/le"
        let root = dir + "/pebble-root.pem"
        try pebble.rootPEM().write(toFile: root, atomically: true, encoding: .utf8)

        // Two lineages from the CA: ECDSA (default) and RSA.
        for (name, type) in [("mail.example.test", "ec256"), ("mail.example.test-rsa", "rsa2048")] {
            let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--cert-name", name, "--key-type", type]
                                 + pebble.acmeArguments(configDir: le))
            #expect(issued.status == 0, "\(issued.output)")
        }

        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        let provision = ["provision", "--ssl-type", "manual", "--hostname", "mail.example.test",
                         "--cert-path", le + "/live/mail.example.test/fullchain.pem",
                         "--key-path", le + "/live/mail.example.test/privkey.pem",
                         "--alt-cert-path", le + "/live/mail.example.test-rsa/fullchain.pem",
                         "--alt-key-path", le + "/live/mail.example.test-rsa/privkey.pem",
                         "--tls-dir", dir + "/tls", "--postfix-dir", postfix.configDir, "--dovecot-dir", dovecot.configDir,
                         "--dms-config", dir + "/dms", "--config-dir", le]
        let first = try run(TestSupport.acmeBinary, provision)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout.contains("installed from manual"), "\(first.output)")
        #expect(first.stderr.contains("Postfix is not running"), "\(first.output)")

        try postfix.start()
        try dovecot.start()
        let endpoints: [(String, Int, String?)] = [
            ("smtp", postfix.smtpPort, "smtp"), ("submissions", postfix.submissionsPort, nil),
            ("imap", dovecot.imapPort, "imap"), ("imaps", dovecot.imapsPort, nil), ("pop3s", dovecot.pop3sPort, nil),
        ]
        let ecLeaf = try Certificate.chain(pem: try String(contentsOfFile: le + "/live/mail.example.test/cert.pem", encoding: .utf8))[0]
        let rsaLeaf = try Certificate.chain(pem: try String(contentsOfFile: le + "/live/mail.example.test-rsa/cert.pem", encoding: .utf8))[0]
        for (label, port, starttls) in endpoints {
            let probe = try TLSProbe.connect(port: port, starttls: starttls, caFile: root)
            #expect(probe.verifyResult == "Verify return code: 0 (ok)", "\(label): \(probe.output.suffix(1500))")
            #expect(probe.leaf?.serialHex == ecLeaf.serialHex, "\(label) must serve the ECDSA certificate by default")
            #expect(probe.isECDSA, "\(label)")
            // A client that only does RSA gets the fallback.
            let rsaOnly = try TLSProbe.connect(port: port, starttls: starttls, caFile: root,
                                               extra: ["-tls1_2", "-cipher", "aRSA", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"])
            #expect(rsaOnly.verifyResult == "Verify return code: 0 (ok)", "\(label) RSA: \(rsaOnly.output.suffix(1500))")
            #expect(rsaOnly.leaf?.serialHex == rsaLeaf.serialHex, "\(label): an RSA-only client must get the RSA certificate")
        }

        // Renewal: a new ECDSA certificate; provision installs it and reloads; the masters keep running.
        let postfixPID = postfix.masterPID, dovecotPID = dovecot.masterPID
        #expect(postfixPID != nil && dovecotPID != nil)
        let renewed = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--force-renewal"] + pebble.acmeArguments(configDir: le))
        #expect(renewed.status == 0, "\(renewed.output)")
        let newLeaf = try Certificate.chain(pem: try String(contentsOfFile: le + "/live/mail.example.test/cert.pem", encoding: .utf8))[0]
        #expect(newLeaf.serialHex != ecLeaf.serialHex)
        let rsaAfter = try Certificate.chain(pem: try String(contentsOfFile: le + "/live/mail.example.test-rsa/cert.pem", encoding: .utf8))[0]
        #expect(rsaAfter == rsaLeaf, "renewing the ECDSA lineage must leave the RSA lineage with the same names alone")

        let second = try run(TestSupport.acmeBinary, provision)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stderr.contains("replaces serial \(ecLeaf.serialHex)"), "\(second.output)")
        #expect(second.stderr.contains("reloaded postfix and dovecot"), "\(second.output)")
        #expect(!second.stderr.contains("postfix: "), "on renewal only the certificate changes: \(second.output)")
        for (label, port, starttls) in endpoints {
            var served: String?
            try? waitUntil("\(label) serves the new serial") {
                served = try TLSProbe.connect(port: port, starttls: starttls, caFile: root).leaf?.serialHex
                return served == newLeaf.serialHex
            }
            #expect(served == newLeaf.serialHex, "\(label) serves \(served ?? "nothing") after the reload, not the renewed \(newLeaf.serialHex)")
        }
        #expect(postfix.masterPID == postfixPID && dovecot.masterPID == dovecotPID, "reload, not restart")

        // Nothing changed now: nothing written, nothing reloaded.
        let third = try run(TestSupport.acmeBinary, provision)
        #expect(third.status == 0, "\(third.output)")
        #expect(third.stdout.contains("nothing changed"), "\(third.output)")
        #expect(!third.stderr.contains("reloaded"), "\(third.output)")

        // A broken source is refused and the daemons keep serving the installed certificate.
        try "-----BEGIN CERTIFICATE-----\nMIIB\n".write(toFile: dir + "/broken.pem", atomically: true, encoding: .utf8)
        var broken = provision
        broken[broken.firstIndex(of: "--cert-path")! + 1] = dir + "/broken.pem"
        let refused = try run(TestSupport.acmeBinary, broken)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.stderr.hasPrefix("error: \(dir)/broken.pem: truncated PEM"), "\(refused.output)")
        #expect(try TLSProbe.connect(port: postfix.smtpPort, starttls: "smtp", caFile: root).leaf?.serialHex == newLeaf.serialHex)

        // acme check sees what openssl s_client sees, on every endpoint, STARTTLS or not.
        let urls = [("smtp", postfix.smtpPort, "smtp"), ("smtps", postfix.submissionsPort, nil), ("imap", dovecot.imapPort, "imap"),
                    ("imaps", dovecot.imapsPort, nil), ("pop3s", dovecot.pop3sPort, nil), ("pop3", dovecot.pop3Port, "pop3"),
                    ("submission", postfix.smtpPort, "smtp")]
        for (scheme, port, starttls) in urls {
            let checked = try run(TestSupport.acmeBinary, ["check", "\(scheme)://127.0.0.1:\(port)", "--servername", "mail.example.test",
                                                           "--ca-file", root, "--json"])
            #expect(checked.status == 0, "\(scheme): \(checked.output)")
            let report = (try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [[String: Any]])?.first
            #expect(report?["serial"] as? String == newLeaf.serialHex, "\(scheme): \(checked.stdout)")
            #expect(report?["verifyCode"] as? Int == 0 && report?["keyType"] as? String == "ECDSA P-256", "\(scheme): \(checked.stdout)")
            let probe = try TLSProbe.connect(port: port, starttls: starttls, caFile: root)
            #expect(probe.verifyResult == "Verify return code: 0 (ok)")
        }
        // Against the system store, Pebble's root is unknown: both tools fail it, with the same code.
        let untrusted = try run(TestSupport.acmeBinary, ["check", "smtp://127.0.0.1:\(postfix.smtpPort)", "--servername", "mail.example.test"])
        #expect(untrusted.status == 1, "\(untrusted.output)")
        let systemProbe = try run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(postfix.smtpPort)", "-starttls", "smtp",
                                                       "-servername", "mail.example.test", "-verify_hostname", "mail.example.test"], input: "")
        let code = systemProbe.output.split(separator: "\n").first { $0.contains("Verify return code:") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? "?"
        #expect(untrusted.stdout.contains("(code \(code))"), "acme check: \(untrusted.stdout) / s_client code \(code)")
    }

    @Test("--issue-if-missing: SSL_TYPE=letsencrypt with no lineage issues one for the FQDN, then installs it")
    func issueIfMissing() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("provision-issue")
        let le = dir + "/le"
        let arguments = ["provision", "--hostname", "mail.example.test", "--tls-dir", dir + "/tls", "--postfix-dir", dir + "/postfix",
                         "--dovecot-dir", dir + "/dovecot", "--dms-config", dir + "/dms"] + pebble.acmeArguments(configDir: le)

        let without = try run(TestSupport.acmeBinary, arguments, environment: ["SSL_TYPE": "letsencrypt"])
        #expect(without.status == 2, "\(without.output)")
        #expect(without.stderr.contains("no usable certificate for mail.example.test"), "\(without.output)")

        let result = try run(TestSupport.acmeBinary, arguments + ["--issue-if-missing"], environment: ["SSL_TYPE": "letsencrypt"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("issuing one"), "\(result.output)")
        #expect(result.stdout.contains("installed from lineage \(le)/live/mail.example.test"), "\(result.output)")
        let installed = try Certificate.chain(pem: try String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8))
        #expect(installed.first?.covers(name: "mail.example.test") == true)
        #expect(installed.count >= 2, "the chain, not only the leaf")
    }

    @Test("--issue-if-missing --key-type ecdsa,rsa: issues the pair for the FQDN and installs the RSA one as the ALT pair")
    func issueIfMissingPair() throws {
        let pebble = try Pebble(authzReuse: 100)
        let dir = try TestSupport.temporaryDirectory("provision-issue-pair")
        let le = dir + "/le"
        let result = try run(TestSupport.acmeBinary, ["provision", "--hostname", "mail.example.test", "--tls-dir", dir + "/tls", "--postfix-dir", dir + "/postfix",
                                                      "--dovecot-dir", dir + "/dovecot", "--dms-config", dir + "/dms", "--issue-if-missing", "--key-type", "ecdsa,rsa"]
                             + pebble.acmeArguments(configDir: le), environment: ["SSL_TYPE": "letsencrypt"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("installed from lineage \(le)/live/mail.example.test; RSA fallback from lineage \(le)/live/mail.example.test-rsa"), "\(result.output)")
        let primary = try Certificate.chain(pem: try String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8))
        let alt = try Certificate.chain(pem: try String(contentsOfFile: dir + "/tls/current/alt_fullchain.pem", encoding: .utf8))
        #expect(primary.first?.covers(name: "mail.example.test") == true && alt.first?.covers(name: "mail.example.test") == true)
        #expect(try PrivateKey(file: dir + "/tls/current/key.pem").type.isECDSA)
        #expect(try !PrivateKey(file: dir + "/tls/current/alt_key.pem").type.isECDSA)
    }

    @Test("docker-mailserver variables drive it; a bad SSL_TYPE is one clear line and exit 64")
    func environmentVariables() throws {
        let dir = try TestSupport.temporaryDirectory("provision-env")
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let now = Date()
        let cert = try CertificateBuilder.make(commonName: "mail.example.test", dnsNames: ["mail.example.test"], key: key,
                                               notBefore: now - 60, notAfter: now + 86400 * 30, isCA: false, issuer: nil)
        try cert.pem.write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
        try key.pemPKCS8().write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/postfix", withIntermediateDirectories: true)
        try "myhostname = mail.example.test\n".write(toFile: dir + "/postfix/main.cf", atomically: true, encoding: .utf8)
        let arguments = ["provision", "--tls-dir", dir + "/tls", "--postfix-dir", dir + "/postfix", "--dovecot-dir", dir + "/dovecot"]
        // PATH as cron gives it, without /usr/sbin where postconf lives.
        let env = ["SSL_TYPE": "manual", "SSL_CERT_PATH": dir + "/cert.pem", "SSL_KEY_PATH": dir + "/key.pem",
                   "OVERRIDE_HOSTNAME": "mail.example.test", "TLS_LEVEL": "intermediate", "PATH": "/usr/bin:/bin"]
        let ok = try run(TestSupport.acmeBinary, arguments, environment: env)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(try String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8) == cert.pem)
        let main = try String(contentsOfFile: dir + "/postfix/main.cf", encoding: .utf8)
        #expect(main.contains("smtpd_tls_chain_files = \(dir)/tls/current/key.pem \(dir)/tls/current/fullchain.pem"), "\(main)")
        #expect(main.contains("tls_high_cipherlist = ECDHE-ECDSA-CHACHA20-POLY1305:"), "TLS_LEVEL=intermediate")

        var bad = env
        bad["SSL_TYPE"] = "snakeoil"
        let refused = try run(TestSupport.acmeBinary, arguments, environment: bad)
        #expect(refused.status == 64, "\(refused.output)")
        #expect(refused.stderr.contains("SSL_TYPE snakeoil is not supported"), "\(refused.output)")

        var wrongHost = env
        wrongHost["OVERRIDE_HOSTNAME"] = "imap.example.test"
        let mismatch = try run(TestSupport.acmeBinary, arguments, environment: wrongHost)
        #expect(mismatch.status == 2, "\(mismatch.output)")
        #expect(mismatch.stderr.contains("the certificate is for mail.example.test, not imap.example.test"), "\(mismatch.output)")
    }
}

@Suite("acme provision --watch", .integration)
struct ProvisionWatchTests {
    @Test("--watch installs a changed certificate on its own, and keeps the installed one when the source breaks")
    func watch() throws {
        let dir = try TestSupport.temporaryDirectory("provision-watch")
        func makeCertificate() throws -> Certificate {
            let key = try PrivateKey.generate(.ecdsa(.p256))
            let now = Date()
            let cert = try CertificateBuilder.make(commonName: "mail.example.test", dnsNames: ["mail.example.test"], key: key,
                                                   notBefore: now - 60, notAfter: now + 86400 * 30, isCA: false, issuer: nil)
            // Key first, then certificate: the watcher may look in between and must refuse, not install, a mismatch.
            try key.pemPKCS8().write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
            try cert.pem.write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
            return cert
        }
        let first = try makeCertificate()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.acmeBinary)
        process.arguments = ["provision", "--watch", "--interval", "1", "--ssl-type", "manual", "--hostname", "mail.example.test",
                             "--cert-path", dir + "/cert.pem", "--key-path", dir + "/key.pem", "--tls-dir", dir + "/tls",
                             "--postfix-dir", dir + "/postfix", "--dovecot-dir", dir + "/dovecot"]
        let log = dir + "/watch.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { stopProcess(process) }
        let installed = { (try? String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8)) ?? "" }
        try waitUntil("the first certificate is installed") { installed() == first.pem }

        let second = try makeCertificate()
        try waitUntil("the watcher installs the renewed certificate") { installed() == second.pem }
        #expect(process.isRunning)
        // Two more rounds with nothing to do. Idle rounds print nothing, so count them by what
        // each round does: it takes <tls-dir>/.acme-provision.lock once, before it looks at the
        // sources, and writes its lines before the next round starts. The first open after the
        // install means the installing round has written its lines; the third means two whole
        // rounds with nothing to do have run since.
        let readLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let rounds = try OpenCounter(path: dir + "/tls/.acme-provision.lock")
        func waitForRounds(_ count: Int, _ what: String) throws {
            do {
                try waitUntil(what, interval: 0.05) { try rounds.update() >= count }
            } catch {
                throw TestFailure("\(error) (the watcher opened its lock file \(rounds.count) times, \(count) needed); log: \(readLog())")
            }
        }
        try waitForRounds(1, "the watcher starts its next round")
        let logBefore = readLog()
        try waitForRounds(3, "two idle rounds of the watcher have run")
        // stdout is a file here, so the result lines ("nothing changed") may still sit in the
        // watcher's stdio buffer; the stderr lines (warnings, notes, steps) are in the log at once.
        #expect(readLog() == logBefore, "idle rounds must write nothing")
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logText.components(separatedBy: "nothing changed").count <= 2, "idle rounds must not fill the log: \(logText)")

        try "not a certificate\n".write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
        try waitUntil("the watcher reports the broken source") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("no PEM certificate in it")
        }
        #expect(process.isRunning, "a broken source must not stop the watcher")
        #expect(installed() == second.pem, "the installed certificate stays when the source breaks")
    }
}

/// Counts the times a file is opened, through inotify: the test sees rounds of
/// `acme provision --watch` that print nothing by the lock file each round opens.
final class OpenCounter {
    private let fd: Int32
    private(set) var count = 0

    init(path: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw TestFailure("inotify_init1: \(String(cString: strerror(errno)))") }
        guard inotify_add_watch(fd, path, UInt32(IN_OPEN)) >= 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TestFailure("cannot watch \(path) with inotify: \(reason)")
        }
    }

    deinit { close(fd) }

    /// Reads the events that have arrived; returns the opens counted so far.
    func update() throws -> Int {
        let header = MemoryLayout<inotify_event>.size
        let maskOffset = MemoryLayout<inotify_event>.offset(of: \.mask)!
        let lengthOffset = MemoryLayout<inotify_event>.offset(of: \.len)!
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EAGAIN { return count }
            guard n > 0 else { throw TestFailure("reading inotify events: \(String(cString: strerror(errno)))") }
            var offset = 0
            while offset + header <= n {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + maskOffset, as: UInt32.self) }
                let length = buffer.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset + lengthOffset, as: UInt32.self)) }
                if mask & UInt32(IN_OPEN) != 0 { count += 1 }
                if mask & UInt32(IN_IGNORED) != 0 { throw TestFailure("the watched file was removed") }
                offset += header + length
            }
        }
    }
}
