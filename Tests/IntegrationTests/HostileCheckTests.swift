import Base
import Foundation
import TestFixtures
import Testing

/// `acme check` against servers that do not play along: endless replies, one byte a second, a
/// TLS handshake dripped slowly, a connection closed at once, control characters in greetings and
/// certificates. Every run must end within its deadline, in little memory, with exit 3 and one
/// `error:` line per endpoint (or an escaped report), and still send the alert mail.
@Suite("acme check against hostile servers", .serialized, .integration)
struct HostileCheckTests {
    /// The --timeout every run here gets; a run must end within 3× this.
    static let timeout = 2
    static var bound: Double { Double(3 * timeout) }
    /// Peak resident memory a run may reach, in KiB.
    static let memoryLimitKiB = 100 * 1024

    /// A hostile server on 127.0.0.1 (a Python script, one thread per connection).
    final class HostileServer {
        static let script = #"""
        import itertools, socket, sys, threading, time

        mode, port = sys.argv[1], int(sys.argv[2])

        def flood(c, line, first=b""):
            # Endless, but paced (about 3 MB/s) so that a client that keeps everything grows
            # steadily instead of exhausting the machine.
            if first:
                c.sendall(first)
            chunk = line * max(1, 16384 // len(line))
            while True:
                c.sendall(chunk)
                time.sleep(0.005)

        def readline(c):
            data = b""
            while not data.endswith(b"\n"):
                byte = c.recv(1)
                if not byte:
                    raise ConnectionError("closed")
                data += byte
            return data

        def handle(c):
            try:
                if mode == "close":
                    pass
                elif mode == "greeting-lines":
                    flood(c, b"220-mail.hostile.test ESMTP, and there is more\r\n")
                elif mode == "ehlo-lines":
                    c.sendall(b"220 mail.hostile.test ESMTP\r\n")
                    readline(c)
                    flood(c, b"250-" + b"X" * 1000 + b"\r\n")
                elif mode == "imap-untagged":
                    c.sendall(b"* OK IMAP ready\r\n")
                    readline(c)
                    flood(c, b"* 1 EXISTS\r\n")
                elif mode == "long-line":
                    flood(c, b"X" * 1024, first=b"220 ")
                elif mode == "drip":
                    for byte in itertools.cycle(b"220-drip\r\n"):
                        c.sendall(bytes([byte]))
                        time.sleep(1)
                elif mode == "tls-drip":
                    c.recv(4096)  # the ClientHello
                    # A handshake record of 16 KiB announced, then its body a byte at a time.
                    record = b"\x16\x03\x03\x40\x00\x02" + b"\x00" * 16378
                    for byte in record:
                        c.sendall(bytes([byte]))
                        time.sleep(0.25)
                elif mode == "escape-greeting":
                    c.sendall(b"554 mx.hostile.test \x1b[2J\x1b[31mno\rforged: ok\x07\r\n")
                    time.sleep(2)
            except OSError:
                pass
            finally:
                c.close()

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(16)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=handle, args=(connection,), daemon=True).start()
        """#

        let port = TestSupport.freePort()
        let process = Process()

        init(_ mode: String, in dir: String) throws {
            let path = dir + "/hostile.py"
            if !FileManager.default.fileExists(atPath: path) { try Self.script.write(toFile: path, atomically: true, encoding: .utf8) }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [path, mode, String(port)]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            try TestSupport.waitForPort(port, timeout: 60, process: process, what: "the \(mode) server")
        }

        deinit { stopProcess(process) }
    }

    /// How one `acme` run went.
    struct Observed {
        /// The exit status; 128 + the signal when a signal ended it; -1 when it was stopped at the limit.
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var peakKiB: Int
        var output: String { stdout + stderr }
        var errorLines: [Substring] { stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") } }
    }

    /// Runs acme as a shell would start it (default signal dispositions, nothing blocked: the
    /// test runner's threads block signals and a child inherits the mask), stdout and stderr into
    /// files, stopped with SIGKILL after `limit` seconds; peak memory from wait4's rusage.
    static func observe(_ arguments: [String], in dir: String, path: String? = nil, limit: Double = bound + 4) throws -> Observed {
        let label = UUID().uuidString.prefix(8)
        let outPath = "\(dir)/\(label).out", errPath = "\(dir)/\(label).err"
        let binary = TestSupport.acmeBinary
        let clock = ContinuousClock()
        let start = clock.now
        let pid = try ChildSpawn.start(binary, arguments, output: .files(stdout: outPath, stderr: errPath),
                                       environment: path.map { ["PATH": $0] } ?? [:])
        var status: Int32 = 0
        var usage = rusage()
        var finished = false
        while clock.now - start < .milliseconds(Int(limit * 1000)) {
            let reaped = wait4(pid, &status, WNOHANG, &usage)
            if reaped == pid { finished = true; break }
            if reaped < 0 && errno != EINTR { throw TestFailure("wait4: \(String(cString: strerror(errno)))") }
            usleep(10_000)
        }
        if !finished {
            kill(pid, SIGKILL)
            while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let code = !finished ? -1 : status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Observed(status: code,
                        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
                        seconds: seconds, peakKiB: usage.ru_maxrss)
    }

    /// Exit 3 with one error line that names the endpoint and contains `expected`, within the
    /// bound, in little memory.
    func expectRefused(_ endpoint: String, _ expected: String, server mode: String) throws {
        let dir = try TestSupport.temporaryDirectory("hostile")
        let server = try HostileServer(mode, in: dir)
        let url = "\(endpoint)://127.0.0.1:\(server.port)"
        let result = try Self.observe(["check", url, "--timeout", String(Self.timeout)], in: dir)
        #expect(result.status == 3, "\(mode): exit \(result.status) after \(result.seconds) s: \(result.output)")
        #expect(result.seconds < Self.bound, "\(mode): took \(result.seconds) s: \(result.output)")
        #expect(result.peakKiB < Self.memoryLimitKiB, "\(mode): peak memory \(result.peakKiB) KiB")
        #expect(result.errorLines.count == 1 && result.errorLines.allSatisfy { $0.contains(url) && $0.contains(expected) },
                "\(mode): \(result.stderr)")
        withExtendedLifetime(server) {}
    }

    @Test("endless 220- continuation lines: stopped at 100 lines")
    func endlessGreeting() throws {
        try expectRefused("smtp", "more than 100 lines in one reply", server: "greeting-lines")
    }

    @Test("endless 250- lines after EHLO: stopped at 64 KiB")
    func endlessEHLO() throws {
        try expectRefused("smtp", "more than 64 KiB before TLS", server: "ehlo-lines")
    }

    @Test("endless untagged IMAP lines before the answer to STARTTLS: stopped at 100 lines")
    func endlessIMAP() throws {
        try expectRefused("imap", "more than 100 lines in one reply", server: "imap-untagged")
    }

    @Test("a line that never ends: stopped at 4 KiB")
    func endlessLine() throws {
        try expectRefused("smtp", "a line longer than 4 KiB", server: "long-line")
    }

    @Test("one byte a second forever: the endpoint's deadline ends it")
    func drip() throws {
        try expectRefused("smtp", "deadline for this endpoint (--timeout) passed while waiting for the SMTP greeting", server: "drip")
    }

    @Test("a TLS handshake dripped a byte at a time: the deadline ends the handshake")
    func tlsDrip() throws {
        try expectRefused("smtps", "deadline for this endpoint (--timeout) passed during the TLS handshake", server: "tls-drip")
    }

    @Test("a server that accepts and closes at once is exit 3 and an error line, not death by SIGPIPE")
    func acceptAndClose() throws {
        for _ in 0..<3 {
            try expectRefused("smtps", "TLS handshake failed", server: "close")
        }
        try expectRefused("smtp", "closed the connection while waiting for the SMTP greeting", server: "close")
    }

    @Test("control characters in a greeting are escaped in the error line")
    func escapedGreeting() throws {
        let dir = try TestSupport.temporaryDirectory("hostile")
        let server = try HostileServer("escape-greeting", in: dir)
        let result = try Self.observe(["check", "smtp://127.0.0.1:\(server.port)", "--timeout", String(Self.timeout)], in: dir)
        #expect(result.status == 3, "\(result.output)")
        #expect(result.stderr.contains("SMTP greeting is 554 mx.hostile.test") && result.stderr.contains("x1b[31mno") && result.stderr.contains("rforged"),
                "\(result.stderr)")
        #expect(!result.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "raw control characters: \(result.stderr.debugDescription)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr.debugDescription)")
        withExtendedLifetime(server) {}
    }

    @Test("alerts still go out: one endpoint closes at once, one is unreachable, one greets with escapes; the mail lists all")
    func alertWhenEndpointsFail() throws {
        let dir = try TestSupport.temporaryDirectory("hostile-alert")
        let closing = try HostileServer("close", in: dir)
        let escaping = try HostileServer("escape-greeting", in: dir)
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\ncat > \(dir)/sendmail.mail\n".write(toFile: bin + "/sendmail", atomically: true, encoding: .utf8)
        chmod(bin + "/sendmail", 0o755)
        let closed = "smtps://127.0.0.1:\(closing.port)", unreachable = "smtp://127.0.0.1:\(TestSupport.freePort())",
            greeting = "smtp://127.0.0.1:\(escaping.port)"
        let result = try Self.observe(["check", closed, unreachable, greeting, "--timeout", String(Self.timeout),
                                       "--alert-to", "postmaster@example.test"],
                                      in: dir, path: bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                                      limit: Double(3 * 3 * Self.timeout + 4))
        #expect(result.status == 3, "exit \(result.status): \(result.output)")
        #expect(result.seconds < Double(3 * 3 * Self.timeout), "took \(result.seconds) s")
        #expect(result.errorLines.count == 3, "\(result.stderr)")
        let mail = (try? String(contentsOfFile: dir + "/sendmail.mail", encoding: .utf8)) ?? ""
        #expect(mail.contains("To: postmaster@example.test") && mail.contains("3 TLS problems"), "mail: \(mail)")
        for endpoint in [closed, unreachable, greeting] {
            #expect(mail.contains(endpoint), "the mail does not list \(endpoint): \(mail)")
        }
        #expect(mail.contains("x1b[31mno") && !mail.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" },
                "mail: \(mail.debugDescription)")
        withExtendedLifetime((closing, escaping)) {}
    }

    @Test("a certificate whose subject, names and issuer hold ESC and a newline: escaped in the report, \\u001b in JSON")
    func escapedCertificate() throws {
        let dir = try TestSupport.temporaryDirectory("hostile-cert")
        let evil = "evil\u{1b}[31mred\nverified:   ok for you"
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "30",
                                                "-subj", "/CN=\(evil)", "-addext", "subjectAltName=DNS:mail\u{1b}[2J.hostile.test"])
        try #require(made.status == 0, "openssl req: \(made.output)")
        let port = TestSupport.freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", dir + "/cert.pem", "-key", dir + "/key.pem", "-www", "-quiet"]
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        defer { stopProcess(server) }
        try TestSupport.waitForPort(port, timeout: 60, process: server, what: "openssl s_server")

        let text = try Self.observe(["check", "https://127.0.0.1:\(port)", "--servername", "mail.hostile.test", "--timeout", "10"], in: dir,
                                    limit: 30)
        // Self-signed and not for that name: the verdict fails (exit 1), the report is still printed.
        #expect(text.status == 1, "exit \(text.status): \(text.output)")
        #expect(text.seconds < 30, "took \(text.seconds) s")
        #expect(!text.stdout.unicodeScalars.contains { $0.value == 0x1b }, "raw ESC in: \(text.stdout.debugDescription)")
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let subject = lines.filter { $0.hasPrefix("  subject:") }
        let issuer = lines.filter { $0.hasPrefix("  issuer:") }
        let names = lines.filter { $0.hasPrefix("  names:") }
        #expect(subject.count == 1 && subject[0].contains(#"evil\x1b[31mred\nverified:   ok for you"#), "\(text.stdout)")
        #expect(issuer.count == 1 && issuer[0].contains(#"evil\x1b[31mred\nverified:   ok for you"#), "\(text.stdout)")
        #expect(names.count == 1 && names[0].contains(#"mail\x1b[2j.hostile.test"#), "\(text.stdout)")
        // The newline in the subject did not start a line of its own: one verdict, the real one.
        #expect(lines.filter { $0.hasPrefix("  verified:") }.count == 1 && !lines.contains { $0.hasPrefix("verified:") }, "\(text.stdout)")

        let json = try Self.observe(["check", "https://127.0.0.1:\(port)", "--servername", "mail.hostile.test", "--timeout", "10", "--json"],
                                    in: dir, limit: 30)
        #expect(json.status == 1, "exit \(json.status): \(json.output)")
        #expect(json.stdout.contains(#"evil\u001b[31mred\nverified:   ok for you"#) && !json.stdout.unicodeScalars.contains { $0.value == 0x1b },
                "\(json.stdout.debugDescription)")
        let report = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])?.first
        #expect(report?["subject"] as? String == evil, "\(json.stdout)")
    }
}
