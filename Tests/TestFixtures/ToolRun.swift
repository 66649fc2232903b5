import Base
import Foundation
import Glibc

/// What a tool run by `runTool`/`runChild` did.
public struct ToolResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }
    public init(status: Int32, stdout: String, stderr: String) {
        (self.status, self.stdout, self.stderr) = (status, stdout, stderr)
    }
}

/// Runs `executable` to completion on the caller's thread and returns its status and output.
///
/// posix_spawn + waitpid, the way `Base.Subprocess` does it, not Foundation's `Process`: under
/// the test runner `Process` twice failed to notice a child's exit (a dovecot launcher, and an
/// `openssl | sha256sum` pipeline that then "did not finish within 180 s"). Output goes to
/// files, not pipes, so a child that leaves a daemon holding its descriptors cannot keep us
/// waiting for end-of-file. The child gets stdin from `input` (else /dev/null), default signal
/// handling, our environment with `environment` over it, and its own process group, which is
/// killed whole (a shell's pipeline included) when `timeout` passes.
///
/// It waits: call it on a thread of the `.integration` trait, or through `runTool`.
public func runChild(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                     input: Data? = nil, timeout: TimeInterval = 180) throws -> ToolResult {
    let dir = try TemporaryFiles()
    defer { dir.remove() }
    try (input ?? Data()).write(to: URL(fileURLWithPath: dir.path + "/stdin"))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, dir.path + "/stdin", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, dir.path + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, dir.path + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // Nothing else the test process has open (another test's half-written script: "Text file busy").
    Subprocess.closeInherited(&actions)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = withDefaultSignals { attributes -> Int32 in
        var flags: Int16 = 0
        posix_spawnattr_getflags(attributes, &flags)
        posix_spawnattr_setflags(attributes, flags | Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(attributes, 0)
        return posix_spawn(&pid, executable, &actions, attributes, argv, envp)
    }
    guard spawned == 0 else {
        throw TestFixtureFailure("cannot run \(executable): \(String(cString: strerror(spawned)))")
    }
    guard let status = waitForExit(pid, timeout: timeout) else {
        kill(-pid, SIGKILL)
        _ = waitForExit(pid, timeout: .infinity)
        throw TestFixtureFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
    }
    let read = { (name: String) in (try? String(contentsOfFile: dir.path + "/" + name, encoding: .utf8)) ?? "" }
    return ToolResult(status: status, stdout: read("stdout"), stderr: read("stderr"))
}

/// The same on a thread of its own, for async tests: a child is never waited for on one of the
/// threads async code shares (Docs/ARCHITECTURE.md, Concurrency).
public func runTool(_ executable: String, _ arguments: [String], input: Data? = nil,
                    environment: [String: String] = [:], timeout: TimeInterval = 180) async throws -> ToolResult {
    try await onOwnThread(throwing: {
        try runChild(executable, arguments, environment: environment, input: input, timeout: timeout)
    })
}

/// The exit status of `pid` in a shell's terms (128 + signal for a killed child), or nil when it
/// is still running after `timeout`. Polls waitpid: a blocking waitpid could not time out.
private func waitForExit(_ pid: pid_t, timeout: TimeInterval) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while true {
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
        if reaped < 0 && errno != EINTR { return 127 }
        if Date() >= deadline { return nil }
        usleep(5_000)
    }
}

/// A private directory for one child's stdin, stdout and stderr.
private struct TemporaryFiles {
    let path: String
    init() throws {
        var template = Array("/tmp/acme-child-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TestFixtureFailure("mkdtemp failed (errno \(errno))") }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A fixture that could not be set up (a tool failed), with what it said.
public struct TestFixtureFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
