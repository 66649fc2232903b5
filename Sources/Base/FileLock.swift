import CSystem
import Glibc
import Synchronization

/// An exclusive POSIX write lock on a whole file (fcntl F_SETLK), the kind certbot takes
/// with `fcntl.lockf`: `<config-dir>/.certbot.lock` makes acme and certbot exclude each
/// other, `<tls-dir>/.acme-provision.lock` keeps two provisions apart. The lock goes away
/// with the process, even after `kill -9`; `release()` gives it up at once (dropping the object
/// does too, but only when the last reference goes, which a thread that handed it over may still hold).
public final class FileLock: Sendable {
    public let path: String
    private let fd: Int32
    private let released = Atomic<Bool>(false)

    /// Takes the lock on `path` (the directory must exist); if another process holds it,
    /// calls `waiting` once and blocks until it is free (`wait == true`) or throws.
    public init(path: String, wait: Bool = true, waiting: () -> Void = {}) throws {
        self.path = path
        // A lock another run may hold for minutes (certbot, a renewal): waiting for it is a
        // blocking wait whether or not it is held right now.
        if wait { BlockingCheck.willWait("the lock \(path) (fcntl F_SETLKW)") }
        var announced = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw BaseError(.locked, "cannot open the lock file \(path): \(FS.errorText())") }
            if csystem_lock_file(fd, 0) != 0 {
                guard errno == EAGAIN || errno == EACCES else {
                    let reason = FS.errorText()
                    close(fd)
                    throw BaseError(.locked, "cannot lock \(path): \(reason)")
                }
                guard wait else {
                    close(fd)
                    throw BaseError(.locked, "another run holds \(path); try again when it has finished")
                }
                if !announced { waiting(); announced = true }
                guard csystem_lock_file(fd, 1) == 0 else {
                    let reason = FS.errorText()
                    close(fd)
                    throw BaseError(.locked, "cannot lock \(path): \(reason)")
                }
            }
            // certbot removes its lock file when it releases the lock; if that happened
            // while we waited, we hold a lock on a file nobody else will open: start over.
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                self.fd = fd
                return
            }
            close(fd)
        }
    }

    /// Replaces the lock file's content with `text` (e.g. the holder's pid, for the run that finds
    /// the lock held and names its holder). certbot's lock file is empty: only for our own locks.
    public func record(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, bytes, bytes.count, 0) == bytes.count else {
            throw BaseError(.unwritable, "cannot write to the lock file \(path): \(FS.errorText())")
        }
    }

    /// Gives the lock up now (closes its descriptor); later calls do nothing. Another process may
    /// still see it held for a moment if a child spawned in this instant holds a copy of the
    /// descriptor until its exec (O_CLOEXEC).
    public func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { close(fd) }
    }

    deinit { release() }
}
