import Foundation
import TestFixtures
import Testing

/// Files acme does not control: links out of its trees, FIFOs where files belong, odd version
/// numbers, encrypted keys, certificate fields with control characters. Each case runs the real
/// binary on a config directory made with openssl and checks what a user would: the exit code,
/// one clear line, nothing outside the tree touched, no hang, no raw control character printed.
@Suite("hostile and broken files", .serialized, .integration)
struct HostileFilesTests {
    /// A config directory holding one lineage made by acme selfsigned's CA tooling: openssl
    /// makes a CA and a leaf; the lineage is laid out as certbot would (live links into archive).
    static func configWithLineage(_ label: String, name: String = "mail.example.test",
                                  subject: String? = nil) throws -> (dir: String, name: String) {
        let dir = try TestSupport.temporaryDirectory(label)
        let archive = "\(dir)/le/archive/\(name)", live = "\(dir)/le/live/\(name)"
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/le/renewal", withIntermediateDirectories: true)
        let made = try run("/bin/sh", ["-c", """
            set -e; cd \(archive)
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out chain1.pem -days 30 -subj /CN=Test-CA 2>/dev/null
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout privkey1.pem -out leaf.csr -subj /CN=\(name) 2>/dev/null
            printf 'subjectAltName=DNS:\(name)\\nbasicConstraints=critical,CA:FALSE\\n' > ext
            openssl x509 -req -in leaf.csr -CA chain1.pem -CAkey ca.key -CAcreateserial -out cert1.pem -days 20 -extfile ext 2>/dev/null
            cat cert1.pem chain1.pem > fullchain1.pem; rm -f leaf.csr ext ca.key chain1.srl
            """])
        guard made.status == 0 else { throw TestFailure("openssl could not make the lineage: \(made.output)") }
        for kind in ["cert", "chain", "fullchain", "privkey"] {
            try FileManager.default.createSymbolicLink(atPath: "\(live)/\(kind).pem", withDestinationPath: "../../archive/\(name)/\(kind)1.pem")
        }
        try """
        version = 2.1.0
        archive_dir = \(archive)
        cert = \(live)/cert.pem
        privkey = \(live)/privkey.pem
        chain = \(live)/chain.pem
        fullchain = \(live)/fullchain.pem

        [renewalparams]
        account = 0123
        server = https://127.0.0.1:9/dir
        authenticator = standalone

        """.write(toFile: "\(dir)/le/renewal/\(name).conf", atomically: true, encoding: .utf8)
        return (dir, name)
    }

    static func errorLine(_ result: RunResult) -> String {
        result.stderr.split(separator: "\n").last(where: { $0.hasPrefix("error: ") }).map(String.init) ?? ""
    }

    /// A directory outside the config tree with files that must survive.
    static func outsider(_ dir: String) throws -> String {
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for file in ["cert.pem", "keep-me.txt", "privkey1.pem"] {
            try "precious\n".write(toFile: outside + "/" + file, atomically: true, encoding: .utf8)
        }
        return outside
    }

    static func contents(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test("delete on a lineage whose live/ or archive/ directory is a link out of the tree touches nothing outside", arguments: ["live", "archive"])
    func deleteThroughLink(_ tree: String) throws {
        let (dir, name) = try Self.configWithLineage("del-\(tree)")
        let outside = try Self.outsider(dir)
        let before = try Self.contents(outside)
        let path = "\(dir)/le/\(tree)/\(name)"
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: outside)
        let result = try run(TestSupport.acmeBinary, ["delete", "--cert-name", name, "--config-dir", dir + "/le"], timeout: 30)
        #expect(result.status == 2, "\(result.output)")
        #expect(Self.errorLine(result).contains("symbolic link"), "\(result.stderr)")
        #expect(try Self.contents(outside) == before, "files outside the config directory were removed")
    }

