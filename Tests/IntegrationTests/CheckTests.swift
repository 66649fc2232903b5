import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// `acme check` against TLS servers with a bad certificate each (openssl s_server), compared
/// with what `openssl s_client` says about the same server.
@Suite("acme check against broken servers", .serialized, .integration)
struct CheckTests {
    final class TLSServer {
        let port = TestSupport.freePort()
        let process = Process()
        init(cert: String, key: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key, "-www", "-quiet"]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            try TestSupport.waitForPort(port, timeout: 60)
        }
        deinit { stopProcess(process) }
    }

    /// s_client's "Verify return code" number for the server, with the same name check and trust.
    func sClientCode(_ port: Int, caFile: String) throws -> Int? {
        let result = try run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "mail.example.test",
                                                  "-verify_hostname", "mail.example.test", "-CAfile", caFile], input: "")
        let line = result.output.split(separator: "\n").first { $0.contains("Verify return code:") } ?? ""
        return line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces).split(separator: " ").first.flatMap { Int($0) }
    }

    @Test("expired, wrong name, untrusted root: each fails with the code s_client reports; a good one passes; --expires-within; --alert-to mails")
    func brokenServers() throws {
        let dir = try TestSupport.temporaryDirectory("check")
        let now = Date()
        let caKey = try PrivateKey.generate(.ecdsa(.p256))
        let ca = try CertificateBuilder.make(commonName: "Check Root", dnsNames: [], key: caKey, notBefore: now - 86_400 * 30,
                                             notAfter: now + 86_400 * 3650, isCA: true, issuer: nil)
        try ca.pem.write(toFile: dir + "/root.pem", atomically: true, encoding: .utf8)
        let otherKey = try PrivateKey.generate(.ecdsa(.p256))
        let otherCA = try CertificateBuilder.make(commonName: "Unknown Root", dnsNames: [], key: otherKey, notBefore: now - 86_400,
                                                  notAfter: now + 86_400 * 3650, isCA: true, issuer: nil)
        func server(_ label: String, names: [String], from: Date, to: Date, issuer: CertificateBuilder.Issuer) throws -> TLSServer {
            let key = try PrivateKey.generate(.rsa(bits: 2048))
            let leaf = try CertificateBuilder.make(commonName: names[0], dnsNames: names, key: key, notBefore: from, notAfter: to,
                                                   isCA: false, issuer: issuer)
            try (leaf.pem + issuer.certificate.pem).write(toFile: "\(dir)/\(label).pem", atomically: true, encoding: .utf8)
            try key.pemPKCS8().write(toFile: "\(dir)/\(label).key", atomically: true, encoding: .utf8)
            return try TLSServer(cert: "\(dir)/\(label).pem", key: "\(dir)/\(label).key")
        }
        let trusted = CertificateBuilder.Issuer(certificate: ca, key: caKey)
        let good = try server("good", names: ["mail.example.test"], from: now - 86_400, to: now + 86_400 * 10, issuer: trusted)
        let expired = try server("expired", names: ["mail.example.test"], from: now - 86_400 * 20, to: now - 86_400, issuer: trusted)
        let wrongName = try server("wrong", names: ["other.example.test"], from: now - 86_400, to: now + 86_400 * 60, issuer: trusted)
        let untrusted = try server("untrusted", names: ["mail.example.test"], from: now - 86_400, to: now + 86_400 * 60,
                                   issuer: .init(certificate: otherCA, key: otherKey))

        for (label, tls, expected) in [("good", good, 0), ("expired", expired, 10), ("wrong name", wrongName, 62), ("untrusted", untrusted, 21)] {
            let result = try run(TestSupport.acmeBinary, ["check", "https://127.0.0.1:\(tls.port)", "--servername", "mail.example.test",
                                                          "--ca-file", dir + "/root.pem", "--json"])
            let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])?.first
            let code = report?["verifyCode"] as? Int
            #expect(code == expected, "\(label): \(result.output)")
            let theirs = try sClientCode(tls.port, caFile: dir + "/root.pem")
            #expect(code == theirs, "\(label): acme check says \(code ?? -1), s_client \(theirs ?? -1)")
            #expect(result.status == (expected == 0 ? 0 : 1), "\(label): \(result.output)")
        }

        let text = try run(TestSupport.acmeBinary, ["check", "https://127.0.0.1:\(good.port)", "--servername", "mail.example.test",
                                                    "--ca-file", dir + "/root.pem"])
        #expect(text.stdout.contains("verified:   ok for mail.example.test") && text.stdout.contains("key:        RSA 2048")
                && text.stdout.contains("days left:  9"), "\(text.output)")

        // Expiring in 10 days fails a 14-day limit and mails the postmaster through sendmail.
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\necho \"$@\" > \(dir)/sendmail.args\ncat > \(dir)/sendmail.mail\n".write(toFile: bin + "/sendmail", atomically: true, encoding: .utf8)
        chmod(bin + "/sendmail", 0o755)
        let soon = try run(TestSupport.acmeBinary, ["check", "https://127.0.0.1:\(good.port)", "--servername", "mail.example.test",
                                                    "--ca-file", dir + "/root.pem", "--expires-within", "14d", "--alert-to", "postmaster@example.test"],
                           environment: ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        #expect(soon.status == 1 && soon.stdout.contains("EXPIRES SOON"), "\(soon.output)")
        let mail = (try? String(contentsOfFile: dir + "/sendmail.mail", encoding: .utf8)) ?? ""
        #expect(mail.contains("To: postmaster@example.test") && mail.contains("expires") && mail.contains("in 9 days"), "mail: \(mail)")
        let fine = try run(TestSupport.acmeBinary, ["check", "https://127.0.0.1:\(good.port)", "--servername", "mail.example.test",
                                                    "--ca-file", dir + "/root.pem", "--expires-within", "7d"])
        #expect(fine.status == 0, "\(fine.output)")

        // Nothing listening: exit 3 and one line.
        let closed = try run(TestSupport.acmeBinary, ["check", "smtps://127.0.0.1:\(TestSupport.freePort())"])
        #expect(closed.status == 3 && closed.stderr.contains("cannot connect"), "\(closed.output)")
    }
}
