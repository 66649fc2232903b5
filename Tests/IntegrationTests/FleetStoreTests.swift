import Foundation
import TestFixtures
import Testing

/// `acme store import` and `acme store export` on layouts written by the real certbot and by
/// `acme issue`/`acme renew` against Pebble, with a real PostgreSQL 15: what comes back is the
/// layout that went in, byte for byte, and certbot and acme read it.
@Suite("fleet store: import and export of certbot's and acme's layouts", .serialized, .integration)
struct FleetStoreInteropTests {
    @Test("a layout made by certbot (two lineages, a renewal, its account) comes back byte for byte and certbot reads it")
    func certbotLayout() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-certbot")
        let dir = base + "/le"
        let standalone = ["--server", pebble.directoryURL, "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1",
                          "--agree-tos", "--register-unsafely-without-email"]
        let rsa = try certbot(["certonly", "--standalone", "-d", "cb.example.test", "-d", "mx.example.test", "--key-type", "rsa"] + standalone,
                              pebble: pebble, configDir: dir)
        #expect(rsa.status == 0, "certbot certonly: \(rsa.output)")
        let ec = try certbot(["certonly", "--standalone", "-d", "ec.example.test", "--key-type", "ecdsa"] + standalone, pebble: pebble, configDir: dir)
        #expect(ec.status == 0, "certbot certonly: \(ec.output)")
        let renewed = try certbot(["renew", "--cert-name", "cb.example.test", "--force-renewal", "--no-random-sleep-on-renew"], pebble: pebble, configDir: dir)
        #expect(renewed.status == 0, "certbot renew: \(renewed.output)")

        let imported = try run(TestSupport.acmeBinary, ["store", "import", "--config-dir", dir, "--store", url])
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.stdout.contains("imported 2 lineages (3 new versions, 0 already stored) and 1 accounts"), "\(imported.output)")
        let original = try storeLayoutSnapshot(dir)
        #expect(original["archive/cb.example.test/privkey2.pem"]?.hasPrefix("file 600 ") == true, "\(original.keys.sorted())")
        #expect(original.keys.contains { $0.hasPrefix("accounts/localhost:\(pebble.acmePort)/dir/") && $0.hasSuffix("/private_key.json") })

        try expectRoundTrip(url: url, original: original, dir: dir, base: base, keyArguments: [])
        let listed = try certbot(["certificates"], pebble: pebble, configDir: dir)
        #expect(listed.stdout.contains("Certificate Name: cb.example.test") && listed.stdout.contains("Certificate Name: ec.example.test")
                && !listed.stdout.contains("INVALID"), "certbot on the exported layout: \(listed.output)")
    }

    @Test("a layout made by acme issue and renew, imported with --store-key, comes back byte for byte and acme reads it")
    func acmeLayoutEncrypted() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-acme")
        let dir = base + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "mail.example.test", "-d", "smtp.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir, "--ca-bundle", pebble.caBundle])
        #expect(renewed.status == 0, "\(renewed.output)")
        let key = base + "/store.key"
        let made = try run("/bin/sh", ["-c", "umask 077; openssl rand -base64 32 > \(key)"])
        #expect(made.status == 0, "\(made.output)")

        let imported = try run(TestSupport.acmeBinary, ["store", "import", "--config-dir", dir, "--store", url, "--store-key", key])
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.stdout.contains("imported 1 lineages (2 new versions, 0 already stored) and 1 accounts"), "\(imported.output)")
        let clear = try server.psql("""
            SELECT count(*) FROM acme_versions WHERE position('PRIVATE KEY'::bytea IN privkey) > 0
            """, database: "fleet")
        #expect(clear.hasPrefix("0"), "a private key is stored in clear")
        let again = try run(TestSupport.acmeBinary, ["store", "import", "--config-dir", dir, "--store", url, "--store-key", key])
        #expect(again.stdout.contains("imported 1 lineages (0 new versions, 2 already stored) and 1 accounts"), "\(again.output)")

        let original = try storeLayoutSnapshot(dir)
        try expectRoundTrip(url: url, original: original, dir: dir, base: base, keyArguments: ["--store-key", key])
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir])
        #expect(listed.status == 0 && listed.stdout.contains("valid"), "acme on the exported layout: \(listed.output)")
        #expect(try RenewTests.consistent(dir, "mail.example.test"))
    }

    /// Export into a new directory (the confs' paths name it, all else equal), then move the
    /// original away and export into its place (equal without rewriting).
    func expectRoundTrip(url: String, original: [String: String], dir: String, base: String, keyArguments: [String]) throws {
        let copy = try run(TestSupport.acmeBinary, ["store", "export", base + "/copy", "--store", url] + keyArguments)
        #expect(copy.status == 0, "\(copy.output)")
        let copied = try storeLayoutSnapshot(base + "/copy", rewriting: (base + "/copy/", dir + "/"))
        #expect(storeDifferences(original, copied).isEmpty, "\(storeDifferences(original, copied))")

        try FileManager.default.moveItem(atPath: dir, toPath: dir + ".orig")
        let back = try run(TestSupport.acmeBinary, ["store", "export", dir, "--store", url] + keyArguments)
        #expect(back.status == 0, "\(back.output)")
        let restored = try storeLayoutSnapshot(dir)
        #expect(storeDifferences(original, restored).isEmpty, "\(storeDifferences(original, restored))")
    }

    @Test("exit codes: no store 64, unreachable 3 (password redacted), newer schema 2, bad key file 2, export over a directory 64")
    func exitCodes() throws {
        let base = try TestSupport.temporaryDirectory("fleet-exit")
        try FileManager.default.createDirectory(atPath: base + "/le", withIntermediateDirectories: true)
        let none = try run(TestSupport.acmeBinary, ["store", "status"], environment: ["ACME_STORE": ""])
        #expect(none.status == 64, "\(none.output)")
        let missing = try run(TestSupport.acmeBinary, ["store", "export", base + "/out"])
        #expect(missing.status == 64 && missing.stderr.contains("--store"), "\(missing.output)")

        let port = TestSupport.freePort()
        let down = try run(TestSupport.acmeBinary, ["store", "import", "--config-dir", base + "/le",
                                                    "--store", "postgresql://acme:TopSecret99@127.0.0.1:\(port)/fleet"])
        #expect(down.status == 3, "\(down.output)")
        #expect(down.stderr.hasPrefix("error: cannot connect to the store postgresql://acme:***@127.0.0.1:\(port)/fleet"), "\(down.output)")
        #expect(!down.output.contains("TopSecret99"))
        #expect(down.stderr.split(separator: "\n").count == 1, "\(down.output)")

        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let initialized = try run(TestSupport.acmeBinary, ["store", "init", "--store", url])
        #expect(initialized.status == 0 && initialized.stdout.contains("schema version 1 (created)"), "\(initialized.output)")
        #expect(!initialized.output.contains(server.password))
        let status = try run(TestSupport.acmeBinary, ["store", "status"], environment: ["ACME_STORE": url])
        #expect(status.status == 0 && status.stdout.contains("schema:     version 1"), "\(status.output)")

        try "c2hvcnQ=\n".write(toFile: base + "/open.key", atomically: true, encoding: .utf8)
        chmod(base + "/open.key", 0o644)
        let badKey = try run(TestSupport.acmeBinary, ["store", "export", base + "/out", "--store", url, "--store-key", base + "/open.key"])
        #expect(badKey.status == 2 && badKey.stderr.contains("chmod 600"), "\(badKey.output)")

        let over = try run(TestSupport.acmeBinary, ["store", "export", base, "--store", url])
        #expect(over.status == 64 && over.stderr.contains("not an empty directory"), "\(over.output)")

        try server.psql("UPDATE acme_schema SET version = 2", database: "fleet")
        let newer = try run(TestSupport.acmeBinary, ["store", "import", "--config-dir", base + "/le", "--store", url])
        #expect(newer.status == 2, "\(newer.output)")
        #expect(newer.stderr.contains("was written by a newer acme (schema version 2; this acme knows up to 1); upgrade acme"), "\(newer.output)")
    }
}