    @Test("renew (and its repair) on a lineage whose live/ is a link leaves the target alone and says why")
    func repairThroughLink() throws {
        let (dir, name) = try Self.configWithLineage("repair-link")
        let outside = try Self.outsider(dir)
        let before = try Self.contents(outside)
        let live = "\(dir)/le/live/\(name)"
        try FileManager.default.removeItem(atPath: live)
        try FileManager.default.createSymbolicLink(atPath: live, withDestinationPath: outside)
        for _ in 0..<2 {
            let result = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir + "/le"], timeout: 30)
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stderr.contains("\(name): failed:"), "\(result.stderr)")
        }
        #expect(try Self.contents(outside) == before)
    }

    @Test("a FIFO where a certificate belongs: certificates and renew answer at once instead of hanging")
    func fifo() throws {
        let (dir, name) = try Self.configWithLineage("fifo")
        let cert = "\(dir)/le/archive/\(name)/cert1.pem"
        try FileManager.default.removeItem(atPath: cert)
        guard mkfifo(cert, 0o644) == 0 else { throw TestFailure("mkfifo failed") }
        let started = Date()
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir + "/le"], timeout: 20)
        #expect(listed.status == 2, "\(listed.output)")
        #expect(listed.stdout.contains("a FIFO, not a regular file"), "\(listed.output)")
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--config-dir", dir + "/le"], timeout: 20)
        #expect(renewed.status == 1, "\(renewed.output)")
        #expect(renewed.stderr.contains("a FIFO"), "\(renewed.output)")
        // Neither run hung on the FIFO: each `run` fails the test past its 20-s bound.
        print("certificates and renew with a FIFO in the archive: \(Int(Date().timeIntervalSince(started))) s")
    }

    @Test("archive files with version numbers that are not numbers are ignored; a huge one cannot crash the next version")
    func versionNumbers() throws {
        let (dir, name) = try Self.configWithLineage("versions")
        let archive = "\(dir)/le/archive/\(name)"
        for odd in ["cert-1.pem", "cert+5.pem", "cert 7.pem", "cert99999999999999999999.pem", "cert9223372036854775807.pem"] {
            try "junk\n".write(toFile: archive + "/" + odd, atomically: true, encoding: .utf8)
        }
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir + "/le"], timeout: 30)
        #expect(listed.status == 0 && listed.stdout.contains("status:   valid"), "\(listed.output)")
        // The renewal reaches the (unreachable) CA and fails there, not on the version arithmetic.
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir + "/le"], timeout: 60)
        #expect(renewed.status == 1, "\(renewed.output)")
        #expect(renewed.stderr.contains("127.0.0.1:9"), "\(renewed.output)")
        #expect(FileManager.default.fileExists(atPath: archive + "/cert-1.pem"), "repair removed a file that is not a version")
    }

    @Test("a renewal conf that is a link to a secret file never has its content printed")
    func secretConf() throws {
        let (dir, name) = try Self.configWithLineage("secret")
        let secret = dir + "/secret.txt"
        try "TOPSECRET-hunter2-do-not-print\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let conf = "\(dir)/le/renewal/\(name).conf"
        try FileManager.default.removeItem(atPath: conf)
        try FileManager.default.createSymbolicLink(atPath: conf, withDestinationPath: secret)
        for arguments in [["renew", "--no-random-sleep"], ["certificates"], ["certificates", "--json"]] {
            let result = try run(TestSupport.acmeBinary, arguments + ["--config-dir", dir + "/le"], timeout: 30)
            #expect(result.status != 0, "\(arguments): \(result.output)")
            #expect(!result.output.contains("TOPSECRET") && !result.output.contains("hunter2"), "\(arguments) printed the file: \(result.output)")
        }
    }

    @Test("certificates marks what renew would fail on as broken, and says so in its exit status")
    func brokenLineages() throws {
        let (dir, name) = try Self.configWithLineage("broken")
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir + "/le"], timeout: 30)
        #expect(listed.status == 0, "\(listed.output)")
        let conf = "\(dir)/le/renewal/\(name).conf"
        let text = try String(contentsOfFile: conf, encoding: .utf8)
        for (broken, reason) in [(text.replacingOccurrences(of: "authenticator = standalone", with: "authenticator = standalone\nhttp01_port = 99999"), "http01_port 99999"),
                                 (text.replacingOccurrences(of: "archive_dir", with: "# archive_dir"), "archive_dir"),
                                 ("garbage without equals\n", "is not \"key = value\"")] {
            try broken.write(toFile: conf, atomically: true, encoding: .utf8)
            let result = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir + "/le"], timeout: 30)
            #expect(result.status == 2, "\(reason): \(result.output)")
            #expect(result.stdout.contains("status:") && result.stdout.contains(reason), "\(reason): \(result.output)")
        }
    }

    @Test("an encrypted private key is refused with one line naming the file; no pass-phrase prompt")
    func encryptedKey() throws {
        let dir = try TestSupport.temporaryDirectory("encrypted")
        let made = try run("/bin/sh", ["-c", """
            set -e; cd \(dir)
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -passout pass:secret -keyout enc.key -out cert.pem -days 30 -subj /CN=mail.example.test -addext subjectAltName=DNS:mail.example.test 2>/dev/null
            """])
        #expect(made.status == 0, "\(made.output)")
        #expect(try String(contentsOfFile: dir + "/enc.key", encoding: .utf8).contains("ENCRYPTED"))
        let result = try run(TestSupport.acmeBinary, ["provision", "--ssl-type", "manual", "--hostname", "mail.example.test",
                                                      "--cert-path", dir + "/cert.pem", "--key-path", dir + "/enc.key",
                                                      "--tls-dir", dir + "/tls", "--postfix-dir", dir + "/postfix",
                                                      "--dovecot-dir", dir + "/dovecot"], timeout: 30)
        #expect(result.status == 2, "\(result.output)")
        #expect(Self.errorLine(result).contains(dir + "/enc.key") && Self.errorLine(result).contains("encrypted"), "\(result.stderr)")
        let revoke = try run(TestSupport.acmeBinary, ["revoke", "--cert-path", dir + "/cert.pem", "--key-path", dir + "/enc.key",
                                                      "--server", "https://127.0.0.1:9/dir", "--config-dir", dir + "/le"], timeout: 30)
        #expect(revoke.status == 2, "\(revoke.output)")
        #expect(Self.errorLine(revoke).contains(dir + "/enc.key") && Self.errorLine(revoke).contains("encrypted"), "\(revoke.stderr)")
    }

    @Test("a --ca-bundle that is a directory or holds no certificate is refused before any request", arguments: ["directory", "empty"])
    func caBundle(_ kind: String) throws {
        let dir = try TestSupport.temporaryDirectory("bundle")
        let bundle = dir + "/bundle"
        if kind == "directory" {
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        } else {
            try "no certificates here\n".write(toFile: bundle, atomically: true, encoding: .utf8)
        }
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--server", "https://127.0.0.1:9/dir",
                                                      "--ca-bundle", bundle, "--config-dir", dir + "/le", "--agree-tos"], timeout: 30)
        #expect(result.status == 2, "\(result.output)")
        #expect(Self.errorLine(result).contains(bundle), "\(result.stderr)")
        #expect(!result.output.contains("127.0.0.1:9"), "it contacted the CA first: \(result.output)")
    }

    @Test("tlsa refuses a file whose first certificate is the CA, and prints certificate text escaped")
    func tlsaInput() throws {
        let (dir, name) = try Self.configWithLineage("tlsa")
        let archive = "\(dir)/le/archive/\(name)"
        let reversed = dir + "/reversed.pem"
        try (try String(contentsOfFile: archive + "/chain1.pem", encoding: .utf8) + String(contentsOfFile: archive + "/cert1.pem", encoding: .utf8))
            .write(toFile: reversed, atomically: true, encoding: .utf8)
        let refused = try run(TestSupport.acmeBinary, ["tlsa", "--cert-path", reversed], timeout: 30)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.stdout.isEmpty, "printed records for the CA's key: \(refused.stdout)")

        // A leaf whose common name carries a newline and an escape sequence (made with python's cryptography).
        let evil = dir + "/evil.pem"
        let made = try run("/usr/bin/python3", ["-c", """
            import datetime, sys
            from cryptography import x509
            from cryptography.x509.oid import NameOID
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.test\\nevil IN TXT pwned\\x1b[31m")])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()))
            open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
            """, evil])
        #expect(made.status == 0, "\(made.output)")
        let printed = try run(TestSupport.acmeBinary, ["tlsa", "--cert-path", evil, "--host", "mx.example.test"], timeout: 30)
        #expect(printed.status == 0, "\(printed.output)")
        let lines = printed.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines.allSatisfy { $0.hasPrefix("_25._tcp.mx.example.test. IN TLSA 3 1 1 ") }, "\(printed.stdout)")
        #expect(!printed.output.contains("\u{1b}"), "raw escape character printed")
        let noHost = try run(TestSupport.acmeBinary, ["tlsa", "--cert-path", evil], timeout: 30)
        #expect(noHost.status == 64, "a certificate field became the record owner: \(noHost.output)")
        #expect(!noHost.output.contains("\u{1b}") && !noHost.stdout.contains("pwned"), "\(noHost.output)")
    }
}
