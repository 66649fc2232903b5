import ACMECrypto
import Base
import CertStore
import FleetStore
import Foundation
import TestFixtures
import Testing

/// The store against a real PostgreSQL 15 (started per test on a loopback port).
@Suite("fleet store: connection, schema, encryption, import and export", .integration)
struct StoreTests {
    @Test("the tables are created once; opening again migrates nothing and keeps the version row")
    func schemaIdempotent() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let first = try FleetStore.open(url: url, keyFile: nil)
        #expect(first.foundSchemaVersion == nil)
        let second = try FleetStore.open(url: url, keyFile: nil)
        #expect(second.foundSchemaVersion == StoreSchema.latest)
        let tables = try server.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'acme_%'", database: "fleet")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines)
                == "acme_accounts,acme_ari,acme_challenges,acme_lineages,acme_schema,acme_settings,acme_versions")
        #expect(try server.psql("SELECT count(*), max(version) FROM acme_schema", database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines) == "1|\(StoreSchema.latest)")
    }

    @Test("a store written by a newer schema is refused with one line, and left as it is")
    func newerSchemaRefused() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        _ = try FleetStore.open(url: url, keyFile: nil)
        try server.psql("UPDATE acme_schema SET version = 99", database: "fleet")
        let error = #expect(throws: FleetStoreError.self) { try FleetStore.open(url: url, keyFile: nil) }
        #expect(error?.code == .newerSchema)
        #expect(error?.message.contains("newer acme (schema version 99; this acme knows up to \(StoreSchema.latest))") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
        #expect(error?.message.contains(server.password) == false)
        let status = #expect(throws: FleetStoreError.self) { try FleetStore.status(url: url) }
        #expect(status?.code == .newerSchema)
        #expect(try server.psql("SELECT version FROM acme_schema", database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines) == "99")
    }

    @Test("an unreachable database is a network error whose message never holds the password")
    func unreachableRedacted() throws {
        let port = PostgresServer.freePort()
        let password = "s3cr%40t-pw"
        let error = #expect(throws: FleetStoreError.self) {
            try FleetStore.open(url: "postgresql://acme:\(password)@127.0.0.1:\(port)/fleet?connect_timeout=3", keyFile: nil)
        }
        #expect(error?.code == .unreachable)
        #expect(error?.category == .network)
        #expect(error?.message.contains("postgresql://acme:***@127.0.0.1:\(port)/fleet") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cr") == false, "\(error?.message ?? "")")

        // A wrong password against a running server: refused, and the password is not echoed either.
        let server = try PostgresServer()
        let wrong = "postgresql://acme:Wr0ngPassw0rd@127.0.0.1:\(server.port)/postgres"
        let refused = #expect(throws: FleetStoreError.self) { try FleetStore.open(url: wrong, keyFile: nil) }
        #expect(refused?.code == .unreachable)
        #expect(refused?.message.contains("Wr0ngPassw0rd") == false, "\(refused?.message ?? "")")
        #expect(refused?.message.contains("password authentication failed") == true, "\(refused?.message ?? "")")
    }

    @Test("URLs are shown with every password as ***")
    func redaction() throws {
        #expect(try StoreURL("postgresql://u:p%40ss@db:5432/acme?sslmode=require").redacted == "postgresql://u:***@db:5432/acme?sslmode=require")
        #expect(try StoreURL("postgres://db/acme?user=u&password=hunter2&sslmode=verify-full").redacted
                == "postgres://u:***@db/acme?sslmode=verify-full")
        #expect(try StoreURL("postgresql://u@db/acme").redacted == "postgresql://u@db/acme")
        // key=value settings, as libpq reads them, are shown in that form.
        #expect(try StoreURL("host=db password=hunter2 dbname='my db'").redacted == "password=*** dbname='my db' host=db")
        #expect(try StoreURL("host=db dbname='a\u{202E}b'").redacted == "dbname='a\\u{202e}b' host=db")
        // Another scheme's URL given by mistake holds a password too: only its scheme is named.
        let other = #expect(throws: FleetStoreError.self) { try StoreURL("mysql://acme:s3cret@db/acme") }
        #expect(other?.code == .invalidURL)
        #expect(other?.message.contains("s3cret") == false && other?.message.contains("mysql://") == true, "\(other?.message ?? "")")
    }

    @Test("results are bounded: a result over the limit is refused, not read into memory")
    func resultBound() throws {
        let server = try PostgresServer()
        var limits = PostgresConnection.Limits()
        limits.maxResultBytes = 1 << 20
        let connection = try PostgresConnection(url: try StoreURL(server.url()), limits: limits)
        let error = #expect(throws: FleetStoreError.self) { try connection.execute("SELECT repeat('x', 1000) FROM generate_series(1, 5000)") }
        #expect(error?.code == .resultTooLarge)
        // The connection is still usable afterwards.
        #expect(try connection.execute("SELECT 41 + $1::int", [.int(1)]).first?.int(0) == 42)
        // Bytes go both ways unchanged, NUL and high bytes included.
        let bytes: [UInt8] = Array(0...255)
        #expect(try connection.execute("SELECT $1::bytea", [.bytes(bytes)]).first?.bytes(0) == bytes)
    }

    @Test("a statement past statement_timeout is a timeout error")
    func statementTimeout() throws {
        let server = try PostgresServer()
        var limits = PostgresConnection.Limits()
        limits.statementTimeout = 300
        let connection = try PostgresConnection(url: try StoreURL(server.url()), limits: limits)
        let error = #expect(throws: FleetStoreError.self) { try connection.execute("SELECT pg_sleep(5)") }
        #expect(error?.code == .timeout)
        #expect(error?.category == .network)
    }
}


extension StoreTests {
    @Test("export creates no tables: a database without acme's tables is refused, naming acme store init")
    func exportNeedsInitializedStore() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("empty")
        let base = try Layouts.temporaryDirectory("export-empty")
        let error = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/out") }
        #expect(error?.code == .notInitialized)
        #expect(error?.message.contains("acme store init") == true)
        #expect(try server.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'acme_%'", database: "empty").hasPrefix("0"))
        #expect(!FileManager.default.fileExists(atPath: base + "/out"))
    }
}
