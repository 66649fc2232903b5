import Base

/// The lock that keeps two runs from changing one config directory at the same time:
/// `<config-dir>/.certbot.lock`, the same file and lock kind certbot takes, so `acme` and
/// certbot exclude each other too.
public enum ConfigLock {
    /// Takes the lock, waiting for another run (and calling `waiting` once if it must).
    /// `create` makes a missing config directory (issuing writes the first lineage);
    /// otherwise a missing directory is an error naming it.
    public static func acquire(configDirectory: String, create: Bool, wait: Bool = true,
                               waiting: () -> Void = {}) throws -> FileLock {
        let directory = LocalSystem.absolutePath(configDirectory)
        if create {
            try FS.makeDirectories(directory, mode: 0o755)
        } else {
            try ConfigDirectory.requireExisting(directory)
        }
        return try FileLock(path: directory + "/.certbot.lock", wait: wait, waiting: waiting)
    }

    /// The same for async code: the wait (for certbot or another run, possibly minutes) happens
    /// on a thread of its own, not on one of the few threads async code shares.
    public static func acquire(configDirectory: String, create: Bool, wait: Bool = true,
                               waiting: @escaping @Sendable () -> Void = {}) async throws -> FileLock {
        try await onOwnThread(throwing: {
            try acquire(configDirectory: configDirectory, create: create, wait: wait, waiting: waiting) as FileLock
        })
    }
}

/// Checks on the config directory itself.
public enum ConfigDirectory {
    /// Commands that only read or renew what exists never create the config directory: a
    /// typo in --config-dir must fail loudly, not report "no certificates".
    public static func requireExisting(_ directory: String) throws {
        guard FS.isDirectory(directory) else {
            let what = FS.exists(directory) ? "is not a directory" : "does not exist"
            throw CertStoreError(.notFound, "the config directory \(directory) \(what); check --config-dir (certbot's default is /etc/letsencrypt)")
        }
    }
}
