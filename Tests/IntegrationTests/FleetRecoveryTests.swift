import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// Issue 21, item 10: every daemon incident clears when its cause clears. PostgreSQL killed and
/// restarted under `acme daemon --store` nodes (one with `--respond`): the next renewal is
/// answered and every node reports healthy with the new expiry; a node whose renewals failed
/// stops reporting `renewal-failing` once it holds a certificate renewed elsewhere (another
/// node, or `acme renew` by hand on a single node), without waiting for its backoff.
@Suite("incidents clear when their cause clears: store restarted, renewed elsewhere", .serialized, .integration)
struct FleetRecoveryTests {
    let name = "mail.example.test"

    /// How `acme status` prints an expiry (`Date.utcText`).
    static func utc(_ date: Date) -> String {
        date.formatted(.iso8601).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    final class Nodes {
        let base: String
        /// With `store`: a PostgreSQL server and the URL of its database `fleet`.
        let server: PostgresServer?
        let url: String
        var daemons: [Int: DaemonProcess] = [:]

        init(_ label: String, store: Bool) throws {
            base = try TestSupport.temporaryDirectory(label)
            server = store ? try PostgresServer() : nil
            url = try server?.createDatabase("fleet") ?? ""
        }

        func dir(_ node: Int) -> String { base + "/node\(node)/le" }
        func alerts(_ node: Int) -> String { base + "/node\(node)/alerts" }

        func start(_ node: Int, _ arguments: [String]) throws {
            try FileManager.default.createDirectory(atPath: base + "/node\(node)", withIntermediateDirectories: true)
            daemons[node] = try DaemonProcess(["--no-provision", "--config-dir", dir(node), "--alert-command", alertRecorder(alerts(node))] + arguments,
                                              log: base + "/node\(node)/daemon.log")
        }

        func status(_ node: Int) throws -> RunResult { try run(TestSupport.acmeBinary, ["status", "--config-dir", dir(node)]) }

        func logs() -> String {
            daemons.sorted { $0.key < $1.key }.map { "--- node \($0.key)\n\($0.value.log.suffix(3000))" }.joined(separator: "\n")
        }

        func wait(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
            do { try waitUntil(what, timeout: timeout, interval: 0.5, condition) } catch { throw TestFailure("\(error)\n\(logs())") }
        }

        func stopAll() {
            for daemon in daemons.values where daemon.isRunning { daemon.signal(SIGTERM); _ = daemon.waitForExit(timeout: 5) }
        }
    }

    @Test("PostgreSQL killed under three daemons (one --respond) and restarted: the next renewal is answered by the --respond node, and acme status on every node is healthy with the new expiry")
    func storeRestarted() throws {
        let pebble = try Pebble()
        let nodes = try Nodes("fleet-restart", store: true)
        defer { nodes.stopAll() }
        let (server, url) = (try #require(nodes.server), nodes.url)
        let common = ["--ca-bundle", pebble.caBundle, "--store", url, "--retry-delay", "1", "--interval", "5"]
        // Node 3 holds Pebble's validation port: only its responder can answer any node's challenge.
        try nodes.start(3, common + ["--respond", "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1"])
        try nodes.wait("node 3 answers from the store", timeout: 20) { nodes.daemons[3]!.log.contains("answering the fleet's HTTP-01 challenges") }
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name] + pebble.acmeArguments(configDir: nodes.dir(1)) + ["--store", url])
        try #require(issued.status == 0, "\(issued.output)\n\(nodes.logs())")
        for node in 1...2 { try nodes.start(node, common) }
        let first = try liveLeaf(nodes.dir(1))
        try nodes.wait("every node holds the certificate", timeout: 60) {
            (1...3).allSatisfy { (try? liveLeaf(nodes.dir($0)))?.serialHex == first.serialHex }
        }

        try server.pause(immediate: true)
        try nodes.wait("node 3's responder lost the store and every node reports it", timeout: 60) {
            try nodes.daemons[3]!.log.contains("fleet responder: lost the store")
                && (1...3).allSatisfy { let status = try nodes.status($0); return status.status == 1 && status.stdout.contains("store-unreachable") }
        }
        // Down long enough for the responder's reconnection backoff to grow (it reached 30 s).
        sleep(30)
        try server.resume()
        let resumed = Date()

        // At once, from node 1 (which cannot listen: node 3 holds the port): Pebble validates on node 3.
        // The daemons' first rounds after the restart hold the lineage's lock for a moment: run it again then.
        let arguments = ["renew", "--no-random-sleep", "--force-renewal", "--cert-name", name, "--config-dir", nodes.dir(1),
                         "--ca-bundle", pebble.caBundle, "--store", url]
        var renewed = try run(TestSupport.acmeBinary, arguments)
        try nodes.wait("node 1's forced renewal takes the lineage's lock", timeout: 30) {
            guard renewed.output.contains("being renewed on another node") else { return true }
            renewed = try run(TestSupport.acmeBinary, arguments)
            return false
        }
        #expect(renewed.status == 0, "the renewal right after the restart: \(renewed.output)\n\(nodes.logs())")
        #expect(!renewed.output.contains("no node is answering"), "\(renewed.output)")
        let next = try liveLeaf(nodes.dir(1))
        try #require(next.serialHex != first.serialHex, "not renewed: \(renewed.output)")
        let expiry = Self.utc(next.notAfter)
        try nodes.wait("acme status on every node is healthy and shows \(expiry)", timeout: 120) {
            try (1...3).allSatisfy { let status = try nodes.status($0); return status.status == 0 && status.stdout.contains("expires \(expiry)") }
        }
        print("FIGURE PostgreSQL restarted → every node healthy with the new expiry: \(Int(Date().timeIntervalSince(resumed))) s")
        for node in 1...3 {
            let lines = alertLines(nodes.alerts(node))
            #expect(lines.contains { $0.hasPrefix("resolved store-unreachable") }, "node \(node): \(lines)")
        }
    }

