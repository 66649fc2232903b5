import ACMECrypto
import Foundation
import Testing

/// `acme daemon` as a child process with default signal handling (the test runner blocks
/// signals in its threads), its stdout and stderr in a log file.
final class DaemonProcess: @unchecked Sendable {
    let pid: pid_t
    let logPath: String
    private var exitStatus: Int32?

    /// `command`: the acme subcommand that runs until a signal (`daemon`, `respond`).
    init(_ arguments: [String], log: String, environment: [String: String] = [:], command: String = "daemon") throws {
        logPath = log
        pid = try spawnLogging(TestSupport.acmeBinary, [command] + arguments, log: log, append: true, environment: environment)
    }

    deinit { if isRunning { kill(pid, SIGKILL); _ = waitForExit(timeout: 5) } }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { exitStatus = status; return false }
        return true
    }

    /// Waits for the process to end; its wait status, or nil after `timeout`.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !isRunning { return exitStatus }
            usleep(10_000)
        }
        return nil
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// The lines of the log that contain `text`.
    func lines(containing text: String) -> [String] { log.split(separator: "\n").map(String.init).filter { $0.contains(text) } }

    /// Resident set size in KiB, from /proc.
    var rssKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    /// User + system CPU seconds so far, from /proc.
    var cpuSeconds: Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A lineage issued by `acme issue` from the ACME double, for the daemon tests.
func issueFromDouble(_ double: ACMEDouble, configDir: String, name: String = "mail.example.test",
                     extra: [String] = []) throws {
    let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--server", double.directoryURL, "--ca-bundle", double.caBundle,
                                                  "--agree-tos", "--config-dir", configDir, "--http-01-port", String(TestSupport.freePort())] + extra)
    guard issued.status == 0 else { throw TestFailure("acme issue from the double failed: \(issued.output)") }
}

/// The lineage's current leaf.
func liveLeaf(_ configDir: String, _ name: String = "mail.example.test") throws -> Certificate {
    try Certificate.chain(pem: try String(contentsOfFile: configDir + "/live/\(name)/cert.pem", encoding: .utf8))[0]
}

/// Appends a top-level line to a lineage's renewal conf (e.g. renew_before_expiry).
func appendToRenewalConf(_ configDir: String, _ name: String, topLevel line: String) throws {
    let path = configDir + "/renewal/\(name).conf"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    try (line + "\n" + text).write(toFile: path, atomically: true, encoding: .utf8)
}

/// An --alert-command that appends each event as one line: STATE EVENT LINEAGE | MESSAGE.
func alertRecorder(_ file: String) -> String {
    "printf '%s %s %s | %s\\n' \"$ACME_STATE\" \"$ACME_EVENT\" \"$ACME_LINEAGE\" \"$ACME_MESSAGE\" >> '\(file)'"
}

func alertLines(_ file: String) -> [String] {
    ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}
