import Base

/// `--store` (or `ACME_STORE`): a libpq connection string, `postgresql://user:password@host:port/db?sslmode=…`
/// or `host=… dbname=… user=… password='…'`, as given to libpq, and the text every message shows
/// instead. That text is rebuilt from what libpq itself parses (`ConnectionString`), never cut out
/// of the input: every option libpq treats as a password is `***`, in whichever spelling it came.
public struct StoreURL: Sendable, CustomStringConvertible {
    /// The connection string as given; only libpq sees it.
    let text: String
    /// The connection string rebuilt from libpq's parse, every password-type option as `***`.
    public let redacted: String
    /// Every password libpq would use from the text (and `PGPASSWORD`): scrubbed from libpq's
    /// own messages too.
    let secrets: [String]

    public init(_ text: String) throws {
        guard !text.isEmpty, text.utf8.count <= 4096, !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw FleetStoreError(.invalidURL, "the store's connection string is empty, longer than 4 KiB or holds control characters; give it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        // libpq reads a text without "=" that is not a URI as a database name: not a store.
        guard let parsed = ConnectionString(text), parsed.form != .keyValue || text.contains("=") else {
            throw FleetStoreError(.invalidURL, "the store's connection string\(Self.kind(of: text)) is not one libpq can read (nothing of it is shown: it may hold a password); give postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, with any '@', '/', ':', '?', '#' or '%' in the user name or password percent-encoded, or key=value settings")
        }
        try Self.check(parsed)
        self.text = text
        self.redacted = parsed.redacted
        let environment = LocalSystem.environment("PGPASSWORD").map { [$0] } ?? []
        self.secrets = (parsed.secrets + environment).filter { !$0.isEmpty }
    }

    public var description: String { redacted }

    /// What libpq accepts but cannot be meant: a host or URI path holding '@' or a port that is
    /// not a number is a password whose '@', '/' or ':' was not percent-encoded, split by libpq
    /// into host, port and database (and shown as such, unredacted, in its messages).
    private static func check(_ parsed: ConnectionString) throws {
        let ports = parsed.value("port")?.split(separator: ",", omittingEmptySubsequences: false) ?? []
        let numeric = ports.allSatisfy { $0.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }
        let at = ["host", "hostaddr", "dbname"].contains { parsed.value($0)?.contains("@") == true }
        guard numeric, !at else {
            throw FleetStoreError(.invalidURL, "the store's connection string has \(numeric ? "a host or database name holding '@'" : "a port that is not a number") (nothing of it is shown: it may hold a password); percent-encode '@', '/' and ':' in the user name and password (%40, %2F, %3A)")
        }
    }

    /// `message` with every password libpq could use (and `extra`, such as the one libpq
    /// took from `PGPASSWORD` or `.pgpass`) replaced by `***`.
    func scrub(_ message: String, also extra: [String] = []) -> String {
        var message = message
        for secret in (secrets + extra).sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            message = message.replacingAll(secret, with: "***")
        }
        return message
    }

    /// " (a mysql:// URL)" for a URL of another scheme, else "": the scheme is the one part of an
    /// unreadable string shown, and only when it is a plain word.
    static func kind(of text: String) -> String {
        guard let end = text.firstRange(of: "://")?.lowerBound, text.distance(from: text.startIndex, to: end) <= 16,
              text[..<end].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+") }), end > text.startIndex else { return "" }
        return " (a \(text[..<end]):// URL)"
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
