import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// Fleet mode end to end: real PostgreSQL 15, the ACME double (short lifetimes, ARI, a slow
/// finalize on demand; it logs every request, so orders are counted at the CA), several
/// `acme daemon --store` nodes with separate config directories.
@Suite("fleet nodes: one renewer, every node installs, faults", .serialized, .integration)
struct FleetNodeTests {
    let name = "mail.example.test"

    final class Fleet {
        let double: ACMEDouble
        let server: PostgresServer
        let url: String
        let base: String
        var daemons: [Int: DaemonProcess] = [:]

        init(_ label: String) throws {
            double = try ACMEDouble()
            server = try PostgresServer()
            url = try server.createDatabase("fleet")
            base = try TestSupport.temporaryDirectory(label)
        }

        func configDir(_ node: Int) -> String { base + "/node\(node)/le" }
        func alerts(_ node: Int) -> String { base + "/node\(node)/alerts" }

        var caArguments: [String] { ["--server", double.directoryURL, "--ca-bundle", double.caBundle, "--agree-tos"] }

        /// `acme issue --store` on `node`.
        func issue(on node: Int, _ names: [String]) throws {
            let result = try run(TestSupport.acmeBinary, ["issue"] + names.flatMap { ["-d", $0] } + caArguments
                                 + ["--config-dir", configDir(node), "--http-01-port", String(TestSupport.freePort()), "--store", url])
            guard result.status == 0 else { throw TestFailure("acme issue --store on node \(node) failed: \(result.output)") }
        }

        func start(_ node: Int, retryDelay: Int = 2, interval: Int = 5) throws {
            try FileManager.default.createDirectory(atPath: base + "/node\(node)", withIntermediateDirectories: true)
            daemons[node] = try DaemonProcess(["--no-provision", "--verbose", "--config-dir", configDir(node), "--ca-bundle", double.caBundle,
                                               "--store", url, "--retry-delay", String(retryDelay), "--interval", String(interval),
                                               "--alert-command", alertRecorder(alerts(node))],
                                              log: base + "/node\(node)/daemon.log")
        }

        /// The orders the CA received (POST /order).
        func orders() throws -> Int { try double.requests().filter { ($0["path"] as? String) == "/order" }.count }
        func finalizes() throws -> Int { try double.requests(to: "/finalize/").count }

        func serial(_ node: Int, _ lineage: String = "mail.example.test") -> String? {
            (try? liveLeaf(configDir(node), lineage))?.serialHex
        }

        func logs() -> String {
            daemons.sorted { $0.key < $1.key }.map { "--- node \($0.key)\n\($0.value.log.suffix(2500))" }.joined(separator: "\n")
        }

        /// waitUntil, with the nodes' logs in the failure.
        func wait(_ what: String, timeout: TimeInterval, interval: TimeInterval = 0.2, _ condition: () throws -> Bool) throws {
            do { try waitUntil(what, timeout: timeout, interval: interval, condition) } catch {
                throw TestFailure("\(error)\n\(logs())")
            }
        }

        func stopAll() {
            for daemon in daemons.values where daemon.isRunning { daemon.signal(SIGTERM); _ = daemon.waitForExit(timeout: 5) }
        }
    }

    @Test("three daemons: each renewal of a short-lived certificate is one order at the CA, and all three nodes hold it within seconds")
    func oneRenewerThreeNodes() throws {
        let fleet = try Fleet("fleet-three")
        defer { fleet.stopAll() }
        // 150-second certificates, the ARI window at 20–30 % of each one's life: due 30–45 s after issue, on every node at once.
        try fleet.double.setControl(["lifetime_seconds": 150, "ari_fractions": [0.2, 0.3], "retry_after": 5])
        try fleet.issue(on: 1, [name])
        let first = try #require(fleet.serial(1))
        #expect(try fleet.orders() == 1)
        for node in 1...3 { try fleet.start(node) }
        // Nodes 2 and 3 start with empty config directories: the store gives them the lineage.
        try fleet.wait("every node holds the issued certificate", timeout: 60) { (1...3).allSatisfy { fleet.serial($0) == first } }

        var previous = first
        for round in 1...2 {
            // The next certificate: one node renews (one order), the others install it.
            try fleet.wait("round \(round): a node renews", timeout: 120) { (1...3).contains { fleet.serial($0).map { $0 != previous } ?? false } }
            let renewer = try #require((1...3).first { fleet.serial($0) != previous })
            let next = try #require(fleet.serial(renewer))
            try fleet.wait("round \(round): all three nodes hold \(next)", timeout: 30, interval: 0.02) {
                (1...3).allSatisfy { fleet.serial($0) == next }
            }
            #expect(try fleet.orders() == 1 + round, "one order per renewal, whichever node renews\n\(fleet.logs())")
            previous = next
        }
        #expect(try fleet.finalizes() == 3)
        let stored = try fleet.server.psql("SELECT current_version FROM acme_lineages WHERE name = '\(name)'", database: "fleet")
        #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        // Every node's daemon said it skipped or synced rather than ordering.
        let elsewhere = fleet.daemons.values.map { $0.lines(containing: "being renewed on another node").count + $0.lines(containing: "synced").count }
        #expect(elsewhere.allSatisfy { $0 >= 1 }, "\(fleet.logs())")
    }

