import ACMECrypto
import Base
import CertStore
import FleetStore
import Foundation
import TestFixtures
import Testing

@Suite("fleet store: import, export, encryption at rest", .integration)
struct ImportExportTests {
    /// A key file as the docs say to make it.
    static func keyFile(_ directory: String, name: String = "store.key", mode: mode_t = 0o600) throws -> String {
        let path = directory + "/" + name
        let key = try Random.bytes(32)
        try (Data(key).base64EncodedString() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test("import then export gives the layout back byte for byte: contents, modes, link targets")
    func roundTrip() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("roundtrip")
        try Layouts.make(base + "/le", lineages: 3, versions: 3)
        let original = try layoutSnapshot(base + "/le")
        #expect(original["archive/mail0.example.test/privkey3.pem"]?.hasPrefix("file 600 ") == true)

        let report = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        #expect(report == LayoutImport.Report(lineages: 3, versionsAdded: 9, versionsAlreadyStored: 0, accounts: 1))

        // Into another directory: the renewal confs' paths name the new one, all else is equal.
        let exported = try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/copy")
        #expect(exported == LayoutExport.Report(lineages: 3, versions: 9, accounts: 1))
        let copy = try layoutSnapshot(base + "/copy", rewriting: (base + "/copy/", base + "/le/"))
        #expect(differences(original, copy).isEmpty, "\(differences(original, copy))")

        // Back into the original place: equal without any rewriting.
        try FileManager.default.moveItem(atPath: base + "/le", toPath: base + "/le.orig")
        _ = try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/le")
        let back = try layoutSnapshot(base + "/le")
        #expect(differences(original, back).isEmpty, "\(differences(original, back))")
        // What acme reads of it: every lineage consistent, renewal confs pointing into it.
        let lineages = try LineageStore(configDirectory: base + "/le").allLineages()
        #expect(lineages.count == 3)
        for lineage in lineages {
            #expect(!LineageStore(configDirectory: base + "/le").needsRepair(lineage))
            #expect(try LineageStore(configDirectory: base + "/le").currentVersion(of: lineage) == 3)
        }
    }

    @Test("importing again changes nothing; a version renewed on disk since is added and made current")
    func reimport() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("reimport")
        try Layouts.make(base + "/le", lineages: 2, versions: 1)
        _ = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        let before = try server.psql("SELECT name, current_version, md5(renewal_conf) FROM acme_lineages ORDER BY name", database: "fleet")
        let again = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        #expect(again == LayoutImport.Report(lineages: 2, versionsAdded: 0, versionsAlreadyStored: 2, accounts: 1))
        #expect(try server.psql("SELECT name, current_version, md5(renewal_conf) FROM acme_lineages ORDER BY name", database: "fleet") == before)
        #expect(try server.psql("SELECT count(*) FROM acme_versions", database: "fleet").hasPrefix("2"))

        let store = LineageStore(configDirectory: base + "/le")
        let lineage = try store.existingLineage(named: "mail0.example.test")
        try store.addVersion(to: lineage, files: try Layouts.files("mail0.example.test"), renewalParams: nil, version: "2.1.0")
        let renewed = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        #expect(renewed.versionsAdded == 1 && renewed.versionsAlreadyStored == 2)
        #expect(try server.psql("SELECT current_version FROM acme_lineages WHERE name = 'mail0.example.test'", database: "fleet").hasPrefix("2"))
    }

