import Base
import Daemon
import FoundationEssentials
import Glibc
import Testing

/// The daemon's own files read back as untrusted input (issue 21, items 1, 5, 7): numbers out of
/// range, text that would forge report lines, a second daemon on the same directory.
@Suite("daemon: status file bounds, escaped status, one daemon per directory")
struct StateBoundsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func directory() throws -> String {
        var template = Array("/tmp/acme-daemon-bounds-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw DaemonError(.noStatus, "mkdtemp failed") }
        return String(cString: made)
    }

    /// A status file as the daemon writes it, with `retries` and `heartbeat` as given.
    func statusText(heartbeat: String = "900", retries: String = "{}", serial: String = "01") -> String {
        let updated = Date().formatted(.iso8601)
        return """
        {"version": 1, "pid": 4242, "started": "\(updated)", "updated": "\(updated)", "heartbeatSeconds": \(heartbeat),
         "lineages": [{"name": "m", "names": ["m"], "nextAction": "renew", "failures": 0}], "incidents": {"open": {}},
         "retries": \(retries), "lastInstall": {"at": "\(updated)", "serial": \(jsonString(serial)), "origin": "letsencrypt", "rolledBack": false}}
        """
    }

    @Test("backoff: a negative failure count read back still waits at least the first delay; a huge one does not overflow")
    func backoffFromDisk() {
        let policy = BackoffPolicy()
        var negative = RetryState()
        negative.failures = -1000
        let afterNegative = policy.failed(negative, reachedCA: false, error: "offline", now: t0, random: 0)
        #expect(afterNegative.retryAt! >= t0.addingTimeInterval(48), "backoff switched off: \(afterNegative.retryAt!.timeIntervalSince(t0)) s")
        #expect(afterNegative.failures >= 1)
        var huge = RetryState()
        huge.failures = .max
        let afterHuge = policy.failed(huge, reachedCA: false, error: "offline", now: t0, random: 0.5)
        #expect(afterHuge.retryAt == t0.addingTimeInterval(6 * 3600) && afterHuge.failures == DaemonStatus.failureRange.upperBound)
    }

    @Test("a retry or failed orders stamped far ahead are brought back within the longest delay")
    func restoredRetry() {
        let policy = BackoffPolicy()
        var state = RetryState()
        state.failures = 3
        state.retryAt = Date(timeIntervalSince1970: 253_402_300_799)
        state.caFailures = [Date(timeIntervalSince1970: 253_402_300_799), t0 - 7200]
        let restored = policy.restored(state, now: t0)
        #expect(restored.retryAt! <= t0.addingTimeInterval(6 * 3600 * 1.2))
        #expect(restored.caFailures == [t0], "the future stamp counts as now, the old one is gone")
        let next = policy.failed(restored, reachedCA: true, error: "refused", now: t0, random: 0.5)
        #expect(next.retryAt! <= t0.addingTimeInterval(3600), "\(next.retryAt!)")
    }

    @Test("a status file with a number out of range is unreadable, naming the field; a huge heartbeat in memory does not trap")
    func outOfRange() throws {
        let dir = try directory()
        let path = dir + "/status.json"
        for (heartbeat, retries, field) in [
            ("9223372036854775807", "{}", "heartbeatSeconds 9223372036854775807"),
            ("0", "{}", "heartbeatSeconds 0"),
            ("900", #"{"m": {"failures": -1000, "caFailures": []}}"#, "retries m failures -1000"),
            ("900", #"{"m": {"failures": 9223372036854775807, "caFailures": []}}"#, "retries m failures 9223372036854775807"),
        ] {
            try FS.writeAtomically(path, statusText(heartbeat: heartbeat, retries: retries), mode: 0o644)
            do {
                _ = try DaemonStatus.load(path)
                Issue.record("accepted heartbeat \(heartbeat), retries \(retries)")
            } catch let error as DaemonError {
                #expect(error.code == .noStatus && error.message.contains(field) && error.message.contains("delete it"), "\(error)")
                #expect(!error.message.contains("\n"))
            }
        }
        try FS.writeAtomically(path, statusText(), mode: 0o644)
        #expect(try DaemonStatus.load(path).problems().isEmpty)
        var status = DaemonStatus(pid: 1, started: t0, heartbeatSeconds: .max)
        status.updated = t0
        #expect(status.problems(now: t0 + 86_400 * 4).contains { $0.contains("has not updated its status") })
    }

    @Test("acme status text: a newline in a stored serial, name or error does not start a line of its own")
    func escapedText() throws {
        let dir = try directory()
        let path = dir + "/status.json"
        try FS.writeAtomically(path, statusText(serial: "01\nhealthy\nm: expires 2099-01-01 00:00:00 UTC"), mode: 0o644)
        var status = try DaemonStatus.load(path)
        status.lineages[0].lastError = "refused\r\nUNHEALTHY:"
        status.lineages[0].failures = 1
        status.lineages[0].name = "m\nhealthy"
        let lines = status.text().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.filter { $0 == "healthy" }.count == 1 && lines.last == "healthy")
        #expect(lines.contains { $0.contains(#"serial 01\nhealthy\nm: expires"#) }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix(#"m\nhealthy: "#) && $0.hasSuffix(#"last: refused\r\nUNHEALTHY:"#) }, "\(lines)")
    }

    @Test("one daemon per config directory: the second is refused, naming the first's pid; free again once it is gone")
    func oneDaemon() async throws {
        let dir = try directory() + "/le"
        var first: DaemonLock? = try DaemonLock(configDirectory: dir, pid: 4242)
        #expect(FS.isDirectory(dir), "a missing config directory is created (the daemon issues into it)")
        do {
            _ = try DaemonLock(configDirectory: dir, pid: 4343)
            Issue.record("a second daemon on \(dir) was not refused")
        } catch let error as DaemonError {
            #expect(error.code == .alreadyRunning && error.category == .localState)
            #expect(error.message.contains("another acme daemon (pid 4242) runs on the config directory \(dir)"), "\(error)")
        }
        first?.release()
        first = nil
        // An open-file-description lock goes with its last descriptor: a child another test spawns in
        // this instant holds a copy until its exec (O_CLOEXEC), so the lock may come free a moment later.
        var second: DaemonLock?
        for _ in 0..<100 where second == nil {
            second = try? DaemonLock(configDirectory: dir, pid: 4343)
            if second == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let taken = try #require(second, "the lock was not free again once the first holder was gone")
        #expect(try FS.read(taken.path) == "4343\n")
    }
}
