import CSystem
import Glibc
import Synchronization

/// Swift's async code shares a pool of one thread per core, two on the machines `acme` runs
/// on. A call that waits there — for a child process, a lock, a socket, the database, a
/// timer — takes that thread from every other task of the process: two such waits stop the
/// process (a daemon that does not answer signals, a responder that does not answer the CA,
/// a deadline that fires although nothing was slow). Blocking work runs on a thread of its
/// own (`onOwnThread`, `NativeThread`) or through an async API; see Docs/ARCHITECTURE.md,
/// "Concurrency".
///
/// Every wait in this package announces itself with `willWait` first. With the environment
/// variable `ACME_CHECK_BLOCKING=report` a wait on a shared thread is written to standard
/// error with its stack (once per kind of wait); with `ACME_CHECK_BLOCKING=abort` (what the
/// test command sets) the process stops there; `ACME_CHECK_BLOCKING_LOG=FILE` appends the
/// reports to FILE as well. A violation then shows on every run, however
/// short the wait, instead of as a rare stall on a busy machine.
public enum BlockingCheck {
    enum Mode { case off, report, abort }

    static let mode: Mode = {
        switch getenv("ACME_CHECK_BLOCKING").map({ String(cString: $0) }) {
        case "abort": return .abort
        case "report", "1": return .report
        default: return .off
        }
    }()

    private static let reported = Mutex<Set<String>>([])

    /// Whether the calling thread may wait: a thread of our own, or any thread that is not
    /// running a Swift task (the main thread of a synchronous program, a C library's thread).
    public static var mayWait: Bool {
        OwnThreadMark.isSet || !withUnsafeCurrentTask { $0 != nil }
    }

    /// Called by every blocking wait before it waits; `what` names it ("waitpid for postconf").
    public static func willWait(_ what: @autoclosure () -> String) {
        guard mode != .off, !mayWait else { return }
        let text = what()
        if mode == .report, !reported.withLock({ $0.insert(text).inserted }) { return }
        let line = "acme: blocking wait on a shared async thread: \(text) (run it on a thread of its own; Docs/ARCHITECTURE.md, Concurrency)\n"
        // ACME_CHECK_BLOCKING_LOG collects the reports of every process of a test run in one file.
        let log = getenv("ACME_CHECK_BLOCKING_LOG").map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) } ?? -1
        for fd in log >= 0 ? [2, log] : [2] {
            _ = line.withCString { write(fd, $0, strlen($0)) }
            csystem_write_backtrace(fd)
        }
        if log >= 0 { close(log) }
        if mode == .abort { abort() }
    }
}

/// The mark that a thread is one of ours (`NativeThread.spawn`, or an executor built on it):
/// code on it may wait.
public enum OwnThreadMark {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Marks the calling thread; call it first thing on a thread this package started.
    public static func set() {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
    }

    public static var isSet: Bool { pthread_getspecific(key) != nil }
}
