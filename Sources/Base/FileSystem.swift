import Glibc

/// Names that become path components (lineage names, account ids) must
/// stay inside their directory.
public func validatePathComponent(_ name: String, what: String) throws {
    let problem: String? =
        if name.isEmpty { "it is empty" }
        else if name == "." || name == ".." { "it is a relative directory" }
        else if name.contains("/") { "it contains \"/\"" }
        else if name.utf8.contains(0) { "it contains a NUL byte" }
        else if name.hasPrefix(".") { "it starts with \".\"" }
        else if name.utf8.count > 255 { "it is longer than 255 bytes" }
        else { nil }
    if let problem { throw BaseError(.invalidName, "invalid \(what) \"\(name)\": \(problem); use a plain name such as mail.example.com") }
}

/// POSIX file operations with the durability the store needs: every file is
/// written to a temporary name, flushed, renamed, and its directory synced.
public enum FS {
    public static func errorText() -> String { String(cString: strerror(errno)) }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    public static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    /// Creates `path` and missing parents; new directories get `mode`.
    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw BaseError(.unwritable, "cannot create directory \(path): \(errorText())")
        }
        chmod(path, mode)
    }

    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The largest file acme reads: certificates, keys, confs and JSON are a few KiB.
    public static let maxFileSize = 16 << 20

    /// Reads a regular file of at most `limit` bytes. Opened non-blocking and checked with
    /// fstat before any read, so a FIFO, device, socket or directory where a file is expected
    /// is refused at once instead of blocking (while holding a lock) or reading forever.
    public static func read(_ path: String, limit: Int = maxFileSize) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw BaseError(.unreadable, "cannot read \(path): \(errorText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BaseError(.unreadable, "cannot read \(path): \(errorText())") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BaseError(.unreadable, "\(path) is \(kind(info.st_mode)), not a regular file; replace it with the file acme expects")
        }
        guard Int(info.st_size) <= limit else {
            throw BaseError(.unreadable, "\(path) is larger than \(limit >> 10) KiB; is it really the file acme expects?")
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw BaseError(.unreadable, "cannot read \(path): \(errorText())") }
            if n == 0 { break }
            data += buffer.prefix(n)
            // The file may grow while it is read.
            if data.count > limit { throw BaseError(.unreadable, "\(path) is larger than \(limit >> 10) KiB; is it really the file acme expects?") }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// "a FIFO", "a directory"… for messages about what stands where a file should.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Whether `path` itself (not what it points at) is a symbolic link.
    public static func isSymlink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// Removes a directory of files and links that acme manages (a lineage's live/ or archive/
    /// directory, a provision set) without following any link: the directory is opened with
    /// O_NOFOLLOW and its entries are unlinked relative to it, so a directory replaced by a
    /// link is refused and a link inside is removed, never its target. Subdirectories are refused.
    public static func removeManagedDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return }
            if errno == ELOOP || errno == ENOTDIR {
                throw BaseError(.unsafePath, "\(path) is not a real directory (a link or a file); acme does not follow links out of the directories it manages: remove it by hand")
            }
            throw BaseError(.unwritable, "cannot open \(path): \(errorText())")
        }
        guard let directory = fdopendir(fd) else {
            close(fd)
            throw BaseError(.unwritable, "cannot list \(path): \(errorText())")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names where unlinkat(fd, name, 0) != 0 && errno != ENOENT {
            throw BaseError(errno == EISDIR ? .unsafePath : .unwritable, "cannot remove \(path)/\(name): \(errorText())")
        }
        guard rmdir(path) == 0 || errno == ENOENT else { throw BaseError(.unwritable, "cannot remove \(path): \(errorText())") }
    }

    /// Writes `text` to `path` atomically with `mode`; the file is either the
    /// old one or the complete new one, never a mixture, even on a crash.
    public static func writeAtomically(_ path: String, _ text: String, mode: mode_t) throws {
        let temporary = parentDirectory(path) + "/." + lastComponent(path) + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw BaseError(.unwritable, "cannot write \(temporary): \(errorText())") }
        var ok = fchmod(fd, mode) == 0
        let bytes = Array(text.utf8)
        var offset = 0
        while ok && offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false; break }
            offset += n
        }
        let reason = errorText()
        ok = ok && fsync(fd) == 0
        ok = close(fd) == 0 && ok
        guard ok, rename(temporary, path) == 0 else {
            let detail = ok ? errorText() : reason
            unlink(temporary)
            throw BaseError(.unwritable, "cannot write \(path): \(detail)")
        }
        syncDirectory(parentDirectory(path))
    }

    /// Points `link` at `target` atomically (new link, then rename over).
    public static func replaceSymlink(_ link: String, target: String) throws {
        let temporary = parentDirectory(link) + "/." + lastComponent(link) + ".link-\(getpid())"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else { throw BaseError(.unwritable, "cannot create link \(temporary): \(errorText())") }
        guard rename(temporary, link) == 0 else {
            let reason = errorText()
            unlink(temporary)
            throw BaseError(.unwritable, "cannot replace link \(link): \(reason)")
        }
    }

    /// Removes a file or link (never what a link points at); a missing one is fine.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw BaseError(.unwritable, "cannot remove \(path): \(errorText())")
        }
    }

    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// The names in a directory, sorted. A directory that cannot be opened is an error
    /// naming it: "no entries" must never stand for "could not look".
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw BaseError(errno == ENOENT ? .missing : .unreadable, "cannot list \(path): \(errorText())")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `list`, but a directory that does not exist has no entries (the normal state of
    /// optional directories such as renewal-hooks/ or a lineage not written yet).
    public static func listIfPresent(_ path: String) throws -> [String] {
        do {
            return try list(path)
        } catch let error as BaseError where error.code == .missing {
            return []
        }
    }

    public static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
