import Base
import CPostgres
import FleetStore
import TestFixtures
import Testing

/// The store's connection string against libpq's own parser: for every spelling of a password
/// libpq accepts, the password libpq extracts (`PQconninfoParse`, any option it marks "*")
/// appears neither in the store's description nor in the error of a failed connection.
@Suite("store connection strings: redaction follows libpq's grammar")
struct ConnectionStringTests {
    /// Spellings libpq reads with a password; `PORT` is replaced by a closed loopback port.
    static let spellings = [
        "postgresql://acme:Zq7%3F%23x%40y%20Kw9@127.0.0.1:PORT/fleet",       // percent-encoded user info
        "postgresql://acme:Zq7?#x%40y Kw9@127.0.0.1:PORT/fleet",             // raw '?', '#', space in the user info
        "postgresql://acme:Zq7#x?sslmode=disable&Kw9@127.0.0.1:PORT/fleet",  // user info that looks like a query
        "postgres://127.0.0.1:PORT/fleet?user=acme&password=Zq7%26x%3DKw9",   // password as a query parameter
        "postgresql://127.0.0.1:PORT/fleet?user=acme&pass%77ord=Zq7-x-Kw9",  // percent-encoded query key
        "postgresql://acme@127.0.0.1:PORT/fleet?sslmode=disable&sslpassword=Zq7-ssl-Kw9", // another secret parameter
        "postgresql://acme:Zq7-x-Kw9@127.0.0.1:PORT,127.0.0.1:PORT/fleet",   // several hosts
        "host=127.0.0.1 port=PORT dbname=fleet user=acme password='Zq7 x\\'y\\\\Kw9'", // key=value, quoted
        "host=127.0.0.1 port=PORT dbname=fleet user=acme password = Zq7-x-Kw9",        // key = value, spaced
        "host=127.0.0.1 port=PORT dbname=fleet user=acme sslpassword=Zq7-ssl-Kw9",
    ]

    /// What libpq itself parses from `text`: every option value and whether libpq marks it a password.
    static func libpq(_ text: String) -> [(keyword: String, value: String, secret: Bool)]? {
        var message: UnsafeMutablePointer<CChar>?
        let parsed = PQconninfoParse(text, &message)
        if let message { PQfreemem(message) }
        guard let parsed else { return nil }
        defer { PQconninfoFree(parsed) }
        var options: [(String, String, Bool)] = []
        var entry = parsed
        while let keyword = entry.pointee.keyword {
            if let value = entry.pointee.val {
                options.append((String(cString: keyword), String(cString: value), String(cString: entry.pointee.dispchar).contains("*")))
            }
            entry += 1
        }
        return options
    }

    @Test("every spelling: libpq finds a password; description and connection error hold none of it, and name the store", arguments: spellings)
    func spelling(_ template: String) async throws {
        // A loopback port nothing listens on: the connection is refused at once.
        let text = template.split(separator: "PORT", omittingEmptySubsequences: false).joined(separator: String(PostgresServer.freePort()))
        let options = try #require(Self.libpq(text), "libpq parses \(text)")
        let secrets = options.filter(\.secret).map(\.value)
        #expect(!secrets.isEmpty && secrets.allSatisfy { $0.hasPrefix("Zq7") && $0.hasSuffix("Kw9") }, "libpq's passwords: \(secrets)")
        let shown = try StoreURL(text).redacted
        for marker in ["Zq7", "Kw9"] { #expect(!shown.contains(marker), "description: \(shown)") }
        #expect(shown.contains("127.0.0.1") && shown.contains("fleet") && shown.contains("***"), "\(shown)")
        // libpq reads the description as the same store, every password as ***.
        let reread = try #require(Self.libpq(shown), "libpq parses the description \(shown)")
        #expect(reread.map(\.keyword) == options.map(\.keyword), "\(shown)")
        #expect(reread.map { $0.secret ? "***" : $0.value } == options.map { $0.secret ? "***" : $0.value }, "\(shown)")

        let error = await #expect(throws: FleetStoreError.self) { try await onOwnThread(throwing: { _ = try FleetStore.open(url: text, keyFile: nil) }) }
        #expect(error?.code == .unreachable, "\(error?.message ?? "")")
        for marker in ["Zq7", "Kw9"] { #expect(error?.message.contains(marker) == false, "\(error?.message ?? "")") }
        #expect(error?.message.contains(shown) == true, "\(error?.message ?? "")")
    }

    @Test("strings libpq cannot read, or splits a password into host, port or database: refused, nothing of them shown")
    func refused() throws {
        let cases = [
            "postgresql://acme:Zq7/x-Kw9@127.0.0.1/fleet",          // raw '/': libpq reads host acme, port Zq7
            "postgresql://acme:Zq7@x-Kw9@127.0.0.1/fleet",          // raw '@': libpq reads host x-Kw9@127.0.0.1
            "postgresql://acme:1234/Zq7@Kw9/fleet",                 // raw '/' after digits: database Zq7@Kw9/fleet
            "host=db password='Zq7 x-Kw9",                          // unterminated quote
            "host=db password=Zq7-x-Kw9 fleet",                     // a word without '='
            "postgresql://acme:Zq7%zzKw9@db/fleet",                 // bad percent-encoding
            "postgresql://db/fleet?PASSWORD=Zq7-Kw9",               // libpq's keys are case-sensitive
            "Zq7-x-Kw9",                                            // libpq would take it as a database name
        ]
        for text in cases {
            let error = #expect(throws: FleetStoreError.self, "\(text)") { try StoreURL(text) }
            #expect(error?.code == .invalidURL)
            for marker in ["Zq7", "Kw9"] { #expect(error?.message.contains(marker) == false, "\(error?.message ?? "")") }
        }
        let other = #expect(throws: FleetStoreError.self) { try StoreURL("mysql://acme:Zq7-Kw9@db/acme") }
        #expect(other?.message.contains("mysql://") == true && other?.message.contains("Zq7") == false, "\(other?.message ?? "")")
    }
}
