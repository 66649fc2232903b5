import Base
import Foundation
import Glibc

/// The one way test fixtures start a child process (`runChild`, `spawnLogging`,
/// `PostgresServer.spawnPSQL`, the hostile-peer `acme check` runs): posix_spawn, not
/// Foundation's `Process`, which twice failed to notice a child's exit under the test runner.
public enum ChildSpawn {
    /// Where the child's stdout and stderr go. Files, never pipes: a child that leaves a daemon
    /// holding its descriptors (`pg_ctl start`, `postfix start`) cannot keep a reader waiting.
    public enum Output: Sendable {
        /// stdout and stderr into two files, created or truncated.
        case files(stdout: String, stderr: String)
        /// Both into one file, appended to or truncated first.
        case log(String, append: Bool)
    }

    /// Starts `executable` and returns its pid without waiting; the caller reaps it (waitpid).
    /// The child gets stdin from `stdin`, output as `output` says, no other descriptor of ours
    /// (`Subprocess.closeInherited`: not another test's half-written script, "Text file busy"),
    /// default signal handling and an empty signal mask (the test runner blocks signals in its
    /// threads; a daemon must still see the SIGHUP of a reload), our environment with
    /// `environment` over it, and with `ownProcessGroup` a process group of its own, so that
    /// `kill(-pid, …)` stops what it started too (a shell's pipeline).
    public static func start(_ executable: String, _ arguments: [String], stdin: String = "/dev/null", output: Output,
                             environment: [String: String] = [:], ownProcessGroup: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        switch output {
        case .files(let stdout, let stderr):
            posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        case .log(let path, let append):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        Subprocess.closeInherited(&actions)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = withDefaultSignals(ownProcessGroup: ownProcessGroup) { posix_spawn(&pid, executable, &actions, $0, argv, envp) }
        guard spawned == 0 else {
            throw TestFixtureFailure("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// Runs `body` with posix_spawn attributes that give the child an empty signal mask and
    /// default handlers, and with `ownProcessGroup` a new process group.
    private static func withDefaultSignals<T>(ownProcessGroup: Bool, _ body: (UnsafeMutablePointer<posix_spawnattr_t>) throws -> T) rethrows -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int16(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, flags)
        return try body(&attributes)
    }
}
