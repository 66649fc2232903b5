import Base
import CPostgres
import Glibc

/// A value bound to a `$n` parameter. Every value reaches the server as a parameter, never
/// spliced into SQL text; bytes go in binary, so any byte survives.
public enum SQLValue: Sendable {
    case text(String)
    case bytes([UInt8])
    case int(Int)
    case null
}

/// One row of a result: each column's bytes (binary result format), nil for SQL NULL.
public struct SQLRow: Sendable {
    public let fields: [[UInt8]?]

    public func bytes(_ column: Int) -> [UInt8]? { fields[column] }

    public func string(_ column: Int) -> String? { fields[column].map { String(decoding: $0, as: UTF8.self) } }

    /// An integer column (smallint, integer, bigint in binary: big-endian, 2, 4 or 8 bytes)
    /// or a boolean (1 byte).
    public func int(_ column: Int) -> Int? {
        guard let bytes = fields[column], [1, 2, 4, 8].contains(bytes.count) else { return nil }
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        switch bytes.count {
        case 1: return Int(value)
        case 2: return Int(Int16(truncatingIfNeeded: value))
        case 4: return Int(Int32(truncatingIfNeeded: value))
        default: return Int(Int64(bitPattern: value))
        }
    }

    public func bool(_ column: Int) -> Bool? { fields[column].flatMap { $0.count == 1 ? $0[0] != 0 : nil } }
}

/// A `NOTIFY` received on a channel this connection listens on.
public struct StoreNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The server process of the session that sent it.
    public var senderPID: Int32
}

/// One libpq connection to the store. Blocking calls, one at a time: not for sharing between
/// threads (libpq's PGconn is not). Every statement is bounded: `statement_timeout` and
/// `lock_timeout` on the server, the result size here (`Limits`).
public final class PostgresConnection {
    public struct Limits: Sendable {
        /// libpq's `connect_timeout`, seconds.
        public var connectTimeout = 10
        /// The server's `statement_timeout`, milliseconds.
        public var statementTimeout = 30_000
        /// The server's `lock_timeout`, milliseconds (row and table locks; advisory locks are only tried).
        public var lockTimeout = 10_000
        /// The server ends a session idle inside a transaction after this long (ms), releasing its locks.
        public var idleInTransactionTimeout = 60_000
        /// The most bytes of field data one result may hold.
        public var maxResultBytes = 64 << 20
        /// The most rows one result may hold.
        public var maxRows = 100_000

        public init() {}
    }

    public let url: StoreURL
    public let limits: Limits
    private let connection: OpaquePointer

