import Foundation
import TestFixtures
import Testing

/// Fleet mode's shared ARI state (`acme_ari`): real PostgreSQL 15 and the ACME double, which
/// logs every renewalInfo request (`/ari/`), so requests are counted at the CA. Three nodes with
/// separate config directories run `acme renew --store` one after the other.
@Suite("fleet ARI: one renewalInfo request per lineage and Retry-After for the whole fleet", .serialized, .integration)
struct FleetARITests {
    let name = "mail.example.test"

    final class Fleet {
        let double: ACMEDouble
        let server: PostgresServer
        let url: String
        let base: String

        init(_ label: String) throws {
            double = try ACMEDouble()
            server = try PostgresServer()
            url = try server.createDatabase("fleet")
            base = try TestSupport.temporaryDirectory(label)
        }

        func configDir(_ node: Int) -> String { base + "/node\(node)/le" }

        func issue(on node: Int, _ name: String) throws {
            let result = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--server", double.directoryURL, "--ca-bundle", double.caBundle,
                                                          "--agree-tos", "--config-dir", configDir(node),
                                                          "--http-01-port", String(TestSupport.freePort()), "--store", url])
            guard result.status == 0 else { throw TestFailure("acme issue --store on node \(node) failed: \(result.output)") }
        }

        func renew(on node: Int, _ extra: [String] = []) throws -> RunResult {
            try FileManager.default.createDirectory(atPath: base + "/node\(node)", withIntermediateDirectories: true)
            return try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--ca-bundle", double.caBundle,
                                                    "--config-dir", configDir(node), "--store", url] + extra)
        }

        /// renewalInfo requests the CA received.
        func ariRequests() throws -> Int { try double.requests(to: "/ari/").count }

        func sql(_ statement: String) throws -> String {
            try server.psql(statement, database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The "not due until" time of `name` in a renew run's output.
    func notDueUntil(_ result: RunResult, _ name: String) throws -> String {
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("\(name): not due until ") }, "\(result.output)")
        return String(line.dropFirst("\(name): not due until ".count).prefix { $0 != "(" })
    }

    /// Runs `acme renew --store` on nodes 1…3; each must say not due; returns their "not due until" times.
    func roundOfThree(_ fleet: Fleet) throws -> [String] {
        try (1...3).map { node in
            let result = try fleet.renew(on: node)
            #expect(result.status == 0, "node \(node): \(result.output)")
            return try notDueUntil(result, name)
        }
    }

    @Test("three nodes: one request per Retry-After; the same due time on every node; a renewal fetches again; a bad row is ignored with a note; a store that cannot be read falls back to the local file")
    func sharedWindow() throws {
        let fleet = try Fleet("fleet-ari")
        // 90-day certificates, the window at 60–70 % of their life: not due. Retry-After 1 s,
        // which acme raises to its shortest pause, 60 s.
        try fleet.double.setControl(["ari_fractions": [0.6, 0.7], "retry_after": 1])
        try fleet.issue(on: 1, name)
        // 0. For comparison, each node on its own state file (what every fleet node did before
        //    acme_ari was shared): nodes 2 and 3 take the lineage from the store, then the three
        //    run acme renew without --store.
        for node in 2...3 {
            try FileManager.default.createDirectory(atPath: fleet.base + "/node\(node)", withIntermediateDirectories: true)
            let synced = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", fleet.configDir(node), "--store", fleet.url])
            #expect(synced.status == 0 && synced.stdout.contains(name), "\(synced.output)")
        }
        let perNodeStart = try fleet.ariRequests()
        for node in 1...3 {
            let result = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--ca-bundle", fleet.double.caBundle, "--config-dir", fleet.configDir(node)])
            #expect(result.status == 0 && result.stdout.contains("not due until"), "\(result.output)")
        }
        let perNode = try fleet.ariRequests() - perNodeStart
        #expect(perNode == 3)
        let before = try fleet.ariRequests()

        // 1. Three nodes, one request: node 1 asks the CA and writes the row, nodes 2 and 3 read it
        //    (with the store reachable its row decides, not the fresh local files of step 0).
        let first = try roundOfThree(fleet)
        let shared = try fleet.ariRequests() - before
        print("FIGURE renewalInfo requests for one lineage in one Retry-After period, 3 nodes: \(perNode) each on its own state file, \(shared) with --store (acme_ari)")
        #expect(shared == 1, "one renewalInfo request for three nodes")
        #expect(Set(first).count == 1, "every node reports the same due time: \(first)")
        #expect(try fleet.sql("SELECT count(*) FROM acme_ari WHERE lineage = '\(name)' AND next_check > now()") == "1")
        let fetchedAt = Date()

        // 2. Once the Retry-After (60 s) has passed, the fleet asks once more, and no more.
        let wait = 62 - Date().timeIntervalSince(fetchedAt)
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        let second = try roundOfThree(fleet)
        #expect(try fleet.ariRequests() == before + 2, "one more request after the Retry-After")
        #expect(Set(second).count == 1 && second == first, "the same window, the same moment on every node: \(second) vs \(first)")

        // 3. A renewal on node 1 (forced: no ARI asked) changes the certificate id: the next node's
        //    round fetches for the new certificate, the one after uses that.
        let forced = try fleet.renew(on: 1, ["--force-renewal", "--cert-name", name])
        #expect(forced.status == 0 && forced.stdout.contains("renewed"), "\(forced.output)")
        #expect(try fleet.ariRequests() == before + 2)
        let oldID = try fleet.sql("SELECT cert_id FROM acme_ari WHERE lineage = '\(name)'")
        let afterRenewal = try (2...3).map { node in try notDueUntil(try fleet.renew(on: node), name) }
        #expect(try fleet.ariRequests() == before + 3, "one request for the new certificate")
        #expect(try fleet.sql("SELECT cert_id FROM acme_ari WHERE lineage = '\(name)'") != oldID, "the row is about the new certificate")
        #expect(Set(afterRenewal).count == 1, "\(afterRenewal)")

        // 4. Corrupted rows: ignored with a note, the CA asked, its answer replaces the row.
        let corruptions = [
            ("window_end = window_start - interval '1 day'", "ends"),
            ("window_start = '9999-01-01', window_end = '9999-02-01'", "not within a year"),
            ("window_end = 'infinity'", "not a finite date"),
            ("next_check = now() + interval '3000 days'", "more than a day ahead"),
        ]
        for (index, (change, reason)) in corruptions.enumerated() {
            _ = try fleet.sql("UPDATE acme_ari SET \(change) WHERE lineage = '\(name)'")
            let node = index % 3 + 1
            let result = try fleet.renew(on: node)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("\(name): the fleet's renewal information is ignored: ") && result.output.contains(reason), "\(change): \(result.output)")
            #expect(try notDueUntil(result, name) == afterRenewal[0], "\(change): decided with the CA's window")
            #expect(try fleet.ariRequests() == before + 4 + index, "\(change): the node asked the CA")
            #expect(try fleet.sql("SELECT count(*) FROM acme_ari WHERE window_start <= window_end AND window_end < '2200-01-01' AND next_check < now() + interval '2 days'") == "1",
                    "\(change): the CA's answer replaced the row")
        }
        let afterCorruptions = try fleet.ariRequests()

        // 5. The store's ARI table cannot be read (renamed away: the store is reachable, its row is
        //    not): node 2 decides with its own .acme-ari.json, written in step 4, asking nobody.
        _ = try fleet.sql("ALTER TABLE acme_ari RENAME TO acme_ari_elsewhere")
        let unreadable = try fleet.renew(on: 2)
        #expect(unreadable.status == 0, "\(unreadable.output)")
        #expect(unreadable.output.contains("the fleet's renewal information cannot be read") && unreadable.output.contains(".acme-ari.json"), "\(unreadable.output)")
        #expect(try notDueUntil(unreadable, name) == afterRenewal[0])
        #expect(try fleet.ariRequests() == afterCorruptions, "decided from the local file, no request")
        _ = try fleet.sql("ALTER TABLE acme_ari_elsewhere RENAME TO acme_ari")

        // 6. The store down: renew --store renews nothing (no lock) and asks the CA nothing; the
        //    node's local file is left as it was.
        let localFile = fleet.configDir(3) + "/.acme-ari.json"
        let localBefore = try String(contentsOfFile: localFile, encoding: .utf8)
        try fleet.server.pause()
        let down = try fleet.renew(on: 3)
        try fleet.server.resume()
        #expect(down.status == 3, "\(down.output)")
        #expect(try fleet.ariRequests() == afterCorruptions)
        #expect(try String(contentsOfFile: localFile, encoding: .utf8) == localBefore)
    }

    @Test("three daemons: one renewalInfo request for the fleet within a Retry-After period, not one per daemon")
    func daemons() throws {
        let fleet = try Fleet("fleet-ari-daemons")
        try fleet.double.setControl(["ari_fractions": [0.6, 0.7], "retry_after": 1])
        try fleet.issue(on: 1, name)
        let before = try fleet.ariRequests()
        var daemons: [DaemonProcess] = []
        defer { for daemon in daemons where daemon.isRunning { daemon.signal(SIGTERM); _ = daemon.waitForExit(timeout: 5) } }
        let started = Date()
        for node in 1...3 {
            try FileManager.default.createDirectory(atPath: fleet.base + "/node\(node)", withIntermediateDirectories: true)
            daemons.append(try DaemonProcess(["--no-provision", "--verbose", "--config-dir", fleet.configDir(node), "--ca-bundle", fleet.double.caBundle,
                                              "--store", fleet.url, "--retry-delay", "2", "--interval", "5"],
                                             log: fleet.base + "/node\(node)/daemon.log"))
        }
        func logs() -> String { daemons.enumerated().map { "--- node \($0.offset + 1)\n\($0.element.log.suffix(2000))" }.joined(separator: "\n") }
        // Every daemon has looked at the lineage: its status file's next action is the next ARI check.
        func nextCheck(_ node: Int) -> String? {
            guard let data = FileManager.default.contents(atPath: fleet.configDir(node) + "/.acme-daemon-status.json"),
                  let status = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let lineages = status["lineages"] as? [[String: Any]],
                  let entry = lineages.first(where: { $0["name"] as? String == name }),
                  entry["nextAction"] as? String == "ask-ari" else { return nil }
            return entry["nextActionAt"].map { "\($0)" }
        }
        do {
            try waitUntil("every daemon has decided", timeout: 40) { (1...3).allSatisfy { nextCheck($0) != nil } }
        } catch { throw TestFailure("\(error)\n\(logs())") }
        Thread.sleep(forTimeInterval: max(0, 45 - Date().timeIntervalSince(started)))
        let requests = try fleet.ariRequests() - before
        print("FIGURE acme daemon --store, 3 nodes, the first 45 s (Retry-After 60 s): \(requests) renewalInfo request(s) for one lineage")
        #expect(requests == 1, "one request for three daemons\n\(logs())")
        let checks = (1...3).map { nextCheck($0) }
        #expect(Set(checks).count == 1, "every daemon asks again at the row's next check: \(checks)\n\(logs())")
    }
}
