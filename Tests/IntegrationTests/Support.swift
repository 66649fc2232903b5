import Base
import Synchronization
import Foundation
import TestFixtures
import Testing

/// Paths and processes the integration tests share.
enum TestSupport {
    /// The `acme` executable SwiftPM built next to the test bundle.
    static var acmeBinary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        // On Linux the test bundle is `<build>/acmePackageTests.xctest`; elsewhere it may be nested.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("acme").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        Issue.record("the acme executable was not built next to \(testBinary.path); run `swift build` first")
        return "/nonexistent/acme"
    }

    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "acme-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A loopback TCP port nobody listens on right now.
    /// Ports handed out in this test process: the kernel may give the same
    /// ephemeral port to two probes once the first probe's socket is closed.
    private static let handedOut = Mutex<Set<Int>>([])

    static func freePort() -> Int {
        while true {
            let port = probePort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    private static func probePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func which(_ tool: String) -> String? {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"] {
            let path = dir + "/" + tool
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Fails the test loudly when a tool the test needs is not installed.
    static func require(_ tool: String) throws -> String {
        guard let path = which(tool) else {
            throw TestFailure("\(tool) is not installed; the README's test command installs it (apt-get install pebble certbot)")
        }
        return path
    }
}

extension TestSupport {
    /// Waits until something accepts TCP connections on 127.0.0.1:`port`, trying every 20 ms.
    /// With `process`, fails at once when that process (the one meant to listen) has exited.
    static func waitForPort(_ port: Int, timeout: TimeInterval = 60, process: Process? = nil, what: String? = nil) throws {
        let who = what ?? "a server"
        try waitUntil("\(who) accepts TCP connections on 127.0.0.1:\(port)", timeout: timeout, interval: 0.02) {
            if acceptsConnections(port) { return true }
            if let process, !process.isRunning {
                throw TestFailure("\(who) exited with status \(process.terminationStatus) before it accepted connections on 127.0.0.1:\(port)")
            }
            return false
        }
    }

    /// Whether a TCP connect() to 127.0.0.1:`port` succeeds right now.
    static func acceptsConnections(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// Polls `condition` every `interval` until it holds; throws a TestFailure naming `what`
/// after `timeout` (default 10 s). Use it instead of a fixed sleep: it returns as soon as
/// the awaited state is there, and fails with a clear message when it never comes.
func waitUntil(_ what: String, timeout: TimeInterval = 10, interval: TimeInterval = 0.2,
               _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return }
        if Date() >= deadline { break }
        usleep(useconds_t(interval * 1_000_000))
    }
    throw TestFailure("timed out after \(timeout) s waiting until \(what)")
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The result of running a command to completion.
typealias RunResult = ToolResult

/// Runs a program, waits for it, returns its exit status and output (TestFixtures' `runChild`:
/// posix_spawn and waitpid, output through files).
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         input: String? = nil, timeout: TimeInterval = 180) throws -> RunResult {
    try runChild(executable, arguments, environment: environment, input: input.map { Data($0.utf8) }, timeout: timeout)
}

/// Stops a child for good. SIGKILL, because children of the test runner can
/// inherit a blocked SIGTERM and would then never exit. Foundation's Process has missed a
/// child's exit before (see `runChild`): the wait for it to notice is bounded, so a test's
/// teardown cannot hang on it; the killed child is gone either way.
func stopProcess(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    let deadline = Date().addingTimeInterval(10)
    while process.isRunning && Date() < deadline { usleep(10_000) }
}

/// Runs a command that starts a daemon (`postfix start`, `dovecot`). The daemon
/// inherits the command's stdout and stderr, so they go to `log`, not to pipes
/// that would never reach end-of-file; and the command is reaped with waitpid
/// directly (Foundation's Process did not notice dovecot's launcher exit).
func runDaemonStart(_ executable: String, _ arguments: [String], log: String) throws -> (status: Int32, output: String) {
    let pid = try spawnLogging(executable, arguments, log: log, append: false)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
}

/// Starts `executable` with stdin from /dev/null, stdout and stderr into `log` (appended or
/// truncated), default signal handling, and our environment with `environment` over it
/// (`ChildSpawn.start`).
func spawnLogging(_ executable: String, _ arguments: [String], log: String, append: Bool,
                  environment: [String: String] = [:]) throws -> pid_t {
    // The test runner blocks signals in its threads; a daemon must not inherit that mask, or it
    // would never see the SIGHUP of a reload (ChildSpawn gives default handling). It stays in our
    // process group: a caller may run setsid, which a group leader cannot.
    try ChildSpawn.start(executable, arguments, output: .log(log, append: append), environment: environment)
}

