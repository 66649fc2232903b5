import CSystem
import Glibc

/// Runs daemon control commands (postconf, postfix, doveadm, dovecot) and hooks
/// without Foundation's Process: posix_spawn, one pipe for stdout and stderr together.
public struct Subprocess: Sendable {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var succeeded: Bool { status == 0 }
        /// The output's last non-empty line, for one-line error messages.
        public var lastLine: String {
            output.split(separator: "\n").last.map(String.init) ?? "(no output)"
        }
    }

    /// Whether the child gets a process group of its own (hooks: `Hook` sets it). Then a timeout
    /// stops the whole group — a hook's `sleep 1000 &` or the `nsupdate` it started, not only its
    /// `/bin/sh` — with SIGTERM, and SIGKILL after `terminationGrace`; the child starts with
    /// default signal handling and an empty signal mask (the daemon ignores SIGHUP, SIGTERM and
    /// SIGINT, and a child would inherit that), and SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
    /// acme are passed on to the group while it runs (Ctrl-C reaches the hook as it did when the
    /// hook shared acme's group; see `csystem_forward_signals_to`). Without it the child stays in
    /// acme's group, as `postconf` or `postfix reload`, and a timeout SIGKILLs it alone.
    public var ownProcessGroup: Bool
    /// How long a timed-out process group has, after SIGTERM, before SIGKILL.
    public var terminationGrace: Duration

    public init(ownProcessGroup: Bool = false, terminationGrace: Duration = .seconds(2)) {
        self.ownProcessGroup = ownProcessGroup
        self.terminationGrace = terminationGrace
    }

    /// Runs `arguments[0]` (looked up with `locate`) and waits for it, with
    /// `environment` added to ours. A program that cannot be started gives
    /// status 127, like a shell. With a `timeout`, a program still running (or still
    /// holding its output open) then is stopped and the status is 124, as timeout(1) says.
    public func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    timeout: Duration? = nil) -> Result {
        BlockingCheck.willWait("running \(arguments.first ?? "?") (posix_spawn, waitpid)")
        guard let program = Self.locate(arguments[0]) else {
            return Result(status: 127, output: "\(arguments[0]) not found in PATH or /usr/sbin, /usr/bin, /sbin, /bin")
        }
        var pipeFDs: [Int32] = [-1, -1]
        // Close-on-exec: a child another thread spawns at this moment never holds our pipe open.
        guard Self.makePipe(&pipeFDs) else { return Result(status: 127, output: "cannot create a pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var inputFDs: [Int32] = [-1, -1]
        if input != nil {
            guard Self.makePipe(&inputFDs) else { return Result(status: 127, output: "cannot create a pipe") }
            posix_spawn_file_actions_adddup2(&actions, inputFDs[0], 0)
            posix_spawn_file_actions_addclose(&actions, inputFDs[0])
            posix_spawn_file_actions_addclose(&actions, inputFDs[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        Self.closeInherited(&actions)

        let (pid, spawned) = spawn(program, arguments, actions: &actions, environment: environment)
        close(pipeFDs[1])
        if let input {
            close(inputFDs[0])
            if spawned == 0 { Self.write(input, to: inputFDs[1]) }
            close(inputFDs[1])
        }
        guard spawned == 0 else {
            close(pipeFDs[0])
            return Result(status: 127, output: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        let (output, timedOut) = Self.collect(from: pipeFDs[0], timeout: timeout)
        close(pipeFDs[0])
        if timedOut { stop(pid) }
        if ownProcessGroup { csystem_stop_forwarding_to(pid) }
        let status = Self.reap(pid)
        if timedOut {
            return Result(status: 124, output: String(decoding: output, as: UTF8.self) + "\n\(arguments[0]) did not finish within \(timeout!) and was stopped")
        }
        return Result(status: status, output: String(decoding: output, as: UTF8.self))
    }

    /// posix_spawn with our environment plus `environment`; with `ownProcessGroup` in a new
    /// process group, with default signal handling, and acme's signals passed on to it.
    private func spawn(_ program: String, _ arguments: [String], actions: inout posix_spawn_file_actions_t,
                       environment: [String: String]) -> (pid: pid_t, error: Int32) {
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.isEmpty ? [] : Self.environmentBlock(adding: environment)
        defer { for pointer in envp { free(pointer) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if ownProcessGroup {
            var none = sigset_t(), all = sigset_t()
            sigemptyset(&none)
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        }
        var pid: pid_t = 0
        if ownProcessGroup { csystem_forward_begin() }
        let spawned = envp.isEmpty
            ? posix_spawn(&pid, program, &actions, &attributes, argv, environ)
            : posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        // The group exists once posix_spawn returns (the child's setpgid runs before exec).
        // A signal that arrived since csystem_forward_begin is passed on to the group now.
        if ownProcessGroup { if spawned == 0 { _ = csystem_forward_signals_to(pid) } else { csystem_forward_abort() } }
        return (pid, spawned)
    }

    /// Stops a child that ran out of time: its whole process group (SIGTERM, then SIGKILL once
    /// the group's leader has exited or `terminationGrace` has passed), or without a group of
    /// its own the child alone, with SIGKILL. The leader stays unreaped (a zombie holding the
    /// group's number) until `reap`, so the group number cannot be reused meanwhile.
    private func stop(_ pid: pid_t) {
        guard ownProcessGroup else { kill(pid, SIGKILL); return }
        kill(-pid, SIGTERM)
        let deadline = ContinuousClock.now + terminationGrace
        while ContinuousClock.now < deadline {
            // WNOWAIT: look without reaping; si_signo stays 0 while the leader runs.
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_signo == SIGCHLD { break }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)
    }

    /// Waits for `pid` and returns its status in a shell's terms (128 + signal for a killed child).
    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS are macros.
        let exited = status & 0x7f == 0
        return exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Our environment with `environment` replacing or adding variables, sorted additions
    /// last, nil-terminated; the strings are the caller's to free.
    private static func environmentBlock(adding environment: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
        var envp: [UnsafeMutablePointer<CChar>?] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if environment[name] == nil { envp.append(strdup(entry)) }
            index += 1
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) { envp.append(strdup(name + "=" + value)) }
        envp.append(nil)
        return envp
    }

    /// Writes `input` to the child's stdin pipe. Small inputs (a mail) fit the pipe buffer; a
    /// child that stops reading gets EPIPE, not us a signal.
    private static func write(_ input: String, to fd: Int32) {
        let previous = signal(SIGPIPE, SIG_IGN)
        let bytes = Array(input.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { break }
            offset += n
        }
        signal(SIGPIPE, previous)
    }

    /// Reads the child's output until it closes the pipe (kept up to 1 MiB) or `timeout` passes.
    private static func collect(from fd: Int32, timeout: Duration?) -> (output: [UInt8], timedOut: Bool) {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let milliseconds = max(0, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                let ready = poll(&entry, 1, milliseconds)
                if ready < 0 && errno == EINTR { continue }
                if ready <= 0 { return (output, true) }
            }
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return (output, false) }
            if output.count < 1 << 20 { output += buffer.prefix(n) }
        }
    }

    /// The same on a thread of its own, for async code: waiting for a child on one of the few
    /// threads async code shares would stop every other task of the process meanwhile.
    public func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    timeout: Duration? = nil) async -> Result {
        await onOwnThread { self.run(arguments, environment: environment, input: input, timeout: timeout) as Result }
    }

    /// A pipe whose both ends close on exec (pipe2 with O_CLOEXEC): a child spawned by another
    /// thread in the same instant never holds it open (its reader would wait for that child's end).
    public static func makePipe(_ fds: inout [Int32]) -> Bool {
        fds.withUnsafeMutableBufferPointer { csystem_pipe_cloexec($0.baseAddress) == 0 }
    }

    /// Adds, as the last file action, "close every descriptor above stderr": a hook or daemon
    /// command gets stdin, stdout and stderr only, never a descriptor another thread of acme had
    /// open at that instant without O_CLOEXEC (a file being written, a socket). Call it after the
    /// actions that set up 0, 1 and 2.
    public static func closeInherited(_ actions: inout posix_spawn_file_actions_t) {
        _ = csystem_spawn_close_from(&actions, 3)
    }

    /// An executable named `program`: in PATH, else in the system directories where
    /// postconf and dovecot live (cron and some hook runners give a PATH without sbin).
    public static func locate(_ program: String) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where !dir.isEmpty {
            let candidate = dir + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