/// Every entry under the certbot-format parts of a layout (live, archive, renewal, accounts):
/// path → kind and mode, and the link target or the content (renewal confs as text, with
/// `rewriting` applied, everything else byte for byte).
func storeLayoutSnapshot(_ root: String, rewriting: (from: String, to: String)? = nil) throws -> [String: String] {
    var result: [String: String] = [:]
    let fm = FileManager.default
    for top in ["live", "archive", "renewal", "accounts"] where fm.fileExists(atPath: root + "/" + top) {
        for item in [""] + (try fm.subpathsOfDirectory(atPath: root + "/" + top)) {
            let path = root + "/" + top + (item.isEmpty ? "" : "/" + item)
            var info = stat()
            guard lstat(path, &info) == 0 else { throw TestFailure("lstat \(path) failed") }
            let mode = String(info.st_mode & 0o7777, radix: 8)
            let key = top + (item.isEmpty ? "" : "/" + item)
            switch info.st_mode & S_IFMT {
            case S_IFLNK: result[key] = "link " + (try fm.destinationOfSymbolicLink(atPath: path))
            case S_IFDIR: result[key] = "dir \(mode)"
            default:
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                if path.hasSuffix(".conf") {
                    let text = String(decoding: data, as: UTF8.self)
                    result[key] = "file \(mode) " + (rewriting.map { text.replacingOccurrences(of: $0.from, with: $0.to) } ?? text)
                } else {
                    result[key] = "file \(mode) " + data.base64EncodedString()
                }
            }
        }
    }
    return result
}

func storeDifferences(_ a: [String: String], _ b: [String: String]) -> [String] {
    Set(a.keys).union(b.keys).sorted().compactMap { key in
        a[key] == b[key] ? nil : "\(key): \(a[key].map { String($0.prefix(70)) } ?? "absent") ≠ \(b[key].map { String($0.prefix(70)) } ?? "absent")"
    }
}
