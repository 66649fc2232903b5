import Base
import Glibc

/// Whether a directory can take a new lineage: checked before an order is placed, so that a full
/// or read-only disk does not cost the CA an order (and the account its rate limits) only to fail
/// while saving. A lineage is a dozen small files; `minimumBytes` and `minimumFiles` leave room.
public enum DiskRoom {
    /// Free space required on the directory's file system (for the unprivileged user, as root's
    /// reserve may be all that is left).
    public static let minimumBytes: UInt64 = 1 << 20
    /// Free inodes required, where the file system counts them.
    public static let minimumFiles: UInt64 = 64

    /// Throws `store.noRoom` or `store.unwritable` naming `directory` and what to do; `setting`
    /// names what the directory is ("config directory", "TLS directory").
    /// A directory not made yet is judged by its nearest existing parent (without the probe file).
    public static func require(_ directory: String, setting: String) throws {
        var existing = directory
        while !FS.isDirectory(existing), FS.parentDirectory(existing) != existing { existing = FS.parentDirectory(existing) }
        var stats = statvfs()
        guard statvfs(existing, &stats) == 0 else {
            throw CertStoreError(.unwritable, "cannot look at the \(setting) \(directory): \(FS.errorText()); no order was placed")
        }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        if free < minimumBytes {
            throw CertStoreError(.noRoom, "the \(setting) \(directory) has \(free >> 10) KiB free, and saving a certificate needs at least \(minimumBytes >> 20) MiB: free some space; no order was placed")
        }
        if stats.f_files > 0, UInt64(stats.f_favail) < minimumFiles {
            throw CertStoreError(.noRoom, "the \(setting) \(directory) has \(stats.f_favail) free inodes, and saving a certificate needs \(minimumFiles): remove some files; no order was placed")
        }
        if stats.f_flag & UInt(ST_RDONLY) != 0 {
            throw CertStoreError(.unwritable, "the \(setting) \(directory) is on a read-only file system; no order was placed")
        }
        // A probe file: catches what statvfs does not (immutable directories, quotas, permissions).
        guard existing == directory else { return }
        let probe = directory + "/.acme-room-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CertStoreError(.unwritable, "cannot write in the \(setting) \(directory): \(FS.errorText()); no order was placed")
        }
        var byte: UInt8 = 0x0a
        let written = write(fd, &byte, 1)
        let reason = FS.errorText()
        close(fd)
        unlink(probe)
        guard written == 1 else {
            throw CertStoreError(.noRoom, "cannot write in the \(setting) \(directory): \(reason); no order was placed")
        }
    }
}
