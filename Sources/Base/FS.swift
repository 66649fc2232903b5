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

    /// Byte-wise (paths are bytes to the kernel; a search by Character costs grapheme breaking).
    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
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
        return try readOpened(fd, path: path, limit: limit)
    }

    /// `read`, but no link is followed below `tree` (default: the file's own directory): `tree`
    /// is opened as given (the config directory may itself be a link), every directory under it
    /// and the file itself with O_NOFOLLOW. For the files acme keeps in its trees (keys, state),
    /// where a link can only be a mistake or an attack: a key reached through a link out of the
    /// tree would be printed as a TLSA record and certified by the next renewal.
    public static func readNoFollow(_ path: String, below tree: String? = nil, limit: Int = maxFileSize) throws -> String {
        let (directory, name) = try openParent(of: path, below: tree, failure: .unreadable)
        defer { close(directory) }
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ELOOP { throw BaseError(.unsafePath, linkRefusal(path)) }
            throw BaseError(.unreadable, "cannot read \(path): \(errorText())")
        }
        return try readOpened(fd, path: path, limit: limit)
    }

    static func linkRefusal(_ path: String) -> String {
        "\(path) is a symbolic link; acme takes this file only as a regular file, never through a link: put the file itself there, or remove the link"
    }

    /// The directory holding `path`, opened without following a link below `tree`, and the
    /// file's name in it. `tree` must be the directory itself or one of its parents.
    static func openParent(of path: String, below tree: String?, failure: BaseError.Code) throws -> (fd: Int32, name: String) {
        let parent = parentDirectory(path), name = lastComponent(path)
        let root = tree ?? parent
        let prefix = root.hasSuffix("/") ? root : root + "/"
        guard parent == root || parent.utf8.starts(with: prefix.utf8), name != ".", name != ".." else {
            throw BaseError(.unsafePath, "\(path) is not inside \(root)")
        }
        let below = parent.utf8.dropFirst(root.utf8.count).split(separator: UInt8(ascii: "/"))
            .map { String(decoding: $0, as: UTF8.self) }
        // One directory below the tree (archive/<name>, live/<name>): `open` with O_NOFOLLOW
        // resolves `root` as given and refuses a link in the last component, as the steps below
        // do, in one call instead of two. Any failure takes the steps, whose messages say which.
        if below.count == 1, below[0] != ".", below[0] != ".." {
            let fd = open(prefix + below[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 { return (fd, name) }
        }
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BaseError(failure, "cannot open \(root): \(errorText())") }
        var reached = root
        for component in below {
            reached += "/" + component
            let next = component == "." || component == ".." ? -1 : openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let reason = component == "." || component == ".." ? ELOOP : errno
            close(fd)
            guard next >= 0 else {
                if reason == ELOOP || reason == ENOTDIR {
                    throw BaseError(.unsafePath, "\(reached) is not a real directory (a link or a file); acme does not follow links inside \(root): replace it with the real directory")
                }
                throw BaseError(failure, "cannot open \(reached): \(String(cString: strerror(reason)))")
            }
            fd = next
        }
        return (fd, name)
    }

    /// Reads the opened `fd` (closed on return): a regular file of at most `limit` bytes.
    private static func readOpened(_ fd: Int32, path: String, limit: Int) throws -> String {
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BaseError(.unreadable, "cannot read \(path): \(errorText())") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BaseError(.unreadable, "\(path) is \(kind(info.st_mode)), not a regular file; replace it with the file acme expects")
        }
        guard Int(info.st_size) <= limit else {
            throw BaseError(.unreadable, "\(path) is larger than \(limit >> 10) KiB; is it really the file acme expects?")
        }
        // Read straight into a buffer of the file's size (+1 to see the end in one call): no
        // 16 KiB scratch buffer to clear and copy from for every small key or certificate.
        var data = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while true {
            if count == data.count { data += [UInt8](repeating: 0, count: max(4096, data.count)) }
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 { if errno == EINTR { continue }; throw BaseError(.unreadable, "cannot read \(path): \(errorText())") }
            if n == 0 { break }
            count += n
            // The file may grow while it is read.
            if count > limit { throw BaseError(.unreadable, "\(path) is larger than \(limit >> 10) KiB; is it really the file acme expects?") }
            // All that fstat saw, and less than asked for: the end (what is appended now is as if
            // it came after the read), without a last read(2) to hear 0 from.
            if count == Int(info.st_size), count < data.count { break }
        }
        return String(decoding: data[..<count], as: UTF8.self)
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
    /// old one or the complete new one, never a mixture, even on a crash. Nothing is written
    /// through a link: the temporary file is created `O_EXCL|O_NOFOLLOW` in the directory opened
    /// as `readNoFollow` opens it (no link followed below `tree`), and renamed over the name in
    /// that same directory, which replaces a link standing there instead of writing to its target.
    public static func writeAtomically(_ path: String, _ text: String, mode: mode_t, below tree: String? = nil) throws {
        let (directory, name) = try openParent(of: path, below: tree, failure: .unwritable)
        defer { close(directory) }
        let temporary = "." + name + ".tmp-\(getpid())"
        let shown = parentDirectory(path) + "/" + temporary
        var fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        if fd < 0 && errno == EEXIST {
            // Left by a killed run with our pid: removed (a link or another name of a file), never written to.
            unlinkat(directory, temporary, 0)
            fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        }
        guard fd >= 0 else { throw BaseError(.unwritable, "cannot write \(shown): \(errorText())") }
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
        guard ok, renameat(directory, temporary, directory, name) == 0 else {
            let detail = ok ? errorText() : reason
            unlinkat(directory, temporary, 0)
            throw BaseError(.unwritable, "cannot write \(path): \(detail)")
        }
        fsync(directory)
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

    /// The target of the link `path`; nil when it is not a link (or cannot be read).
    /// A scratch buffer on the stack: needsRepair and readLive call this for every live file.
    public static func readLink(_ path: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer in
            let n = readlink(path, buffer.baseAddress!, buffer.count - 1)
            guard n > 0 else { return nil }
            return buffer.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: n) {
                String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
            }
        }
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

    /// The last non-empty component ("b" for "a/b/"), or `path` itself when it has none; byte-wise.
    public static func lastComponent(_ path: String) -> String {
        let bytes = path.utf8, slash = UInt8(ascii: "/")
        guard let last = bytes.lastIndex(where: { $0 != slash }) else { return path }
        let end = bytes.index(after: last)
        let start = bytes[..<end].lastIndex(of: slash).map { bytes.index(after: $0) } ?? bytes.startIndex
        return String(path[start..<end])
    }
}
