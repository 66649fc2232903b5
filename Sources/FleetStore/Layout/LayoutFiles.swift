import Base
import Glibc

/// Byte-exact file operations for import and export: what is read is untrusted (regular files
/// only, no link followed, bounded), what is written is flushed and renamed into place.
enum LayoutFiles {
    /// The largest file import takes: certificates, keys, confs and account JSON are a few KiB.
    static let maxFileSize = 1 << 20

    enum Kind { case file, directory, link, missing, other(String) }

    /// What `path` itself is (a link is a link, not what it points at).
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .link
        case S_IFIFO: return .other("a FIFO")
        case S_IFSOCK: return .other("a socket")
        default: return .other("a device")
        }
    }

    /// The bytes of the regular file `path`, never through a link, at most `limit` bytes.
    static func read(_ path: String, limit: Int = maxFileSize) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW)
        guard fd >= 0 else {
            let what = errno == ELOOP ? "is a symbolic link (acme does not follow links in the layout it imports)" : "cannot be read: \(FS.errorText())"
            throw FleetStoreError(.badLayout, "\(path) \(what)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw FleetStoreError(.badLayout, "\(path) is not a regular file; replace it with the file certbot writes there, or move it away")
        }
        guard Int(info.st_size) <= limit else {
            throw FleetStoreError(.badLayout, "\(path) is larger than \(limit >> 10) KiB; is it really the file certbot writes there?")
        }
        var data: [UInt8] = []
        data.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw FleetStoreError(.badLayout, "cannot read \(path): \(FS.errorText())") }
            if n == 0 { break }
            data += buffer.prefix(n)
            if data.count > limit { throw FleetStoreError(.badLayout, "\(path) is larger than \(limit >> 10) KiB; is it really the file certbot writes there?") }
        }
        return data
    }

    /// The names in a real directory (refusing a link), sorted; a missing one has none when `optional`.
    static func list(_ path: String, optional: Bool = false) throws -> [String] {
        switch kind(path) {
        case .directory: break
        case .missing where optional: return []
        case .missing: throw FleetStoreError(.badLayout, "\(path) does not exist; is this a certbot config directory (--config-dir)?")
        case .link: throw FleetStoreError(.badLayout, "\(path) is a symbolic link; acme does not follow links out of the layout it imports: replace it with the real directory")
        default: throw FleetStoreError(.badLayout, "\(path) is not a directory")
        }
        do {
            return try FS.list(path)
        } catch {
            throw FleetStoreError(.badLayout, "\(error)")
        }
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    // MARK: - Writing (export)

    static func makeDirectory(_ path: String, mode: mode_t) throws {
        guard mkdir(path, mode) == 0 || (errno == EEXIST && kind(path).isDirectory) else {
            throw FleetStoreError(.unwritable, "cannot create directory \(path): \(FS.errorText())")
        }
        // mkdir's mode passes through the umask; certbot's modes are exact.
        guard chmod(path, mode) == 0 else { throw FleetStoreError(.unwritable, "cannot set the mode of \(path): \(FS.errorText())") }
    }

    /// Writes a new file with exactly `bytes` and `mode`, flushed (the caller syncs the directory).
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw FleetStoreError(.unwritable, "cannot create \(path): \(FS.errorText())") }
        var ok = fchmod(fd, mode) == 0
        var offset = 0
        while ok && offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false; break }
            offset += n
        }
        let reason = FS.errorText()
        ok = ok && fsync(fd) == 0
        ok = close(fd) == 0 && ok
        guard ok else { throw FleetStoreError(.unwritable, "cannot write \(path): \(reason)") }
    }

    static func symlink(_ target: String, at path: String) throws {
        guard Glibc.symlink(target, path) == 0 else { throw FleetStoreError(.unwritable, "cannot create link \(path): \(FS.errorText())") }
    }
}

extension LayoutFiles.Kind {
    var isDirectory: Bool { if case .directory = self { true } else { false } }
}
