import Base
import Glibc

/// One `acme daemon` per config directory: `<config-dir>/.acme-daemon.lock`, an open-file-description
/// lock held for the daemon's life (it goes with the process, even after `kill -9`) and holding its
/// pid. Two daemons on one directory would overwrite each other's status and retry state, and both
/// renew (twice the orders at the CA).
public final class DaemonLock: Sendable {
    public let path: String
    private let lock: FileLock

    public static func path(configDirectory: String) -> String { configDirectory + "/.acme-daemon.lock" }

    /// Takes the lock without waiting, creating the config directory when it is missing (the
    /// daemon issues into it). Throws `alreadyRunning`, naming the holder's pid, when another daemon holds it.
    public init(configDirectory: String, pid: Int32 = getpid()) throws {
        let directory = LocalSystem.absolutePath(configDirectory)
        try FS.makeDirectories(directory, mode: 0o755)
        path = Self.path(configDirectory: directory)
        do {
            lock = try FileLock(path: path, wait: false)
        } catch let error as BaseError where error.code == .locked {
            guard let holder = Self.holder(path) else { throw error }
            throw DaemonError(.alreadyRunning, "another acme daemon (pid \(holder)) runs on the config directory \(directory); stop it first (two would overwrite each other's status and backoff), or give this one another config directory")
        }
        try lock.record("\(pid)\n")
    }

    /// Gives the lock up now (the daemon's end, or a test's).
    public func release() { lock.release() }

    /// The pid the lock file names; nil when it names none (the holder has not written it yet).
    static func holder(_ path: String) -> Int32? {
        guard let text = try? FS.read(path, limit: 64), let word = text.split(whereSeparator: \.isWhitespace).first,
              let pid = Int32(word), pid > 0 else { return nil }
        return pid
    }
}