    /// Connects (within `limits.connectTimeout`), or throws `fleet.unreachable` naming the
    /// store with its password redacted.
    public init(url: StoreURL, limits: Limits = Limits()) throws {
        self.url = url
        self.limits = limits
        let settings: [(String, String)] = [
            ("dbname", url.text),
            ("connect_timeout", String(limits.connectTimeout)),
            ("options", "-c statement_timeout=\(limits.statementTimeout) -c lock_timeout=\(limits.lockTimeout) -c idle_in_transaction_session_timeout=\(limits.idleInTransactionTimeout)"),
            ("application_name", "acme"),
            // A peer that vanishes without a FIN is noticed within about a minute.
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ]
        let keys = settings.map { strdup($0.0) }, values = settings.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        let keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        let valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        BlockingCheck.willWait("connecting to PostgreSQL (libpq)")
        guard let connection = PQconnectdbParams(keyPointers, valuePointers, 1) else {
            throw FleetStoreError(.unreachable, "cannot connect to the store \(url.redacted): libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let reason = Self.oneLine(PQerrorMessage(connection))
            let used = Self.password(of: connection)
            PQfinish(connection)
            throw FleetStoreError(.unreachable, url.scrub("cannot connect to the store \(url.redacted): \(reason); check that PostgreSQL runs there and the connection string's host, port, database, user and password", also: used))
        }
        // Notices ("relation already exists, skipping") are not errors and must not reach
        // stderr unescaped through libpq's default processor: they are dropped.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = connection
    }

    deinit { PQfinish(connection) }

    /// The server process serving this session (`pg_backend_pid()`).
    public var backendPID: Int32 { PQbackendPID(connection) }

    /// Runs one statement with `$1…$n` bound to `parameters`; returns its rows (binary format).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer { buffers.forEach { free($0) } }
        for parameter in parameters {
            switch parameter {
            case .null:
                buffers.append(nil); lengths.append(0); formats.append(0)
            case .int(let value):
                buffers.append(strdup(String(value))); lengths.append(0); formats.append(0)
            case .text(let value):
                guard !value.utf8.contains(0) else {
                    throw FleetStoreError(.corruptRow, "a text value holds a NUL byte, which PostgreSQL text cannot store")
                }
                buffers.append(strdup(value)); lengths.append(0); formats.append(0)
            case .bytes(let value):
                let buffer = malloc(max(1, value.count))!
                value.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: value.count) } }
                buffers.append(buffer.assumingMemoryBound(to: CChar.self)); lengths.append(Int32(value.count)); formats.append(1)
            }
        }
        let pointers = buffers.map { UnsafePointer($0) }
        BlockingCheck.willWait("a PostgreSQL statement (libpq)")
        let sent = PQsendQueryParams(connection, sql, Int32(parameters.count), nil, pointers, lengths, formats, 1)
        guard sent == 1 else { throw connectionError("cannot send a statement to") }
        // Row by row, so a huge result is refused after maxResultBytes instead of filling memory.
        guard PQsetSingleRowMode(connection) == 1 else { throw connectionError("cannot read rows one at a time from") }
        var rows: [SQLRow] = []
        var total = 0
        var failure: FleetStoreError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_SINGLE_TUPLE:
                guard failure == nil else { continue }
                let columns = PQnfields(result)
                var fields: [[UInt8]?] = []
                fields.reserveCapacity(Int(columns))
                for column in 0..<columns {
                    if PQgetisnull(result, 0, column) == 1 { fields.append(nil); continue }
                    let length = Int(PQgetlength(result, 0, column))
                    total += length
                    let start = UnsafeRawPointer(PQgetvalue(result, 0, column)!)
                    fields.append(Array(UnsafeRawBufferPointer(start: start, count: length)))
                }
                rows.append(SQLRow(fields: fields))
                if total > limits.maxResultBytes || rows.count > limits.maxRows {
                    failure = FleetStoreError(.resultTooLarge, "the store \(url.redacted) returned more than \(limits.maxResultBytes >> 20) MiB or \(limits.maxRows) rows for one statement; is this an acme store?")
                    rows = []
                }
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                continue
            default:
                if failure == nil { failure = statementError(result) }
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        let value: T
        do {
            value = try body()
        } catch {
            // The body's error is the one to report; a failed rollback (the connection is gone)
            // leaves nothing behind either, because the server drops an unfinished transaction.
            _ = try? execute("ROLLBACK")
            throw error
        }
        try execute("COMMIT")
        return value
    }

    // MARK: - LISTEN / NOTIFY

    /// Starts listening on `channel` (a plain identifier chosen by acme, never user input).
    public func listen(_ channel: String) throws {
        try Self.requireIdentifier(channel)
        try execute("LISTEN \(channel)")
    }

    /// Sends `payload` (at most 7,999 bytes, PostgreSQL's bound) to the listeners of `channel`;
    /// delivered when the current transaction commits.
    public func notify(_ channel: String, payload: String) throws {
        try Self.requireIdentifier(channel)
        try execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// The next notification, waiting at most `timeout` seconds; nil when none came.
    public func nextNotification(timeout: Double) throws -> StoreNotification? {
        BlockingCheck.willWait("a PostgreSQL notification (poll)")
        let deadline = Self.now() + max(0, timeout)
        while true {
            guard PQconsumeInput(connection) == 1 else { throw connectionError("lost the connection to") }
            if let notice = PQnotifies(connection) {
                defer { PQfreemem(notice) }
                return StoreNotification(channel: String(cString: notice.pointee.relname),
                                         payload: notice.pointee.extra.map { String(cString: $0) } ?? "",
                                         senderPID: notice.pointee.be_pid)
            }
            let left = deadline - Self.now()
            guard left > 0 else { return nil }
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            guard descriptor.fd >= 0 else { throw connectionError("lost the connection to") }
            let ready = poll(&descriptor, 1, Int32(min(left * 1000, 600_000).rounded(.up)))
            if ready < 0 && errno != EINTR { throw FleetStoreError(.unreachable, "cannot wait for notifications from the store \(url.redacted): \(FS.errorText())") }
        }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func requireIdentifier(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f }),
              !(0x30...0x39).contains(bytes[0]) else {
            throw FleetStoreError(.invalidURL, "\"\(name)\" is not a channel name acme uses (lower-case letters, digits, _)")
        }
    }

    // MARK: - Errors

    private func connectionError(_ what: String) -> FleetStoreError {
        FleetStoreError(.unreachable, url.scrub("\(what) the store \(url.redacted): \(Self.oneLine(PQerrorMessage(connection))); check that PostgreSQL runs there and can be reached",
                                           also: Self.password(of: connection)))
    }

    private func statementError(_ result: OpaquePointer) -> FleetStoreError {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let reason = Self.oneLine(PQresultErrorMessage(result))
        if PQstatus(connection) != CONNECTION_OK || state.hasPrefix("08") || state.hasPrefix("57P") {
            return FleetStoreError(.unreachable, url.scrub("lost the connection to the store \(url.redacted): \(reason)", also: Self.password(of: connection)))
        }
        if state == "57014" || state == "55P03" {
            return FleetStoreError(.timeout, url.scrub("the store \(url.redacted) did not finish a statement in time (\(reason)); is another node holding a lock, or the server overloaded?", also: Self.password(of: connection)))
        }
        return FleetStoreError(.queryFailed, url.scrub("the store \(url.redacted) refused a statement: \(reason) (SQLSTATE \(state)); check the database user's privileges", also: Self.password(of: connection)))
    }

    /// The password libpq used or would use, wherever it took it from (the connection string,
    /// `PGPASSWORD`, `.pgpass`, a service file): never shown either.
    static func password(of connection: OpaquePointer) -> [String] {
        PQpass(connection).map { [String(cString: $0)] } ?? []
    }

    /// libpq's multi-line messages as one line.
    static func oneLine(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        let lines = String(cString: text).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
        return lines.isEmpty ? "unknown error" : lines.joined(separator: "; ")
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
