import Foundation
import TestFixtures
import Testing

/// The store's password, in every spelling libpq accepts, against the real acme binary and a
/// real PostgreSQL 15 that checks it (scram-sha-256): `acme store` prints none of it, nor do its
/// errors, the daemon's log, its alerts, its status file or `acme status`.
@Suite("fleet store: no spelling of the password is ever shown", .serialized, .integration)
struct StoreSecretTests {
    /// A password with every character the URI and key=value grammars give a meaning to; its
    /// first and last three characters mark it in any output.
    static let password = "Zq7?#x@y z'\\%&=/:Kw9"
    static let markers = ["Zq7", "Kw9", "Vb8", "Jn5"]

    /// Spellings of the role `leaky` with `password` (and an `sslpassword`, unused without a
    /// client key but a secret to libpq) for the database `fleet` on `port`.
    static func spellings(port: Int) -> [String] {
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        // Raw '?', '#', ' ', ''', '\', '&', '=', ':' in the user info: libpq reads it up to the first '@' or '/'.
        let userInfo = password.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "@", with: "%40")
            .replacingOccurrences(of: "/", with: "%2F")
        let quoted = "'" + password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        return [
            "postgresql://leaky:\(userInfo)@127.0.0.1:\(port)/fleet",
            "postgresql://127.0.0.1:\(port)/fleet?user=leaky&pass%77ord=\(encoded)",
            "postgres://leaky@127.0.0.1:\(port)/fleet?password=\(encoded)&sslpassword=Vb8-ssl-Jn5",
            "host=127.0.0.1 port=\(port) dbname=fleet user=leaky password = \(quoted) sslpassword=Vb8-ssl-Jn5",
        ]
    }

    static func expectNoSecret(_ text: String, _ what: String) {
        for marker in markers { #expect(!text.contains(marker), "\(what) shows the password: \(text.suffix(1500))") }
    }

    @Test("every spelling logs in (libpq read the password) and store init prints none of it; unreachable, the error shows none")
    func storeCommands() throws {
        let server = try PostgresServer()
        _ = try server.createDatabase("fleet")
        try server.psql("CREATE ROLE leaky LOGIN SUPERUSER PASSWORD '\(Self.password.replacingOccurrences(of: "'", with: "''"))'", database: "postgres")
        let closed = TestSupport.freePort()
        for (spelling, unreachable) in zip(Self.spellings(port: server.port), Self.spellings(port: closed)) {
            let initialized = try run(TestSupport.acmeBinary, ["store", "init", "--store", spelling])
            #expect(initialized.status == 0 && initialized.stdout.contains("schema version 1"), "\(spelling): \(initialized.output)")
            #expect(initialized.stdout.contains("127.0.0.1") && initialized.stdout.contains("***"), "\(initialized.output)")
            Self.expectNoSecret(initialized.output, "acme store init")

            let down = try run(TestSupport.acmeBinary, ["store", "status"], environment: ["ACME_STORE": unreachable])
            #expect(down.status == 3 && down.stderr.contains("cannot connect to the store"), "\(down.output)")
            #expect(down.stderr.split(separator: "\n").count == 1, "\(down.output)")
            Self.expectNoSecret(down.output, "acme store status, unreachable")
        }
        // PGPASSWORD and a password file are libpq's too: a wrong one is refused, not echoed.
        let bare = "postgresql://leaky@127.0.0.1:\(server.port)/fleet"
        let wrong = try run(TestSupport.acmeBinary, ["store", "status", "--store", bare], environment: ["PGPASSWORD": "Zq7-wrong-Kw9"])
        #expect(wrong.status == 3 && wrong.stderr.contains("password authentication failed"), "\(wrong.output)")
        Self.expectNoSecret(wrong.output, "a wrong PGPASSWORD")
        let passfile = try TestSupport.temporaryDirectory("store-secret") + "/pgpass"
        try "127.0.0.1:\(server.port):fleet:leaky:Zq7-file-Kw9\n".write(toFile: passfile, atomically: true, encoding: .utf8)
        chmod(passfile, 0o600)
        let filed = try run(TestSupport.acmeBinary, ["store", "status", "--store", bare], environment: ["PGPASSFILE": passfile])
        #expect(filed.status == 3 && filed.stderr.contains("password authentication failed"), "\(filed.output)")
        Self.expectNoSecret(filed.output, "a wrong .pgpass")
    }

    @Test("a daemon whose store cannot be reached: its log, alert, status file and acme status show no spelling of the password")
    func daemon() throws {
        let base = try TestSupport.temporaryDirectory("store-secret-daemon")
        let closed = TestSupport.freePort()
        for (index, spelling) in Self.spellings(port: closed).enumerated() {
            let dir = base + "/node\(index)/le", alerts = base + "/node\(index)/alerts"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let daemon = try DaemonProcess(["--no-provision", "--verbose", "--config-dir", dir, "--store", spelling,
                                            "--retry-delay", "1", "--interval", "2", "--alert-command", alertRecorder(alerts)],
                                           log: base + "/node\(index)/daemon.log")
            defer { daemon.signal(SIGTERM); _ = daemon.waitForExit(timeout: 10) }
            try waitUntil("the daemon alerts store-unreachable", timeout: 60) {
                alertLines(alerts).contains { $0.hasPrefix("open store-unreachable") }
                    && FileManager.default.fileExists(atPath: dir + "/.acme-daemon-status.json")
            }
            #expect(daemon.log.contains("127.0.0.1:\(closed)") || daemon.log.contains("port=\(closed)"), "the log names the store: \(daemon.log.suffix(1500))")
            Self.expectNoSecret(daemon.log, "the daemon's log")
            Self.expectNoSecret(alertLines(alerts).joined(separator: "\n"), "the alert")
            Self.expectNoSecret(try String(contentsOfFile: dir + "/.acme-daemon-status.json", encoding: .utf8), "the status file")
            let status = try run(TestSupport.acmeBinary, ["status", "--config-dir", dir])
            #expect(status.stdout.contains("store-unreachable"), "\(status.output)")
            Self.expectNoSecret(status.output, "acme status")
        }
    }
}
