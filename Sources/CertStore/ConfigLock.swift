import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// The lock that keeps two runs from changing one config directory at the same time:
/// a POSIX write lock on `<config-dir>/.certbot.lock`, the same file and lock kind
/// certbot takes, so `acme` and certbot exclude each other too. The lock goes away
/// with the process, even after `kill -9`.
public final class ConfigLock {
    public let path: String
    private let fd: Int32

    /// Takes the lock; if another process holds it, calls `waiting` once and
    /// blocks until it is free (`wait == true`) or throws (`wait == false`).
    public init(configDirectory: String, wait: Bool = true, waiting: () -> Void = {}) throws {
        path = FS.absolute(configDirectory) + "/.certbot.lock"
        try FS.makeDirectories(FS.parentDirectory(path), mode: 0o755)
        var announced = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StoreError("cannot open the lock file \(path): \(FS.errorText())") }
            if csystem_lock_file(fd, 0) != 0 {
                guard errno == EAGAIN || errno == EACCES else {
                    let reason = FS.errorText()
                    close(fd)
                    throw StoreError("cannot lock \(path): \(reason)")
                }
                guard wait else {
                    close(fd)
                    throw StoreError("another acme or certbot run is using \(FS.parentDirectory(path)) (it holds \(path)); try again when it has finished")
                }
                if !announced { waiting(); announced = true }
                guard csystem_lock_file(fd, 1) == 0 else {
                    let reason = FS.errorText()
                    close(fd)
                    throw StoreError("cannot lock \(path): \(reason)")
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

    deinit { close(fd) }
}
