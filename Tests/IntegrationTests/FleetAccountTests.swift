import Foundation
import TestFixtures
import Testing

/// `acme account … --store` against real Pebble and real PostgreSQL: the account is the
/// fleet's, changed under the store's account lock by one node at a time.
@Suite("fleet accounts: one registration, one rollover, the key reaches every node", .serialized, .integration)
struct FleetAccountTests {
    final class Fleet {
        let pebble: Pebble
        let server: PostgresServer
        let url: String
        let base: String

        init(_ label: String) throws {
            pebble = try Pebble()
            server = try PostgresServer()
            url = try server.createDatabase("fleet")
            base = try TestSupport.temporaryDirectory(label)
        }

        func configDir(_ node: Int) -> String { base + "/node\(node)/le" }
        func ca(_ node: Int) -> [String] {
            ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", configDir(node)]
        }

        func acme(_ node: Int, _ arguments: [String], store: Bool = true) throws -> RunResult {
            try run(TestSupport.acmeBinary, arguments + ca(node) + (store ? ["--store", url] : []))
        }

        /// `acme certificates|renew --store` on `node`: a sync from the store, no CA.
        func sync(_ node: Int, _ command: String) throws {
            let result = try run(TestSupport.acmeBinary, [command, "--config-dir", configDir(node), "--store", url])
            guard result.status == 0 else { throw TestFailure("acme \(command) --store on node \(node) failed: \(result.output)") }
        }

        /// The account directories of `node` (accounts/<server path>/<id>).
        func accountDirectories(_ node: Int) throws -> [String] {
            let root = configDir(node) + "/accounts/localhost:\(pebble.acmePort)/dir"
            guard FileManager.default.fileExists(atPath: root) else { return [] }
            return try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted().map { root + "/" + $0 }
        }

        func key(_ node: Int) throws -> String {
            let dirs = try accountDirectories(node)
            guard dirs.count == 1 else { throw TestFailure("node \(node) holds \(dirs.count) accounts, not one") }
            return try String(contentsOfFile: dirs[0] + "/private_key.json", encoding: .utf8)
        }

        func storedAccounts() throws -> Int {
            Int(try server.psql("SELECT count(*) FROM acme_accounts", database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }

        /// Holds the account lock of this Pebble (as another node would) until `release`.
        func holdAccountLock() throws -> pid_t {
            let pid = try server.spawnPSQL(["SELECT pg_advisory_lock(\(accountLockKey))", "SELECT pg_sleep(600)"], database: "fleet")
            try waitUntil("the test holds the account lock", timeout: 30) {
                try server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", database: "fleet")
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            }
            return pid
        }

        func release(_ holder: pid_t) throws {
            _ = try server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%' AND pid <> pg_backend_pid()",
                                database: "fleet")
            var status: Int32 = 0
            while waitpid(holder, &status, 0) < 0 && errno == EINTR {}
        }

        /// FNV-1a of "acme:account:" + the directory URL, as AdvisoryLock.account computes it.
        var accountLockKey: Int64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in ("acme:account:" + pebble.directoryURL).utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            return Int64(bitPattern: hash)
        }

        /// Runs `arguments` on nodes 1 and 2 at once while the test holds the account lock, then
        /// releases it once both wait for it: the two runs meet at the lock.
        func raceAtTheLock(_ arguments: [String]) throws -> [(status: Int32, output: String)] {
            let holder = try holdAccountLock()
            var pids: [pid_t] = []
            for node in 1...2 {
                try FileManager.default.createDirectory(atPath: base + "/node\(node)", withIntermediateDirectories: true)
                pids.append(try spawnLogging(TestSupport.acmeBinary, arguments + ca(node) + ["--store", url], log: log(node), append: false))
            }
            do {
                try waitUntil("both nodes wait for the account lock", timeout: 60) {
                    try (1...2).allSatisfy { try String(contentsOfFile: log($0), encoding: .utf8).contains("holds the store's lock of the account") }
                }
            } catch {
                try release(holder)
                for pid in pids { kill(pid, SIGKILL) }
                throw TestFailure("\(error)\n\((1...2).map { (try? String(contentsOfFile: log($0), encoding: .utf8)) ?? "" }.joined(separator: "\n---\n"))")
            }
            try release(holder)
            return try pids.enumerated().map { index, pid in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return (code, try String(contentsOfFile: log(index + 1), encoding: .utf8))
            }
        }

        func log(_ node: Int) -> String { base + "/node\(node)/run.log" }

        func stop() { pebble.stop(); server.stop() }
    }

