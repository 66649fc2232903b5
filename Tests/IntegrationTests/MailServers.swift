import ACMECrypto
import Foundation
import Testing

/// A real Postfix instance in its own configuration directory, listening on
/// loopback: SMTP with STARTTLS and submissions (implicit TLS).
final class PostfixServer: @unchecked Sendable {
    let dir: String
    let smtpPort = TestSupport.freePort()
    let submissionsPort = TestSupport.freePort()
    var configDir: String { dir + "/postfix" }

    /// Writes main.cf and master.cf; `acme provision` adds the TLS settings before `start()`.
    init(_ dir: String) throws {
        _ = try TestSupport.require("postfix")
        self.dir = dir
        for sub in ["postfix", "queue", "data"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        // Postfix insists that its data directory belongs to its own user.
        let chown = try run("/bin/chown", ["postfix", dir + "/data"])
        guard chown.status == 0 else { throw TestFailure("cannot give \(dir)/data to user postfix (tests must run as root): \(chown.output)") }
        try """
        compatibility_level = 3.6
        myhostname = mail.example.test
        mydomain = example.test
        mydestination =
        alias_maps =
        alias_database =
        inet_protocols = ipv4
        queue_directory = \(dir)/queue
        data_directory = \(dir)/data
        maillog_file = \(dir)/postfix.log
        maillog_file_prefixes = /tmp, /var

        """.write(toFile: configDir + "/main.cf", atomically: true, encoding: .utf8)
        let stock = try String(contentsOfFile: "/usr/share/postfix/master.cf.dist", encoding: .utf8)
        let listeners = """
        127.0.0.1:\(smtpPort) inet n - n - - smtpd
        127.0.0.1:\(submissionsPort) inet n - n - - smtpd
          -o smtpd_tls_wrappermode=yes
          -o smtpd_tls_security_level=encrypt
        """
        let master = stock.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("smtp      inet") ? listeners : String($0) }.joined(separator: "\n")
        try master.write(toFile: configDir + "/master.cf", atomically: true, encoding: .utf8)
    }

    func start() throws {
        let result = try runDaemonStart("/usr/sbin/postfix", ["-c", configDir, "start"], log: dir + "/postfix-start.log")
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: dir + "/postfix.log", encoding: .utf8)) ?? ""
            throw TestFailure("postfix did not start: \(result.output)\n\(log.suffix(2000))")
        }
        try TestSupport.waitForPort(smtpPort)
        try TestSupport.waitForPort(submissionsPort)
    }

    /// The master process; it must survive a reload.
    var masterPID: String? {
        (try? String(contentsOfFile: dir + "/queue/pid/master.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        _ = try? run("/usr/sbin/postfix", ["-c", configDir, "stop"])
    }
}

/// A real Dovecot instance: IMAP with STARTTLS, IMAPS, POP3S on loopback.
final class DovecotServer: @unchecked Sendable {
    let dir: String
    let imapPort = TestSupport.freePort()
    let imapsPort = TestSupport.freePort()
    let pop3sPort = TestSupport.freePort()
    let pop3Port = TestSupport.freePort()
    var configDir: String { dir + "/dovecot" }

    init(_ dir: String) throws {
        _ = try TestSupport.require("dovecot")
        self.dir = dir
        try FileManager.default.createDirectory(atPath: configDir + "/conf.d", withIntermediateDirectories: true)
        try """
        base_dir = \(dir)/dovecot-run
        state_dir = \(dir)/dovecot-state
        log_path = \(dir)/dovecot.log
        protocols = imap pop3
        listen = 127.0.0.1
        mail_location = maildir:\(dir)/mail/%u
        passdb {
          driver = static
          args = password=unused
        }
        userdb {
          driver = static
          args = uid=nobody gid=nogroup home=\(dir)/home/%u
        }
        service imap-login {
          inet_listener imap {
            port = \(imapPort)
          }
          inet_listener imaps {
            port = \(imapsPort)
            ssl = yes
          }
        }
        service pop3-login {
          inet_listener pop3 {
            port = \(pop3Port)
          }
          inet_listener pop3s {
            port = \(pop3sPort)
            ssl = yes
          }
        }
        !include conf.d/*.conf

        """.write(toFile: configDir + "/dovecot.conf", atomically: true, encoding: .utf8)
    }

    func start() throws {
        let result = try runDaemonStart(try TestSupport.require("dovecot"), ["-c", configDir + "/dovecot.conf"], log: dir + "/dovecot-start.log")
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: dir + "/dovecot.log", encoding: .utf8)) ?? ""
            throw TestFailure("dovecot did not start: \(result.output)\n\(log.suffix(2000))")
        }
        for port in [imapPort, imapsPort, pop3sPort, pop3Port] { try TestSupport.waitForPort(port) }
    }

    var masterPID: String? {
        (try? String(contentsOfFile: dir + "/dovecot-run/master.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        _ = try? run("/usr/bin/doveadm", ["-c", configDir + "/dovecot.conf", "stop"])
    }
}

/// `openssl s_client` as the independent client: what the server presents and whether it verifies.
struct TLSProbe {
    var verifyResult: String
    var leaf: Certificate?
    var output: String

    /// `starttls`: smtp, imap, pop3 or nil for implicit TLS. `extra`: e.g. an RSA-only client's options.
    static func connect(port: Int, starttls: String?, caFile: String, extra: [String] = []) throws -> TLSProbe {
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "mail.example.test",
                         "-verify_hostname", "mail.example.test", "-CAfile", caFile]
        if let starttls { arguments += ["-starttls", starttls] }
        let result = try run("/usr/bin/openssl", arguments + extra, input: "", timeout: 20)
        let text = result.output
        let verify = text.split(separator: "\n").first { $0.contains("Verify return code:") }.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "(no verify result)"
        var leaf: Certificate?
        if let begin = text.range(of: "-----BEGIN CERTIFICATE-----"), let end = text.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<text.endIndex) {
            leaf = try? Certificate(pem: String(text[begin.lowerBound..<end.upperBound]) + "\n")
        }
        return TLSProbe(verifyResult: verify, leaf: leaf, output: text)
    }

    var isECDSA: Bool { output.contains("Server public key is 256 bit") }
    var isRSA: Bool { output.contains("Server public key is 2048 bit") }
}
