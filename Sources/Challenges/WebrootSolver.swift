import Base
import Synchronization
import Glibc

/// HTTP-01 through an existing web server: token files under
/// `<root>/.well-known/acme-challenge/`, removed again afterwards together
/// with any directory this solver had to create.
public final class WebrootSolver: @unchecked Sendable {
    public let root: String
    private let state = Mutex<(files: [String], createdDirectories: [String])>(([], []))

    public init(root: String) throws {
        var info = stat()
        guard stat(root, &info) == 0 else {
            throw ChallengeError(.webroot, "webroot \(root) does not exist: \(String(cString: strerror(errno))); create it or point \(SettingName.webroot) at the web server's document root")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ChallengeError(.webroot, "webroot \(root) is not a directory; point \(SettingName.webroot) at the web server's document root")
        }
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    var challengeDirectory: String { root + "/.well-known/acme-challenge" }

    public func add(token: String, keyAuthorization: String) throws {
        guard isValidChallengeToken(token) else {
            throw ChallengeError(.invalidToken, "refusing challenge token \"\(token)\": not base64url")
        }
        try state.withLock { state in
            for directory in [root + "/.well-known", challengeDirectory] {
                if mkdir(directory, 0o755) == 0 {
                    chmod(directory, 0o755)  // not narrowed by the umask: the web server must read it
                    state.createdDirectories.append(directory)
                } else if errno != EEXIST {
                    throw ChallengeError(.webroot, "cannot create \(directory): \(String(cString: strerror(errno)))")
                }
            }
            let path = challengeDirectory + "/" + token
            let temporary = challengeDirectory + "/.\(token).tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ChallengeError(.webroot, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
            let bytes = Array(keyAuthorization.utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, 0o644)
            let closed = close(fd)
            guard written == bytes.count, closed == 0, rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw ChallengeError(.webroot, "cannot write \(path): \(reason)")
            }
            state.files.append(path)
        }
    }

    public func remove(token: String) {
        guard isValidChallengeToken(token) else { return }
        let path = challengeDirectory + "/" + token
        state.withLock { state in
            guard let index = state.files.firstIndex(of: path) else { return }
            unlink(path)
            state.files.remove(at: index)
        }
    }

    /// Removes every file written and the directories created (when empty).
    public func removeAll() {
        state.withLock { state in
            state.files.forEach { unlink($0) }
            state.files.removeAll()
            for directory in state.createdDirectories.reversed() { rmdir(directory) }
            state.createdDirectories.removeAll()
        }
    }
}
