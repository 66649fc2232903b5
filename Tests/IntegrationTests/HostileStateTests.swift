import Foundation
import TestFixtures
import Testing

/// The daemon's own files edited or corrupted (issue 21, items 1, 5, 7), through the binary as a
/// container runs it: `acme status` is the health check, `acme daemon` runs under a restart policy.
@Suite("hostile state files: acme status and acme daemon", .integration)
struct HostileStateTests {
    let name = "mail.example.test"

    /// A status file as the daemon writes it, with the given heartbeat, retry state, serial and update time.
    static func statusFile(heartbeat: String = "900", retries: String = "{}", serial: String = "01", updated: Date = Date()) -> String {
        let stamp = ISO8601DateFormatter().string(from: updated)
        let serialJSON = String(decoding: try! JSONSerialization.data(withJSONObject: [serial]), as: UTF8.self).dropFirst().dropLast()
        return """
        {"version": 1, "pid": 1, "started": "\(stamp)", "updated": "\(stamp)", "heartbeatSeconds": \(heartbeat),
         "lineages": [{"name": "mail.example.test", "names": ["mail.example.test"], "nextAction": "renew", "failures": 0}],
         "incidents": {"open": {}}, "retries": \(retries),
         "lastInstall": {"at": "\(stamp)", "serial": \(serialJSON), "origin": "letsencrypt", "rolledBack": false}}
        """
    }

    func status(_ dir: String) throws -> RunResult { try run(TestSupport.acmeBinary, ["status", "--config-dir", dir]) }

    @Test("acme status: a huge or zero heartbeat is an unreadable status file (exit 2, one line), not a crash")
    func heartbeat() throws {
        let dir = try TestSupport.temporaryDirectory("status-heartbeat")
        for heartbeat in ["9223372036854775807", "3074457345618258603", "0"] {
            try Self.statusFile(heartbeat: heartbeat).write(toFile: dir + "/.acme-daemon-status.json", atomically: true, encoding: .utf8)
            let result = try status(dir)
            #expect(result.status == 2, "heartbeat \(heartbeat): \(result.status) \(result.output)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.split(separator: "\n").count == 1
                    && result.stderr.contains("heartbeatSeconds \(heartbeat)"), "\(result.stderr)")
        }
    }

    @Test("acme status: a newline in a stored serial does not forge a line (here a 'healthy' under a stale status)")
    func forgedLine() throws {
        let dir = try TestSupport.temporaryDirectory("status-forged")
        try Self.statusFile(serial: "01\nhealthy", updated: Date().addingTimeInterval(-7200))
            .write(toFile: dir + "/.acme-daemon-status.json", atomically: true, encoding: .utf8)
        let result = try status(dir)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(result.status == 1, "\(result.output)")
        #expect(!lines.contains { $0.hasPrefix("healthy") } && lines.contains("UNHEALTHY:"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("last install: ") && $0.contains(#"serial 01\nhealthy from letsencrypt"#) }, "\(lines)")
    }

    @Test("acme daemon: a huge or negative failure count in the status file neither crashes it nor switches backoff off")
    func failureCounts() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-failures")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        try appendToRenewalConf(le, name, topLevel: "renew_before_expiry = 91 days")  // due now
        try double.setControl(["offline": true])
        for failures in ["9223372036854775807", "-1000"] {
            let retries = #"{"mail.example.test": {"failures": \#(failures), "caFailures": []}}"#
            try Self.statusFile(retries: retries).write(toFile: le + "/.acme-daemon-status.json", atomically: true, encoding: .utf8)
            let log = dir + "/daemon\(failures).log"
            let daemon = try DaemonProcess(["--no-provision", "--retry-delay", "10", "--config-dir", le, "--server", double.directoryURL,
                                            "--ca-bundle", double.caBundle, "--agree-tos", "--http-01-port", String(TestSupport.freePort())], log: log)
            try waitUntil("the first failed renewal (failures \(failures))", timeout: 60) {
                !daemon.lines(containing: "renewal-failed").isEmpty || !daemon.isRunning
            }
            Thread.sleep(forTimeInterval: 1)
            #expect(daemon.isRunning, "failures \(failures): the daemon died at its first failure: \(daemon.log)")
            let warnings = daemon.lines(containing: "starting without the previous status")
            #expect(warnings.count == 1 && warnings[0].contains("retries mail.example.test failures \(failures)"), "\(daemon.log)")
            // The first retry is --retry-delay (±20 %) after the attempt: the log's "next at" says when.
            for line in daemon.lines(containing: "renewal-failed") {
                #expect(Self.gap(line).map { $0 >= 5 } == true, "failures \(failures): backoff off? \(line)")
                #expect(line.contains("attempt 1,"), "\(line)")
            }
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit(timeout: 20) != nil)
        }
    }

    /// Seconds between a log line's time and the "next at" it names.
    static func gap(_ line: String) -> Double? {
        let format = DateFormatter()
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        format.timeZone = TimeZone(identifier: "UTC")
        guard let range = line.range(of: "next at ", options: .backwards), let logged = format.date(from: String(line.prefix(19))),
              let next = format.date(from: String(line[range.upperBound...].prefix(19))) else { return nil }
        return next.timeIntervalSince(logged)
    }

    @Test("a second acme daemon on the same config directory exits 2 with one line naming the first; the first runs on")
    func secondDaemon() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-second")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        let arguments = ["--no-provision", "--config-dir", le, "--server", double.directoryURL, "--ca-bundle", double.caBundle, "--agree-tos",
                         "--http-01-port", String(TestSupport.freePort())]
        let first = try DaemonProcess(arguments, log: dir + "/first.log")
        try waitUntil("the first daemon's status", timeout: 60) { FileManager.default.fileExists(atPath: le + "/.acme-daemon-status.json") }
        let second = try DaemonProcess(arguments + ["--status-file", dir + "/second-status.json"], log: dir + "/second.log")
        let exit = second.waitForExit(timeout: 30)
        #expect(exit.map { $0 & 0x7f == 0 && ($0 >> 8) & 0xff == 2 } == true, "the second daemon did not exit 2: \(String(describing: exit)) \(second.log)")
        let lines = second.log.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: another acme daemon (pid \(first.pid)) runs on the config directory \(le)"),
                "\(second.log)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/second-status.json"))
        #expect(first.isRunning, "\(first.log)")
        first.signal(SIGTERM)
        #expect(first.waitForExit(timeout: 20) != nil)
    }
}