    @Test("the renewer is killed with SIGKILL mid-order: its lock goes with its connection, another node completes, no second order for that window")
    func renewerKilledMidOrder() throws {
        let fleet = try Fleet("fleet-kill")
        defer { fleet.stopAll() }
        try fleet.double.setControl(["lifetime_seconds": 600])
        try fleet.issue(on: 1, [name])
        let first = try #require(fleet.serial(1))
        // The window opens now (0–6 s after issue: a window of under a second would be an empty one at the
        // JSON dates' one-second precision, which acme refuses); finalize hangs long enough to kill the node that reached it.
        try fleet.double.setControl(["lifetime_seconds": 600, "ari_fractions": [0.0, 0.01], "retry_after": 5, "finalize_delay": 25])
        for node in 1...3 { try fleet.start(node) }
        var renewer = 0
        try fleet.wait("a node reaches finalize", timeout: 90) {
            // The first issue's finalize, then the renewer's (which hangs).
            guard try fleet.finalizes() == 2 else { return false }
            renewer = (1...3).first { fleet.daemons[$0]!.lines(containing: "finalizing").count > 0 } ?? 0
            return renewer != 0
        }
        let ordersBefore = try fleet.orders()
        #expect(ordersBefore == 2, "the first issue and the renewer's order\n\(fleet.logs())")
        fleet.daemons[renewer]!.signal(SIGKILL)
        #expect(fleet.daemons[renewer]!.waitForExit(timeout: 20) != nil)
        // The first certificate (600 s) stays due (its window 30–36 s after issue); the next one
        // (3600 s) is not due for three minutes, so nothing after it renews in this test.
        try fleet.double.setControl(["lifetime_seconds": 3600, "ari_fractions": [0.05, 0.06], "retry_after": 5, "finalize_delay": 0])
        let others = (1...3).filter { $0 != renewer }
        // Within one retry period (2 s) plus the time of an order on a loaded machine.
        try fleet.wait("another node renews and every surviving node holds it", timeout: 60) {
            let serials = others.map { fleet.serial($0) }
            return serials.allSatisfy { $0 != nil && $0 != first } && Set(serials).count == 1
        }
        // Wait out the killed finalize (the double issues it after its delay) before counting.
        sleep(3)
        #expect(try fleet.orders() == ordersBefore + 1, "exactly one more order, by the node that took the lock\n\(fleet.logs())")
        let stored = try fleet.server.psql("SELECT current_version FROM acme_lineages WHERE name = '\(name)'", database: "fleet")
        #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == "2", "one new version in the store")
        // The killed node's layout is intact (an old version, still a complete lineage).
        let killed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(renewer)])
        #expect(killed.status == 0 || renewer != 1, "\(killed.output)")
    }

    @Test("PostgreSQL stopped for a while: nodes keep their lineages, alert once each, report it in acme status, and recover")
    func storeDown() throws {
        let fleet = try Fleet("fleet-down")
        defer { fleet.stopAll() }
        try fleet.issue(on: 1, [name])
        let first = try #require(fleet.serial(1))
        for node in 1...2 { try fleet.start(node, retryDelay: 1, interval: 2) }
        try fleet.wait("both nodes hold the certificate", timeout: 60) { (1...2).allSatisfy { fleet.serial($0) == first } }
        try fleet.server.pause()
        try fleet.wait("each node alerts", timeout: 60) {
            (1...2).allSatisfy { node in alertLines(fleet.alerts(node)).contains { $0.hasPrefix("open store-unreachable") } }
        }
        // Several looks (backoff from 1 s) later: still one alert per node, the lineages untouched.
        sleep(12)
        for node in 1...2 {
            let lines = alertLines(fleet.alerts(node))
            #expect(lines.filter { $0.hasPrefix("open store-unreachable") }.count == 1, "alerted once: \(lines)")
            #expect(fleet.serial(node) == first, "node \(node) keeps its certificate")
            let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(node)])
            #expect(listed.status == 0 && listed.stdout.contains(name), "\(listed.output)")
            let status = try run(TestSupport.acmeBinary, ["status", "--config-dir", fleet.configDir(node)])
            #expect(status.status == 1 && status.stdout.contains("store-unreachable"), "\(status.output)")
            #expect(fleet.daemons[node]!.isRunning)
        }
        try fleet.server.resume()
        try fleet.wait("each node sees the store again", timeout: 90) {
            (1...2).allSatisfy { node in alertLines(fleet.alerts(node)).contains { $0.hasPrefix("resolved store-unreachable") } }
        }
        for node in 1...2 {
            #expect(alertLines(fleet.alerts(node)).filter { $0.contains("store-unreachable") }.count == 2)
            let status = try run(TestSupport.acmeBinary, ["status", "--config-dir", fleet.configDir(node)])
            #expect(status.status == 0, "\(status.output)")
        }
        #expect(try fleet.orders() == 1, "nothing renewed while the store was down")
    }

    @Test("a node joining later gets every lineage and the account at start; acme certificates --store and provision's sync see them")
    func lateJoiner() throws {
        let fleet = try Fleet("fleet-join")
        defer { fleet.stopAll() }
        try fleet.issue(on: 1, [name])
        try fleet.issue(on: 1, ["mx.example.test", "smtp.example.test"])
        // Issuing what the store holds on another node orders nothing: it takes the store's version.
        try fleet.issue(on: 2, [name])
        #expect(try fleet.orders() == 2)
        #expect(fleet.serial(2) == fleet.serial(1))
        try fleet.start(3)
        try fleet.wait("node 3 holds both lineages", timeout: 60) {
            fleet.serial(3) == fleet.serial(1) && fleet.serial(3, "mx.example.test") == fleet.serial(1, "mx.example.test")
        }
        let accounts = try FileManager.default.subpathsOfDirectory(atPath: fleet.configDir(3) + "/accounts").filter { $0.hasSuffix("private_key.json") }
        #expect(accounts.count == 1)
        let keyPath = fleet.configDir(3) + "/accounts/" + accounts[0]
        let keyMode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(keyMode == 0o400)
        let privkey = try FileManager.default.destinationOfSymbolicLink(atPath: fleet.configDir(3) + "/live/\(name)/privkey.pem")
        let privMode = try FileManager.default.attributesOfItem(atPath: fleet.configDir(3) + "/live/\(name)/" + privkey)[.posixPermissions] as? Int
        #expect(privMode == 0o600)
        // A fourth node that only lists: the sync brings the lineages in first.
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(4), "--store", fleet.url])
        #expect(listed.status == 0 && listed.stdout.contains(name) && listed.stdout.contains("mx.example.test"), "\(listed.output)")
        // certbot-reading tools see a normal layout: the conf names this node's paths.
        let conf = try String(contentsOfFile: fleet.configDir(4) + "/renewal/\(name).conf", encoding: .utf8)
        #expect(conf.contains("archive_dir = \(fleet.configDir(4))/archive/\(name)"), "\(conf)")
        #expect(try fleet.orders() == 2)
    }

    @Test("a node with real Postfix and Dovecot: a version renewed on another node is installed through NOTIFY, reloaded and served on every endpoint within seconds")
    func installsAndServes() throws {
        let fleet = try Fleet("fleet-serve")
        defer { fleet.stopAll() }
        try fleet.issue(on: 1, [name])
        let dir = fleet.base + "/node2"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        let mail = ["--ssl-type", "letsencrypt", "--hostname", name, "--tls-dir", dir + "/tls", "--postfix-dir", postfix.configDir,
                    "--dovecot-dir", dovecot.configDir, "--dms-config", dir + "/dms"]
        // What the container does before its daemons start: the store's lineage, installed.
        let provision = try run(TestSupport.acmeBinary, ["provision"] + mail + ["--config-dir", fleet.configDir(2), "--store", fleet.url])
        #expect(provision.status == 0, "\(provision.output)")
        try postfix.start()
        try dovecot.start()
        let endpoints = ["--verify-ca-file", fleet.double.rootFile, "--verify-timeout", "20",
                         "--endpoint", "smtp://127.0.0.1:\(postfix.smtpPort)", "--endpoint", "imaps://127.0.0.1:\(dovecot.imapsPort)"]
        fleet.daemons[2] = try DaemonProcess(mail + endpoints + ["--config-dir", fleet.configDir(2), "--ca-bundle", fleet.double.caBundle,
                                                                 "--store", fleet.url, "--interval", "300", "--alert-command", alertRecorder(fleet.alerts(2))],
                                             log: dir + "/daemon.log")
        let first = try #require(fleet.serial(1))
        try fleet.wait("node 2 serves the first certificate", timeout: 60) {
            try TLSProbe.connect(port: postfix.smtpPort, starttls: "smtp", caFile: fleet.double.rootFile).leaf?.serialHex == first
        }
        sleep(2)  // the daemon's start round is over; what follows comes only from the NOTIFY
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", fleet.configDir(1), "--store", fleet.url])
        #expect(renewed.status == 0, "\(renewed.output)")
        let next = try #require(fleet.serial(1))
        #expect(next != first)
        let published = Date()
        // --interval 300: only the notification can make this happen within the bound.
        try fleet.wait("node 2 serves the renewed certificate on SMTP and IMAPS", timeout: 60, interval: 0.2) {
            try TLSProbe.connect(port: postfix.smtpPort, starttls: "smtp", caFile: fleet.double.rootFile).leaf?.serialHex == next
                && TLSProbe.connect(port: dovecot.imapsPort, starttls: nil, caFile: fleet.double.rootFile).leaf?.serialHex == next
        }
        let took = Date().timeIntervalSince(published)
        #expect(took < 30, "\(took) s")
        let daemon = fleet.daemons[2]!
        #expect(!daemon.lines(containing: "notified mail.example.test").isEmpty, "\(daemon.log.suffix(3000))")
        try fleet.wait("node 2 logs the verification", timeout: 30) { !daemon.lines(containing: "verified").isEmpty }
        #expect(daemon.lines(containing: "rolled-back").isEmpty, "\(daemon.log.suffix(3000))")
        #expect(try fleet.orders() == 2)
        print("fleet: renewed on node 1, served by node 2's Postfix and Dovecot after \(String(format: "%.2f", took)) s")
    }

    @Test("database content is untrusted: a lineage named to leave the config directory is refused (exit 2), nothing written outside it, the other lineages still synced")
    func hostileRow() throws {
        let fleet = try Fleet("fleet-hostile")
        try fleet.issue(on: 1, [name])
        try fleet.server.psql("""
            INSERT INTO acme_lineages (name, current_version, renewal_conf, config_dir) SELECT '../escape', current_version, renewal_conf, config_dir FROM acme_lineages;
            INSERT INTO acme_versions (lineage, version, cert, chain, fullchain, privkey, privkey_sealed)
                SELECT '../escape', version, cert, chain, fullchain, privkey, privkey_sealed FROM acme_versions WHERE lineage = '\(name)';
            """, database: "fleet")
        let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(2), "--store", fleet.url])
        #expect(listed.status == 2, "\(listed.output)")
        #expect(listed.stderr.contains("unusable lineage name"), "\(listed.output)")
        #expect(!FileManager.default.fileExists(atPath: fleet.base + "/node2/escape"))
        #expect(!FileManager.default.fileExists(atPath: fleet.configDir(2) + "/escape"))
        // One bad row does not stop the fleet: the good lineage is synced all the same.
        #expect(fleet.serial(2) == fleet.serial(1) && fleet.serial(2) != nil, "\(listed.output)")
    }

    @Test("figures: new version to every node's layout (median of 5 forced renewals, 3 nodes), idle cost of a fleet daemon over 60 s")
    func figures() throws {
        let fleet = try Fleet("fleet-figures")
        defer { fleet.stopAll() }
        try fleet.issue(on: 1, [name])
        for node in 1...3 { try fleet.start(node, retryDelay: 60, interval: 60) }
        try fleet.wait("every node holds the certificate", timeout: 60) { (1...3).allSatisfy { fleet.serial($0) == fleet.serial(1) } }
        var latencies: [Double] = []
        for round in 1...5 {
            let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--cert-name", name,
                                                           "--config-dir", fleet.configDir(1), "--store", fleet.url])
            #expect(renewed.status == 0, "\(renewed.output)")
            let next = try #require(fleet.serial(1))
            try fleet.wait("round \(round): all nodes hold \(next)", timeout: 30, interval: 0.05) { (1...3).allSatisfy { fleet.serial($0) == next } }
            let created = try fleet.server.psql("SELECT extract(epoch FROM created_at) FROM acme_versions WHERE lineage = '\(name)' ORDER BY version DESC LIMIT 1",
                                                database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines)
            let published = try #require(Double(created))
            // When each node's live link was made (lstat: the link itself).
            let installed = try (2...3).map { node in
                try #require(try FileManager.default.attributesOfItem(atPath: fleet.configDir(node) + "/live/\(name)/cert.pem")[.modificationDate] as? Date)
            }
            latencies.append(installed.map { $0.timeIntervalSince1970 - published }.max()!)
        }
        let median = latencies.sorted()[latencies.count / 2]
        #expect(median < 5, "\(latencies)")

        // Idle: no lineage due, nothing published; 60 s of three daemons.
        func counters() throws -> (transactions: Int, sessions: Int) {
            let row = try fleet.server.psql("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = 'fleet'", database: "postgres")
            let fields = row.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
            guard fields.count == 2 else { throw TestFailure("pg_stat_database: \(row)") }
            return (fields[0], fields[1])
        }
        sleep(3)
        let cpuStart = (1...3).map { fleet.daemons[$0]!.cpuSeconds ?? 0 }
        let before = try counters()
        sleep(60)
        let after = try counters()
        let cpu = (1...3).map { (fleet.daemons[$0]!.cpuSeconds ?? 0) - cpuStart[$0 - 1] }
        let perNode = Double(after.transactions - before.transactions) / 3
        let sessions = Double(after.sessions - before.sessions) / 3
        print("fleet figures: new version to all 3 nodes, median \(String(format: "%.3f", median)) s of \(latencies.map { String(format: "%.3f", $0) }); idle per node: CPU \(cpu.map { String(format: "%.2f", $0) }) s in 60 s, \(String(format: "%.1f", perNode)) transactions and \(String(format: "%.1f", sessions)) connections per minute (--interval 60)")
        #expect(cpu.allSatisfy { $0 < 3 }, "\(cpu)")
        #expect(perNode < 200, "\(perNode)")
    }

    @Test("acme renew --store --force-renewal on three nodes at once: one order; a store written by a newer schema is refused with exit 2")
    func renewCommandAndNewerSchema() throws {
        let fleet = try Fleet("fleet-renew")
        try fleet.issue(on: 1, [name])
        for node in 2...3 {
            let synced = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(node), "--store", fleet.url])
            #expect(synced.status == 0, "\(synced.output)")
        }
        try fleet.double.setControl(["finalize_delay": 2])
        let runs = try (1...3).map { node in
            try ChildRun(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", fleet.configDir(node), "--store", fleet.url])
        }
        let results = runs.map { $0.wait() }
        for result in results { #expect(result.status == 0, "\(result.output)") }
        #expect(try fleet.orders() == 2, "the issue and one forced renewal: \(results.map(\.output))")
        #expect(results.filter { $0.output.contains("renewed (forced)") }.count == 1, "\(results.map(\.output))")
        // Every node now holds the renewed version (the renewer directly, the others through the sync).
        var listings: [String] = []
        for node in 1...3 {
            let listed = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(node), "--store", fleet.url])
            #expect(listed.status == 0, "\(listed.output)")
            listings.append(listed.output)
        }
        #expect(Set((1...3).map { fleet.serial($0) }).count == 1, "\(results.map(\.output))\n\(listings)")

        try fleet.server.psql("UPDATE acme_schema SET version = 99", database: "fleet")
        let refused = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--config-dir", fleet.configDir(1), "--store", fleet.url])
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.stderr.contains("written by a newer acme (schema version 99; this acme knows up to 1)"), "\(refused.output)")
        #expect(!refused.output.contains(fleet.server.password), "the password is never printed")
        try FileManager.default.createDirectory(atPath: fleet.base + "/node1", withIntermediateDirectories: true)
        let daemon = try DaemonProcess(["--no-provision", "--config-dir", fleet.configDir(1), "--store", fleet.url], log: fleet.base + "/node1/daemon.log")
        let status = daemon.waitForExit(timeout: 30)
        #expect(status.map { ($0 >> 8) & 0xff } == 2, "acme daemon refuses the newer store: \(daemon.log)")
        #expect(daemon.log.contains("written by a newer acme"), "\(daemon.log)")
        #expect(fleet.serial(1) != nil, "the lineage on disk stays")
    }
}

/// A child process run to completion in the background (several acme runs at once).
final class ChildRun: @unchecked Sendable {
    private let process = Process()
    private let out = Pipe(), err = Pipe()
    private var stdout = Data(), stderr = Data()
    private let group = DispatchGroup()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        group.enter()
        DispatchQueue.global().async { [self] in self.stdout = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { [self] in self.stderr = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    }

    func wait() -> RunResult {
        group.wait()
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }
}
