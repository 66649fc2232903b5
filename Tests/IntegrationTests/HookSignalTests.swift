import Foundation
import TestFixtures
import Testing

/// A hook runs in a process group of its own (so that its timeout stops what it started), which
/// keeps it out of the terminal's foreground group: acme passes SIGINT and SIGTERM on to it, so
/// Ctrl-C or `kill` still stop a running hook, as they did when it shared acme's group.
@Suite("hooks and the signals a user sends to acme", .serialized, .integration)
struct HookSignalTests {
    @Test("SIGINT or SIGTERM to acme while its pre hook runs: the hook is stopped too, and acme ends by that signal",
          arguments: [SIGINT, SIGTERM])
    func signalReachesHook(_ signal: Int32) throws {
        let dir = try TestSupport.temporaryDirectory("hook-signal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/hook.pid"
        // The pre hook runs before the CA is first contacted (none listens on port 9 here).
        let hook = "echo $$ > \(pidFile); exec sleep 1000"
        let acme = try ChildSpawn.start(TestSupport.acmeBinary, [
            "issue", "-d", "a.example.com", "--agree-tos", "--server", "https://127.0.0.1:9/dir",
            "--config-dir", dir + "/config", "--pre-hook", hook,
        ], output: .log(dir + "/acme.log", append: false))
        var hookPid: pid_t?
        try waitUntil("the pre hook has started", timeout: 60, interval: 0.05) {
            hookPid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return hookPid != nil
        }
        let hookProcess = try #require(hookPid)
        defer { kill(hookProcess, SIGKILL) }
        kill(acme, signal)
        var status: Int32 = 0
        try waitUntil("acme has ended", timeout: 60, interval: 0.05) { waitpid(acme, &status, WNOHANG) == acme }
        #expect(status & 0x7f == signal, "acme's wait status \(status); log: \((try? String(contentsOfFile: dir + "/acme.log", encoding: .utf8)) ?? "")")
        // Generous bound, polled: the verdict is "stopped", not how fast.
        try waitUntil("the hook \(hookProcess) has stopped", timeout: 30, interval: 0.05) { !Self.isRunning(hookProcess) }
    }

    /// Whether `pid` is a live process: not gone, and not a zombie waiting to be reaped.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }
}
