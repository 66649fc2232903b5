import Foundation
import TestFixtures
import Testing

/// Bad input and broken servers: one clear error line, a non-zero exit, nothing in live/ changed.
@Suite("acme issue failures", .serialized, .integration)
struct FailureTests {
    /// A config dir that already holds a working certificate for mail.example.test.
    static func configWithLineage(_ pebble: Pebble) throws -> String {
        let dir = try TestSupport.temporaryDirectory("fail") + "/le"
        let ok = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test"] + pebble.acmeArguments(configDir: dir))
        guard ok.status == 0 else { throw TestFailure("setup issuance failed: \(ok.output)") }
        return dir
    }

    static func errorLine(_ result: RunResult) -> String {
        result.stderr.split(separator: "\n").last(where: { $0.hasPrefix("error: ") }).map(String.init) ?? ""
    }

    @Test("unreachable server")
    func unreachable() throws {
        let dir = try TestSupport.temporaryDirectory("unreach")
        let port = TestSupport.freePort()
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--server", "https://127.0.0.1:\(port)/dir",
                                                      "--config-dir", dir, "--agree-tos"])
        #expect(result.status == 3, "\(result.output)")
        #expect(Self.errorLine(result).contains("127.0.0.1:\(port)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/live"))
    }

    @Test("TLS verification failure without --ca-bundle, and with a wrong one")
    func tlsFailure() throws {
        let pebble = try Pebble()
        let dir = try Self.configWithLineage(pebble)
        let before = LineageChecks.snapshot(dir)
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--force-renewal", "--server", pebble.directoryURL,
                                                      "--config-dir", dir, "--http-01-port", String(pebble.httpPort)],
                             environment: ["CA_BUNDLE": ""])
        #expect(result.status == 3, "\(result.output)")
        #expect(Self.errorLine(result).contains("--ca-bundle"), "\(result.stderr)")
        let wrong = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--force-renewal", "--server", pebble.directoryURL,
                                                     "--ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "--config-dir", dir])
        #expect(wrong.status == 3, "\(wrong.output)")
        let missing = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--server", pebble.directoryURL,
                                                       "--ca-bundle", dir + "/no-such-bundle.pem", "--config-dir", dir])
        #expect(missing.status != 0)
        #expect(Self.errorLine(missing).contains("no-such-bundle.pem"), "\(missing.stderr)")
        #expect(LineageChecks.snapshot(dir) == before)
    }

    @Test("malformed directory JSON")
    func malformedDirectory() throws {
        let fake = try FakeCA(mode: .malformedDirectory)
        let dir = try TestSupport.temporaryDirectory("malformed")
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--server", fake.directoryURL,
                                                      "--ca-bundle", fake.caBundle, "--config-dir", dir, "--agree-tos"])
        #expect(result.status == 1, "\(result.output)")
        #expect(Self.errorLine(result).contains("is not an ACME directory"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/live"))
    }

    @Test("a 500 in the middle of the protocol, still there after the retries, leaves the working certificate alone")
    func serverError() throws {
        let pebble = try Pebble()
        let dir = try Self.configWithLineage(pebble)
        let before = LineageChecks.snapshot(dir)
        let fake = try FakeCA(mode: .serverErrorOnAccount)
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--force-renewal", "--server", fake.directoryURL,
                                                      "--ca-bundle", fake.caBundle, "--config-dir", dir, "--agree-tos"])
        // Asked five times (1 + 2 + 4 + 8 s apart), then the CA is unavailable: exit 3.
        #expect(result.status == 3, "\(result.output)")
        #expect(Self.errorLine(result).contains("HTTP 500"), "\(result.stderr)")
        #expect(Self.errorLine(result).contains("database on fire"), "\(result.stderr)")
        #expect(Self.errorLine(result).contains("(5 attempts)"), "\(result.stderr)")
        #expect(LineageChecks.snapshot(dir) == before)
    }

    @Test("a CA in maintenance (503, Retry-After) is asked again with its delay, then reported unavailable, not as a refusal")
    func maintenance() throws {
        let fake = try FakeCA(mode: .maintenance)
        let dir = try TestSupport.temporaryDirectory("maintenance")
        let started = Date()
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--server", fake.directoryURL,
                                                      "--ca-bundle", fake.caBundle, "--config-dir", dir, "--agree-tos"])
        let line = Self.errorLine(result)
        #expect(result.status == 3, "\(result.output)")
        #expect(line.contains("the CA is unavailable: HTTP 503") && line.contains("(5 attempts)"), "\(result.stderr)")
        #expect(line.contains("serverInternal: down for maintenance\\x1b[2J") && line.contains("(retry after 1 s)"), "\(result.stderr)")
        #expect(line.contains("try again later") && !line.contains("refused"), "\(result.stderr)")
        // Four waits of the CA's 1 s; a bound that still tells them from the 15 s of its own delays (1 + 2 + 4 + 8).
        let took = Date().timeIntervalSince(started)
        #expect(took >= 3.5 && took < 14.5, "took \(took) s")
        #expect(!FileManager.default.fileExists(atPath: dir + "/live"))
    }

    @Test("invalid domain names", arguments: ["bad_name!.example.com", "-lead.example.com", "localhost", "a..example.com", "foo.*.example.com"])
    func invalidDomain(name: String) throws {
        let dir = try TestSupport.temporaryDirectory("invalid")
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--server", "https://127.0.0.1:1/dir", "--config-dir", dir])
        #expect(result.status == 64, "\(result.output)")
        #expect(Self.errorLine(result).contains("invalid domain name \"\(name)\""), "\(result.stderr)")
    }

    @Test("wildcard with HTTP-01 is refused before contacting the CA")
    func wildcard() throws {
        let dir = try TestSupport.temporaryDirectory("wild")
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "*.example.test", "--server", "https://127.0.0.1:1/dir", "--config-dir", dir])
        #expect(result.status == 64, "\(result.output)")
        #expect(Self.errorLine(result).contains("DNS-01"), "\(result.stderr)")
        #expect(Self.errorLine(result).contains("the DNS-01 hook command (--dns-hook)"), "the library names the setting, the CLI its flag: \(result.stderr)")
    }

    @Test("HTTP-01 port in use")
    func portInUse() throws {
        let pebble = try Pebble()
        let dir = try Self.configWithLineage(pebble)
        let before = LineageChecks.snapshot(dir)
        // Something else listens on the validation port.
        let blocker = Process()
        blocker.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        blocker.arguments = ["-c", "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', \(pebble.httpPort))); s.listen(); time.sleep(60)"]
        try blocker.run()
        defer { stopProcess(blocker) }
        try TestSupport.waitForPort(pebble.httpPort, timeout: 60, process: blocker, what: "the python blocker")
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "--force-renewal"] + pebble.acmeArguments(configDir: dir))
        #expect(result.status == 2, "\(result.output)")
        let line = Self.errorLine(result)
        #expect(line.contains("\(pebble.httpPort)") && line.contains("--webroot"), "\(result.stderr)")
        #expect(LineageChecks.snapshot(dir) == before)
    }
}