    @Test("with --store-key no row holds a private key in clear; the same key exports it, another is refused before anything is written")
    func encryption() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("sealed")
        try Layouts.make(base + "/le", lineages: 2, versions: 2)
        let key = try Self.keyFile(base), wrong = try Self.keyFile(base, name: "wrong.key")
        _ = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: key)

        let clear = try server.psql("""
            SELECT (SELECT count(*) FROM acme_versions WHERE position('PRIVATE KEY'::bytea IN privkey) > 0 OR NOT privkey_sealed)
                 + (SELECT count(*) FROM acme_accounts WHERE position('"d"'::bytea IN private_key) > 0 OR NOT key_sealed)
            """, database: "fleet")
        #expect(clear.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "rows hold private keys in clear")
        #expect(try server.psql("SELECT count(*) FROM acme_versions WHERE position('BEGIN CERTIFICATE'::bytea IN cert) > 0", database: "fleet").hasPrefix("4"),
                "certificates are public and stay readable")

        let refused = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: wrong, to: base + "/wrong") }
        #expect(refused?.code == .wrongKey)
        #expect(refused?.message.contains(base + "/wrong.key") == true, "\(refused?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: base + "/wrong"), "a refused export wrote something")

        let missing = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/nokey") }
        #expect(missing?.code == .keyRequired)
        #expect(!FileManager.default.fileExists(atPath: base + "/nokey"))
        let plainImport = #expect(throws: FleetStoreError.self) { try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil) }
        #expect(plainImport?.code == .keyRequired, "unencrypted keys must not be mixed into an encrypted store")
        let wrongImport = #expect(throws: FleetStoreError.self) { try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: wrong) }
        #expect(wrongImport?.code == .wrongKey)

        // A sealed key moved to another row does not open there (the row is authenticated too).
        try server.psql("""
            UPDATE acme_versions SET privkey = (SELECT privkey FROM acme_versions WHERE lineage = 'mail1.example.test' AND version = 1)
            WHERE lineage = 'mail0.example.test' AND version = 1
            """, database: "fleet")
        let swapped = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: key, to: base + "/swapped") }
        #expect(swapped?.code == .wrongKey)
        #expect(!FileManager.default.fileExists(atPath: base + "/swapped"))

        // Without the damaged version, the right key exports everything else byte for byte.
        try server.psql("DELETE FROM acme_versions WHERE lineage = 'mail0.example.test' AND version = 1", database: "fleet")
        let original = try layoutSnapshot(base + "/le")
        _ = try LayoutExport.run(storeURL: url, keyFile: key, to: base + "/copy")
        let copy = try layoutSnapshot(base + "/copy", rewriting: (base + "/copy/", base + "/le/"))
        let expected = original.filter { !$0.key.hasPrefix("archive/mail0.example.test/") || !$0.key.hasSuffix("1.pem") }
        #expect(differences(expected, copy).isEmpty, "\(differences(expected, copy))")
    }

    @Test("a key file readable by others, or not 32 bytes of base64, is refused naming the fix")
    func keyFiles() throws {
        let base = try Layouts.temporaryDirectory("keyfile")
        let open = try Self.keyFile(base, name: "open.key", mode: 0o644)
        let error = #expect(throws: FleetStoreError.self) { try StoreKey(file: open) }
        #expect(error?.code == .badKeyFile)
        #expect(error?.message.contains("chmod 600 \(open)") == true, "\(error?.message ?? "")")
        try "not base64 at all!\n".write(toFile: base + "/bad.key", atomically: true, encoding: .utf8)
        chmod(base + "/bad.key", 0o600)
        #expect((#expect(throws: FleetStoreError.self) { try StoreKey(file: base + "/bad.key") })?.code == .badKeyFile)
        try (Data(repeating: 7, count: 16).base64EncodedString()).write(toFile: base + "/short.key", atomically: true, encoding: .utf8)
        chmod(base + "/short.key", 0o600)
        #expect((#expect(throws: FleetStoreError.self) { try StoreKey(file: base + "/short.key") })?.code == .badKeyFile)
        #expect(throws: Never.self) { try StoreKey(file: try Self.keyFile(base, mode: 0o400)) }
    }

    @Test("hostile layouts are refused naming the file: links out of the tree, interrupted runs, special files")
    func hostileLayouts() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("hostile")

        func layout(_ label: String, _ damage: (String) throws -> Void) throws -> FleetStoreError? {
            let dir = base + "/" + label
            try Layouts.make(dir, lineages: 1, versions: 2)
            try damage(dir)
            return #expect(throws: FleetStoreError.self) { try LayoutImport.run(configDirectory: dir, storeURL: url, keyFile: nil) }
        }
        let name = "mail0.example.test"
        let outside = try layout("outside") { dir in
            unlink(dir + "/live/\(name)/privkey.pem")
            symlink("/etc/shadow", dir + "/live/\(name)/privkey.pem")
        }
        #expect(outside?.code == .badLayout && outside?.message.contains("live/\(name)/privkey.pem") == true, "\(outside?.message ?? "")")
        let linked = try layout("linked") { dir in
            unlink(dir + "/archive/\(name)/privkey2.pem")
            symlink("/etc/shadow", dir + "/archive/\(name)/privkey2.pem")
        }
        #expect(linked?.code == .badLayout && linked?.message.contains("symbolic link") == true, "\(linked?.message ?? "")")
        let fifo = try layout("fifo") { dir in
            unlink(dir + "/archive/\(name)/chain1.pem")
            mkfifo(dir + "/archive/\(name)/chain1.pem", 0o644)
        }
        #expect(fifo?.code == .badLayout && fifo?.message.contains("chain1.pem") == true, "\(fifo?.message ?? "")")
        let interrupted = try layout("interrupted") { dir in
            #expect(FileManager.default.createFile(atPath: dir + "/archive/\(name)/.acme-changing", contents: nil))
        }
        #expect(interrupted?.code == .badLayout && interrupted?.message.contains("interrupted") == true)
        let incomplete = try layout("incomplete") { dir in unlink(dir + "/archive/\(name)/fullchain1.pem") }
        #expect(incomplete?.code == .badLayout && incomplete?.message.contains("fullchain1.pem is missing") == true)
        let accountLink = try layout("accountlink") { dir in
            try FileManager.default.createDirectory(atPath: base + "/elsewhere", withIntermediateDirectories: true)
            symlink(base + "/elsewhere", dir + "/accounts/evil")
        }
        #expect(accountLink?.code == .badLayout && accountLink?.message.contains("accounts/evil") == true)
        #expect(try server.psql("SELECT count(*) FROM acme_lineages", database: "fleet").hasPrefix("0"), "a refused import stored something")
    }

    @Test("database content is untrusted: a name that would leave the export directory is refused before writing")
    func hostileRows() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("hostile-rows")
        try Layouts.make(base + "/le", lineages: 1, versions: 1)
        _ = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        try server.psql("UPDATE acme_accounts SET id = '..'", database: "fleet")
        let dots = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/out") }
        #expect(dots?.code == .corruptRow)
        try server.psql("UPDATE acme_accounts SET id = 'ok', server_path = 'ca.test/../../../etc'", database: "fleet")
        let path = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/out") }
        #expect(path?.code == .corruptRow)
        try server.psql("UPDATE acme_accounts SET server_path = 'ca.test/dir'; UPDATE acme_lineages SET current_version = 7", database: "fleet")
        let current = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/out") }
        #expect(current?.code == .corruptRow)
        #expect(!FileManager.default.fileExists(atPath: base + "/out"))

        try FileManager.default.createDirectory(atPath: base + "/full/x", withIntermediateDirectories: true)
        let full = #expect(throws: FleetStoreError.self) { try LayoutExport.run(storeURL: url, keyFile: nil, to: base + "/full") }
        #expect(full?.code == .exportTargetExists)
    }

    @Test("a lineage head whose version number is out of range (its CHECK dropped) is left out and named, not synced")
    func versionOutOfRange() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try Layouts.temporaryDirectory("hostile-version")
        try Layouts.make(base + "/le", lineages: 1, versions: 1)
        _ = try LayoutImport.run(configDirectory: base + "/le", storeURL: url, keyFile: nil)
        try server.psql("""
            ALTER TABLE acme_lineages DROP CONSTRAINT acme_lineages_current_version_check;
            ALTER TABLE acme_versions DROP CONSTRAINT acme_versions_version_check;
            UPDATE acme_versions SET version = 2147483647; UPDATE acme_lineages SET current_version = 2147483647
            """, database: "fleet")
        let found = try FleetStore.open(url: url, keyFile: nil).lineageHeads()
        #expect(found.heads.isEmpty && found.refused.count == 1, "\(found)")
        #expect(found.refused.first?.contains("has version 2147483647, outside 1…999999") == true, "\(found.refused)")
    }
}