    @Test("two nodes register at the same time: one registration, both hold the same account, the store one row")
    func concurrentRegistration() throws {
        let fleet = try Fleet("fleet-account-register")
        defer { fleet.stop() }
        let runs = try fleet.raceAtTheLock(["account", "register", "--agree-tos", "--email", "admin@example.test"])
        for run in runs { #expect(run.status == 0, "\(run.output)") }
        let urls = runs.compactMap { run in run.output.split(separator: "\n").first { $0.hasPrefix("account: https://") }.map(String.init) }
        #expect(urls.count == 2 && Set(urls).count == 1, "both nodes print the same account URL: \(runs.map(\.output))")
        #expect(runs.filter { $0.output.split(separator: "\n").contains { $0.hasPrefix("registered account") } }.count == 1, "exactly one registration at the CA: \(runs.map(\.output))")
        #expect(runs.filter { $0.output.contains("another node registered account") }.count == 1, "\(runs.map(\.output))")
        #expect(try fleet.storedAccounts() == 1)
        #expect(try fleet.key(1) == fleet.key(2), "both nodes hold the same account key")
    }

    @Test("key rollover on node 1: node 2 takes the new key at its next sync (0400), signs with it; the old key is refused")
    func rolloverReachesOtherNodes() throws {
        let fleet = try Fleet("fleet-account-roll")
        defer { fleet.stop() }
        let registered = try fleet.acme(1, ["account", "register", "--agree-tos"])
        #expect(registered.status == 0, "\(registered.output)")
        // Node 2 gets the account from the store.
        try fleet.sync(2, "certificates")
        let old = try fleet.key(2)
        #expect(try fleet.key(1) == old)
        // A node that keeps the old key (a copy of node 2's account as it is now).
        let node3Account = fleet.configDir(3) + "/accounts/localhost:\(fleet.pebble.acmePort)/dir"
        try FileManager.default.createDirectory(atPath: node3Account, withIntermediateDirectories: true)
        let oldDirectory = try #require(try fleet.accountDirectories(2).first)
        try FileManager.default.copyItem(atPath: oldDirectory, toPath: node3Account + "/" + URL(fileURLWithPath: oldDirectory).lastPathComponent)

        let rolled = try fleet.acme(1, ["account", "key-rollover", "--account-key-type", "ec256"])
        #expect(rolled.status == 0, "\(rolled.output)")
        #expect(rolled.stdout.contains("published to the store"), "\(rolled.output)")
        let new = try fleet.key(1)
        #expect(new != old)
        #expect(try fleet.accountDirectories(1).allSatisfy { !FileManager.default.fileExists(atPath: $0 + "/.acme-key-unpublished") })

        try fleet.sync(2, "renew")
        #expect(try fleet.key(2) == new, "node 2 holds the rolled key after its sync")
        let directory = try #require(try fleet.accountDirectories(2).first)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: directory + "/private_key.json")[.posixPermissions] as? Int)
        #expect(mode == 0o400)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { !$0.contains(".tmp") })

        // The CA knows the account by the new key only.
        let shown = try fleet.acme(2, ["account", "show"], store: false)
        #expect(shown.status == 0 && shown.stdout.contains("status:   valid"), "\(shown.output)")
        let stale = try fleet.acme(3, ["account", "show"], store: false)
        #expect(stale.status != 0, "the old key must be refused: \(stale.output)")
        // Node 2 issues with the new key.
        let issued = try fleet.acme(2, ["issue", "-d", "mail.example.test", "--agree-tos", "--http-01-port", String(fleet.pebble.httpPort),
                                        "--http-01-address", "127.0.0.1"])
        #expect(issued.status == 0, "\(issued.output)")
    }

    @Test("two nodes roll the key at the same time: one rollover, the other says another node did it; both end with the same key")
    func concurrentRollover() throws {
        let fleet = try Fleet("fleet-account-roll2")
        defer { fleet.stop() }
        let registered = try fleet.acme(1, ["account", "register", "--agree-tos"])
        #expect(registered.status == 0, "\(registered.output)")
        try fleet.sync(2, "certificates")
        let old = try fleet.key(1)

        let runs = try fleet.raceAtTheLock(["account", "key-rollover"])
        for run in runs { #expect(run.status == 0, "\(run.output)") }
        #expect(runs.filter { $0.output.contains("now signs with a new") }.count == 1, "exactly one rollover: \(runs.map(\.output))")
        #expect(runs.filter { $0.output.contains("another node rolled its key meanwhile") }.count == 1, "\(runs.map(\.output))")
        let new = try fleet.key(1)
        #expect(new != old)
        #expect(try fleet.key(2) == new)
        #expect(try fleet.storedAccounts() == 1)
        let shown = try fleet.acme(2, ["account", "show"], store: false)
        #expect(shown.status == 0, "\(shown.output)")
    }

    @Test("a rollover the CA took but the store did not (crash, store down): sync keeps this node's new key; register --store publishes it to the others")
    func unpublishedRollover() throws {
        let fleet = try Fleet("fleet-account-unpublished")
        defer { fleet.stop() }
        #expect(try fleet.acme(1, ["account", "register", "--agree-tos"]).status == 0)
        try fleet.sync(2, "certificates")
        let old = try fleet.key(1)
        // The state a key-rollover --store leaves when it dies after the CA's switch, before the
        // publish: the new key on disk, the mark beside it, the store's key the old one.
        let directory = try #require(try fleet.accountDirectories(1).first)
        #expect(FileManager.default.createFile(atPath: directory + "/.acme-key-unpublished", contents: Data()), "cannot write the mark in \(directory)")
        let rolled = try fleet.acme(1, ["account", "key-rollover"], store: false)
        #expect(rolled.status == 0, "\(rolled.output)")
        let new = try fleet.key(1)
        #expect(new != old)

        try fleet.sync(1, "certificates")
        #expect(try fleet.key(1) == new, "the sync must not put the store's older key back")
        let published = try fleet.acme(1, ["account", "register", "--agree-tos"])
        #expect(published.status == 0, "\(published.output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/.acme-key-unpublished"))
        try fleet.sync(2, "certificates")
        #expect(try fleet.key(2) == new)
        let shown = try fleet.acme(2, ["account", "show"], store: false)
        #expect(shown.status == 0, "\(shown.output)")
    }

    @Test("deactivate --store: deactivated at the CA, gone locally and from the store; a new node gets no account")
    func deactivate() throws {
        let fleet = try Fleet("fleet-account-deactivate")
        defer { fleet.stop() }
        #expect(try fleet.acme(1, ["account", "register", "--agree-tos"]).status == 0)
        #expect(try fleet.storedAccounts() == 1)
        let deactivated = try fleet.acme(1, ["account", "deactivate", "--yes"])
        #expect(deactivated.status == 0 && deactivated.stdout.contains("is deactivated"), "\(deactivated.output)")
        #expect(try fleet.storedAccounts() == 0)
        #expect(try fleet.accountDirectories(1).isEmpty)
        try fleet.sync(3, "certificates")
        #expect(try fleet.accountDirectories(3).isEmpty)
    }

    @Test("store unreachable: exit 3, the password redacted, nothing changed on the node")
    func storeUnreachable() throws {
        let pebble = try Pebble()
        defer { pebble.stop() }
        let base = try TestSupport.temporaryDirectory("fleet-account-down")
        let le = base + "/le"
        let ca = ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", le]
        let port = TestSupport.freePort()
        let store = ["--store", "postgresql://acme:TopSecret99@127.0.0.1:\(port)/fleet"]

        let register = try run(TestSupport.acmeBinary, ["account", "register", "--agree-tos"] + ca + store)
        #expect(register.status == 3, "\(register.output)")
        #expect(register.stderr.contains("postgresql://acme:***@127.0.0.1:\(port)/fleet"), "\(register.output)")
        #expect(!register.output.contains("TopSecret99"))
        #expect(!FileManager.default.fileExists(atPath: le + "/accounts"), "no account registered without the store")

        let local = try run(TestSupport.acmeBinary, ["account", "register", "--agree-tos"] + ca)
        #expect(local.status == 0, "\(local.output)")
        let keyPath = try #require(FileManager.default.enumerator(atPath: le + "/accounts")?.compactMap { $0 as? String }.first { $0.hasSuffix("private_key.json") })
        let before = try String(contentsOfFile: le + "/accounts/" + keyPath, encoding: .utf8)
        let roll = try run(TestSupport.acmeBinary, ["account", "key-rollover"] + ca + store)
        #expect(roll.status == 3, "\(roll.output)")
        #expect(!roll.output.contains("TopSecret99"))
        #expect(try String(contentsOfFile: le + "/accounts/" + keyPath, encoding: .utf8) == before, "the key is unchanged")
        let shown = try run(TestSupport.acmeBinary, ["account", "show"] + ca)
        #expect(shown.status == 0, "the CA still knows the old key: \(shown.output)")
    }
}