    @Test("a fleet node whose renewals failed gets the version another node renewed: renewal-failing clears and acme status shows the new expiry, before its backoff ends")
    func failingNodeGetsFleetCertificate() throws {
        let double = try ACMEDouble()
        let nodes = try Nodes("fleet-failing", store: true)
        defer { nodes.stopAll() }
        let url = nodes.url
        // 20-second certificates: due 10 s after issue by the lifetime rule, also with the CA offline.
        try double.setControl(["lifetime_seconds": 20])
        let ca = ["--server", double.directoryURL, "--ca-bundle", double.caBundle, "--agree-tos"]
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--config-dir", nodes.dir(1), "--http-01-port", String(TestSupport.freePort()),
                                                      "--store", url] + ca)
        try #require(issued.status == 0, "\(issued.output)")
        try double.setControl(["lifetime_seconds": 20, "offline": true])
        // Its next retry is 96-144 s after the failure: far beyond every wait below.
        try nodes.start(3, ["--ca-bundle", double.caBundle, "--store", url, "--retry-delay", "120", "--alert-after", "1", "--interval", "5"])
        try nodes.wait("node 3's renewal fails and acme status says renewal-failing", timeout: 60) {
            let status = try nodes.status(3)
            return status.status == 1 && status.stdout.contains("renewal-failing")
        }

        try double.setControl(["lifetime_seconds": 3600])
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--force-renewal", "--config-dir", nodes.dir(1), "--ca-bundle", double.caBundle, "--store", url])
        #expect(renewed.status == 0, "\(renewed.output)")
        let next = try liveLeaf(nodes.dir(1))
        let expiry = Self.utc(next.notAfter)
        try nodes.wait("node 3 holds the new version and acme status is healthy with \(expiry)", timeout: 30) {
            let status = try nodes.status(3)
            return status.status == 0 && status.stdout.contains("expires \(expiry)")
        }
        #expect((try? liveLeaf(nodes.dir(3)))?.serialHex == next.serialHex)
        #expect(alertLines(nodes.alerts(3)).contains { $0.hasPrefix("resolved renewal-failing \(name)") }, "\(alertLines(nodes.alerts(3)))")
        #expect(try double.requests(to: "/finalize/").count == 2, "node 3 did not order again: \(nodes.logs())")
    }

    @Test("single node: a certificate renewed by hand (acme renew) while the daemon backs off ends its renewal-failing at the next --interval look")
    func renewedByHand() throws {
        let double = try ACMEDouble()
        let nodes = try Nodes("daemon-by-hand", store: false)
        defer { nodes.stopAll() }
        try double.setControl(["lifetime_seconds": 20])
        try issueFromDouble(double, configDir: nodes.dir(1))
        try double.setControl(["lifetime_seconds": 20, "offline": true])
        try nodes.start(1, ["--ca-bundle", double.caBundle, "--retry-delay", "120", "--alert-after", "1", "--interval", "2"])
        try nodes.wait("the daemon's renewal fails and acme status says renewal-failing", timeout: 60) {
            let status = try nodes.status(1)
            return status.status == 1 && status.stdout.contains("renewal-failing")
        }

        try double.setControl(["lifetime_seconds": 3600])
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--force-renewal", "--config-dir", nodes.dir(1), "--ca-bundle", double.caBundle])
        #expect(renewed.status == 0, "\(renewed.output)")
        let expiry = Self.utc(try liveLeaf(nodes.dir(1)).notAfter)
        try nodes.wait("acme status is healthy with \(expiry)", timeout: 20) {
            let status = try nodes.status(1)
            return status.status == 0 && status.stdout.contains("expires \(expiry)")
        }
        #expect(alertLines(nodes.alerts(1)).contains { $0.hasPrefix("resolved renewal-failing \(name)") }, "\(alertLines(nodes.alerts(1)))")
        #expect(try double.requests(to: "/finalize/").count == 2, "the daemon did not order again: \(nodes.logs())")
    }
}

