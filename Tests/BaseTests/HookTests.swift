import Base
import Glibc
import Testing

/// `Hook`: the one runner of users' commands (Docs/HOOKS.md). These run on the shared async
/// threads, where `BlockingCheck` stops a hook waited for in place.
@Suite("hook runner: one contract, one timeout")
struct HookTests {
    @Test("a hook still running at its timeout is killed: status 124, its output so far kept")
    func timeout() async {
        // Long enough that "started" is written first on any machine; the sleep outlasts it.
        let hook = Hook(.dns, command: "echo started; exec sleep 120", environment: HookEnvironment(), timeout: .seconds(30))
        let result = await hook.run()
        #expect(result.status == 124)
        #expect(result.output.hasPrefix("started\n"))
    }

    @Test("a timeout stops the hook's whole process group: a child it started in the background does not live on")
    func timeoutStopsChildren() async throws {
        let directory = try makeDirectory()
        let pidFile = directory + "/child.pid"
        // The background child (as a hook's `nsupdate` or `sleep 1000 &` would be) writes its pid;
        // the hook waits until it has, then outlives its timeout.
        let command = "sh -c 'echo $$ > \(pidFile); exec sleep 1000' & "
            + "while [ ! -s \(pidFile) ]; do sleep 0.05; done; echo ready; exec sleep 120"
        // A timeout the hook reaches "ready" well before, however loaded the machine (the test waits it out).
        let hook = Hook(.dns, command: command, environment: HookEnvironment(), timeout: .seconds(30))
        let result = await hook.run()
        #expect(result.status == 124)
        #expect(result.output.hasPrefix("ready\n"), "\(result.output)")
        let child = try #require(pid_t(try readAll(pidFile).split(separator: "\n").first ?? ""))
        // Generous bound, polled: the verdict is "gone", not how fast.
        var gone = false
        for _ in 0..<600 where !gone {
            gone = !isRunning(child)
            if !gone { try await Task.sleep(for: .milliseconds(50)) }
        }
        if !gone { kill(child, SIGKILL) }
        #expect(gone, "the hook's background child \(child) still runs after the hook's timeout")
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting for init to reap it).
    private func isRunning(_ pid: pid_t) -> Bool {
        // /proc/PID/stat: "PID (name) STATE ..."; the name may contain spaces and parentheses.
        guard kill(pid, 0) == 0, let stat = try? readAll("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    private func makeDirectory() throws -> String {
        var template = Array("/tmp/acme-hook-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw HookTestFailure("mkdtemp failed (errno \(errno))") }
        return String(decoding: template.dropLast().map(UInt8.init(bitPattern:)), as: UTF8.self)
    }

    private func readAll(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HookTestFailure("cannot open \(path)") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &bytes, bytes.count)
        guard n >= 0 else { throw HookTestFailure("cannot read \(path)") }
        return String(decoding: bytes.prefix(n), as: UTF8.self)
    }

    @Test("every kind uses the one timeout rule unless a caller shortens it: 300 s, the alert command 30 s")
    func oneRule() {
        #expect(Hook.timeout == .seconds(300))
        for kind in Hook.Kind.allCases {
            let expected: Duration = kind == .alert ? .seconds(30) : .seconds(300)
            #expect(Hook(kind, command: "true", environment: HookEnvironment()).timeout == expected, "\(kind)")
        }
    }

    @Test("ACME_HOOK names the setting and ACME_ACTION defaults to it; aliases only for the kinds whose scripts know them")
    func contract() {
        let environment = HookEnvironment(challengeType: "http-01", domain: "a.example.com", token: "t", validation: "t.k",
                                          remainingChallenges: 0, domains: ["a.example.com", "b.example.com"],
                                          lineage: "a.example.com", liveDirectory: "/etc/letsencrypt/live/a.example.com")
        let deploy = environment.variables(for: .deploy)
        #expect(deploy["ACME_HOOK"] == "deploy" && deploy["ACME_ACTION"] == "deploy")
        #expect(deploy["RENEWED_LINEAGE"] == "/etc/letsencrypt/live/a.example.com" && deploy["RENEWED_DOMAINS"] == "a.example.com b.example.com")
        #expect(deploy.keys.allSatisfy { !$0.hasPrefix("CERTBOT_") })
        let manual = environment.variables(for: .manualAuth)
        #expect(manual["CERTBOT_ALL_DOMAINS"] == "a.example.com,b.example.com" && manual["CERTBOT_VALIDATION"] == "t.k")
        #expect(manual.keys.allSatisfy { !$0.hasPrefix("RENEWED_") })
        for kind in [Hook.Kind.dns, .dane, .pre, .post, .alert] {
            #expect(environment.variables(for: kind).keys.allSatisfy { $0.hasPrefix("ACME_") })
        }
        var tlsa = HookEnvironment(action: "tlsa-add", details: ["ACME_TLSA_TTL": "600"])
        tlsa.lineage = "a.example.com"
        #expect(tlsa.variables(for: .dane) == ["ACME_HOOK": "dane", "ACME_ACTION": "tlsa-add", "ACME_TLSA_TTL": "600", "ACME_LINEAGE": "a.example.com"])
    }

    @Test("a directory hook is executed without a shell; a failing one reports its status and last line")
    func executable() async throws {
        let directory = try makeDirectory()
        let path = directory + "/10-hook"
        let script = "#!/bin/sh\necho \"$ACME_HOOK $ACME_ACTION\"\nexit 3\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o755)
        _ = script.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let result = await Hook(.post, command: path, executable: true, environment: HookEnvironment()).run()
        #expect(result.status == 3 && result.lastLine == "post post")
    }
}

private struct HookTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
