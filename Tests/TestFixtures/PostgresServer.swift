import Base
import Foundation
import Glibc

/// A real PostgreSQL 15 server from Debian's postgresql-15 package for one test: initdb and
/// pg_ctl in a temporary directory, listening on a free 127.0.0.1 port (and a Unix socket in
/// that directory). initdb and postgres refuse to run as root, so as root they run as the
/// `postgres` system user (`runuser -u postgres --`) in a directory it owns. Failing to start
/// is an error, never a skipped test. `stop()` (or deinit) stops it and removes the directory.
public final class PostgresServer: @unchecked Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let directory: String
    public let port: Int
    /// The superuser tests connect as, with a password (scram-sha-256 over TCP).
    public let user = "acme"
    public let password: String
    private var running = false

    public var dataDirectory: String { directory + "/data" }

    public init() throws {
        for tool in ["initdb", "pg_ctl", "postgres", "psql"] where !FileManager.default.isExecutableFile(atPath: "\(Self.binaries)/\(tool)") {
            throw FixtureFailure("\(Self.binaries)/\(tool) is missing; install PostgreSQL 15 (apt-get install postgresql-15)")
        }
        var template = Array("/tmp/acme-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FixtureFailure("mkdtemp: \(String(cString: strerror(errno)))") }
        directory = String(cString: made)
        password = "pw-" + UUID().uuidString.prefix(12).lowercased() + "%:@x"
        port = PostgresServer.freePort()
        if getuid() == 0 {
            guard let account = getpwnam("postgres") else {
                throw FixtureFailure("tests run as root and there is no postgres user to run PostgreSQL as; install postgresql-15 (it creates the user)")
            }
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        chmod(directory, 0o700)
        try writeOwned(directory + "/pwfile", password + "\n")
        let initdb = try runAsOwner("\(Self.binaries)/initdb", ["-D", dataDirectory, "-U", user, "--pwfile=\(directory)/pwfile",
                                                             "--auth-local=trust", "--auth-host=scram-sha-256", "-N", "-E", "UTF8", "--locale=C"])
        guard initdb.status == 0 else { throw FixtureFailure("initdb failed (\(initdb.status)): \(initdb.output.suffix(800))") }
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        let started = try runAsOwner("\(Self.binaries)/pg_ctl", ["start", "-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "30", "-o", options])
        guard started.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw FixtureFailure("PostgreSQL did not start on 127.0.0.1:\(port) (pg_ctl \(started.status)): \(started.output.suffix(400)) \(log.suffix(800))")
        }
        running = true
    }

    deinit { stop() }

    /// Stops the server (fast mode: sessions are ended; `immediate`: killed without a shutdown,
    /// as a crash) and keeps its data, for a test of an outage; `resume()` starts it again on the same port.
    public func pause(immediate: Bool = false) throws {
        let stopped = try runAsOwner("\(Self.binaries)/pg_ctl", ["stop", "-D", dataDirectory, "-m", immediate ? "immediate" : "fast", "-w", "-t", "30"])
        guard stopped.status == 0 else { throw FixtureFailure("pg_ctl stop failed (\(stopped.status)): \(stopped.output.suffix(400))") }
    }

    public func resume() throws {
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        let started = try runAsOwner("\(Self.binaries)/pg_ctl", ["start", "-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "30", "-o", options])
        guard started.status == 0 else { throw FixtureFailure("PostgreSQL did not start again on 127.0.0.1:\(port): \(started.output.suffix(400))") }
    }

    /// Stops the server at once (immediate mode) and removes its directory.
    public func stop() {
        guard running else { return }
        running = false
        // Nothing more to do when it is already gone; the directory is removed either way.
        _ = try? runAsOwner("\(Self.binaries)/pg_ctl", ["stop", "-D", dataDirectory, "-m", "immediate", "-w", "-t", "30"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A URL for database `database` with the password in it.
    public func url(database: String = "postgres") -> String {
        let escaped = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "postgresql://\(user):\(escaped)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates a database and returns its URL.
    public func createDatabase(_ name: String) throws -> String {
        _ = try psql("CREATE DATABASE \(name)", database: "postgres")
        return url(database: name)
    }

    /// Runs SQL through psql over the Unix socket; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, database: String) throws -> String {
        let result = try Self.runProcess("\(Self.binaries)/psql", ["-h", directory, "-p", String(port), "-U", user, "-d", database,
                                                                  "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else { throw FixtureFailure("psql \(sql.prefix(80)): \(result.output.suffix(400))") }
        return result.stdout
    }

    /// The arguments and environment that make `psql` talk to `database` (for tests that run it as a child).
    public func psqlArguments(database: String) -> [String] {
        ["-h", directory, "-p", String(port), "-U", user, "-d", database, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    }

    private func writeOwned(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        if getuid() == 0, let account = getpwnam("postgres") { chown(path, account.pointee.pw_uid, account.pointee.pw_gid) }
    }

    private func runAsOwner(_ tool: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, output: String) {
        if getuid() == 0 { return try Self.runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments) }
        return try Self.runProcess(tool, arguments)
    }

    /// Runs a tool to completion (`runChild`: posix_spawn and waitpid, output through files):
    /// `pg_ctl start` leaves a server running that holds inherited descriptors (a pipe would
    /// never reach end-of-file), and Foundation's Process did not notice runuser's exit under
    /// the test runner.
    static func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, output: String) {
        let result = try runChild(executable, arguments)
        return (result.status, result.stdout, result.output)
    }

    /// psql running `commands` against `database` in a child process (stdin /dev/null, output
    /// discarded) — a client that another test can kill; the caller reaps it with waitpid.
    public func spawnPSQL(_ commands: [String], database: String) throws -> pid_t {
        // postgres must not keep another test's files open: ChildSpawn closes inherited descriptors.
        try ChildSpawn.start(Self.binaries + "/psql", psqlArguments(database: database) + commands.flatMap { ["-c", $0] },
                             output: .log("/dev/null", append: false))
    }

    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