extension FleetRecoveryTests {
    @Test("the store down while a lineage's renewals fail: being held for the store is no recovery, renewal-failing stays; it clears once a renewal succeeds")
    func failingWhileStoreDown() throws {
        let double = try ACMEDouble()
        let nodes = try Nodes("fleet-failing-down", store: true)
        defer { nodes.stopAll() }
        let url = nodes.url
        try double.setControl(["lifetime_seconds": 3600])
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--config-dir", nodes.dir(1), "--http-01-port", String(TestSupport.freePort()),
                                                      "--store", url, "--server", double.directoryURL, "--ca-bundle", double.caBundle, "--agree-tos"])
        try #require(issued.status == 0, "\(issued.output)")
        // Due 10 s after issue by its conf (an hour's certificate: far from the no-lock emergency).
        try appendToRenewalConf(nodes.dir(1), name, topLevel: "renew_before_expiry = 3590 seconds")
        try double.setControl(["lifetime_seconds": 3600, "offline": true])
        try nodes.start(1, ["--ca-bundle", double.caBundle, "--store", url, "--retry-delay", "5", "--alert-after", "1", "--interval", "2"])
        try nodes.wait("the renewal fails and acme status says renewal-failing", timeout: 90) {
            let status = try nodes.status(1)
            return status.status == 1 && status.stdout.contains("renewal-failing")
        }
        let server = try #require(nodes.server)
        try server.pause(immediate: true)
        let daemon = try #require(nodes.daemons[1])
        try nodes.wait("the daemon holds the lineage for the store", timeout: 90) {
            !daemon.lines(containing: "not renewed while the store").isEmpty
        }
        let held = try nodes.status(1)
        #expect(held.status == 1 && held.stdout.contains("renewal-failing"), "a hold for the store cleared the failure:\n\(held.output)\n\(nodes.logs())")
        #expect(!alertLines(nodes.alerts(1)).contains { $0.hasPrefix("resolved renewal-failing") }, "\(alertLines(nodes.alerts(1)))")

        try server.resume()
        try double.setControl(["lifetime_seconds": 3600])
        try nodes.wait("the renewal succeeds and renewal-failing clears", timeout: 90) {
            alertLines(nodes.alerts(1)).contains { $0.hasPrefix("resolved renewal-failing \(name)") }
        }
    }
}
