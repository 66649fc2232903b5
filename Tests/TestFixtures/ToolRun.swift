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
/// `ChildSpawn.start` + waitpid, not Foundation's `Process`: under the test runner `Process`
/// twice failed to notice a child's exit (a dovecot launcher, and an `openssl | sha256sum`
/// pipeline that then "did not finish within 180 s"). Output goes to files, not pipes, so a
/// child that leaves a daemon holding its descriptors cannot keep us waiting for end-of-file.
/// The child gets stdin from `input` (else nothing), default signal handling, our environment
/// with `environment` over it, and its own process group, which is killed whole (a shell's
/// pipeline included) when `timeout` passes.
///
/// It waits: call it on a thread of the `.integration` trait, or through `runTool`.
public func runChild(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                     input: Data? = nil, timeout: TimeInterval = 180) throws -> ToolResult {
    let dir = try TemporaryFiles()
    defer { dir.remove() }
    try (input ?? Data()).write(to: URL(fileURLWithPath: dir.path + "/stdin"))
    let pid = try ChildSpawn.start(executable, arguments, stdin: dir.path + "/stdin",
                                   output: .files(stdout: dir.path + "/stdout", stderr: dir.path + "/stderr"),
                                   environment: environment, ownProcessGroup: true)
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

/// A fixture that could not be set up (a tool failed), with what it said: the fixtures' one
/// failure type under the name some tests use.
public typealias TestFixtureFailure = FixtureFailure
