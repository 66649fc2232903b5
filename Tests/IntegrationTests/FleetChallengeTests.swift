import Foundation
import TestFixtures
import Testing

/// Issue 14, "any node answers": node A places the order and writes its challenges to the
/// store; node B (`acme respond --store`) holds Pebble's validation port and answers from the
/// store. Node A is given the same port: it finds it taken and says so, so only node B can
/// have answered.
@Suite("fleet: the CA's challenge routed to a node that did not create the order", .serialized, .integration)
struct FleetChallengeTests {
    /// Node B's `acme respond`, started and waited for until it mirrors the store.
    private func startResponder(_ arguments: [String], url: String, base: String) throws -> DaemonProcess {
        let node = try DaemonProcess(["--store", url] + arguments, log: base + "/respond.log", command: "respond")
        try waitUntil("acme respond says it answers (log: \(node.log))", timeout: 15) {
            guard node.isRunning else { throw TestFailure("acme respond exited: \(node.log)") }
            return node.log.contains("answering the fleet's challenges")
        }
        return node
    }

    private func liveChallenges(_ server: PostgresServer) throws -> String {
        try server.psql("SELECT count(*) FROM acme_challenges", database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("HTTP-01: Pebble's request goes to node B, which did not create the order, and the certificate is issued")
    func http01Routed() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-http01")
        let nodeB = try startResponder(["--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1"], url: url, base: base)

        // Node A: pebble.acmeArguments names --http-01-port pebble.httpPort, which node B holds.
        let dir = base + "/node-a"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "routed.example.test", "-d", "mx.routed.example.test"]
                             + pebble.acmeArguments(configDir: dir) + ["--store", url])
        #expect(issued.status == 0, "node A's acme issue: \(issued.output)\nnode B: \(nodeB.log)")
        #expect(FileManager.default.fileExists(atPath: dir + "/live/routed.example.test/fullchain.pem"), "\(issued.output)")
        // Node A found the port taken (node B holds it), so it could not answer itself: node B did.
        #expect(issued.output.contains("HTTP-01 on port \(pebble.httpPort): not listening here"), "node A answered itself: \(issued.output)")
        #expect(try liveChallenges(server) == "0", "node A's cleanup left challenges in the store")
        #expect(!nodeB.log.contains(server.password) && !issued.output.contains(server.password), "the store password was printed")

        nodeB.signal(SIGTERM)
        let status = nodeB.waitForExit(timeout: 5)
        #expect(status == 0, "acme respond after SIGTERM: wait status \(String(describing: status)); \(nodeB.log)")
    }

    @Test("the fleet's first issue, with no acme respond anywhere: acme issue --store answers on its own port (from the store's mirror) and the certificate is issued")
    func firstIssueAnswersItself() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-first")
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "first.example.test"] + pebble.acmeArguments(configDir: base + "/node-a") + ["--store", url])
        #expect(issued.status == 0, "\(issued.output)")
        #expect(FileManager.default.fileExists(atPath: base + "/node-a/live/first.example.test/fullchain.pem"), "\(issued.output)")
        #expect(try liveChallenges(server) == "0", "cleanup left challenges in the store")
    }

    @Test("acme daemon --store --respond on node B answers the HTTP-01 challenge of node A's order, then holds node A's certificate (told by NOTIFY)")
    func daemonResponds() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-daemon-respond")
        let nodeB = try DaemonProcess(["--store", url, "--respond", "--no-provision", "--interval", "300",
                                       "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1",
                                       "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", base + "/node-b"],
                                      log: base + "/daemon-b.log")
        defer { nodeB.signal(SIGTERM); _ = nodeB.waitForExit(timeout: 5) }
        try waitUntil("node B's daemon answers from the store (log: \(nodeB.log))", timeout: 20) {
            guard nodeB.isRunning else { throw TestFailure("node B's daemon exited: \(nodeB.log)") }
            return nodeB.log.contains("answering the fleet's HTTP-01 challenges from the store on port \(pebble.httpPort)")
        }
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "daemon.example.test"] + pebble.acmeArguments(configDir: base + "/node-a") + ["--store", url])
        #expect(issued.status == 0, "node A's acme issue: \(issued.output)\nnode B: \(nodeB.log)")
        #expect(!issued.output.contains("no node is answering"), "\(issued.output)")
        try waitUntil("node B holds node A's certificate", timeout: 20) {
            FileManager.default.fileExists(atPath: base + "/node-b/live/daemon.example.test/fullchain.pem")
        }
        let a = try String(contentsOfFile: base + "/node-a/live/daemon.example.test/cert.pem", encoding: .utf8)
        let b = try String(contentsOfFile: base + "/node-b/live/daemon.example.test/cert.pem", encoding: .utf8)
        #expect(a == b, "node B holds another certificate than node A issued")
        #expect(!nodeB.log.contains(server.password), "the store password was printed")
    }

    @Test("TLS-ALPN-01: Pebble's handshake goes to node B, which did not create the order, and the certificate is issued")
    func tlsALPN01Routed() throws {
        let pebble = try Pebble()
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-tlsalpn")
        let nodeB = try startResponder(["--no-http-01", "--tls-alpn-01-port", String(pebble.tlsPort), "--tls-alpn-01-address", "127.0.0.1"],
                                       url: url, base: base)

        let dir = base + "/node-a"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "alpn.example.test", "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle,
                                                      "--config-dir", dir, "--agree-tos", "--tls-alpn-01-port", String(pebble.tlsPort),
                                                      "--tls-alpn-01-address", "127.0.0.1", "--store", url])
        #expect(issued.status == 0, "node A's acme issue: \(issued.output)\nnode B: \(nodeB.log)")
        #expect(FileManager.default.fileExists(atPath: dir + "/live/alpn.example.test/fullchain.pem"), "\(issued.output)")
        #expect(issued.output.contains("TLS-ALPN-01 on port \(pebble.tlsPort): not listening here"), "node A answered itself: \(issued.output)")
        #expect(try liveChallenges(server) == "0", "node A's cleanup left challenges in the store")

        nodeB.signal(SIGTERM)
        #expect(nodeB.waitForExit(timeout: 20) == 0, "acme respond did not stop cleanly on SIGTERM: \(nodeB.log)")
    }

    @Test("acme respond on a port another process holds: exit 2 naming the port; a key file readable by others: exit 2 naming the file")
    func respondPortTaken() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let base = try TestSupport.temporaryDirectory("fleet-port")
        let port = TestSupport.freePort()
        let first = try startResponder(["--http-01-port", String(port), "--http-01-address", "127.0.0.1"], url: url, base: base)
        let second = try run(TestSupport.acmeBinary, ["respond", "--store", url, "--http-01-port", String(port), "--http-01-address", "127.0.0.1"])
        #expect(second.status == 2, "\(second.output)")
        #expect(second.output.contains("error:") && second.output.contains(String(port)), "\(second.output)")
        first.signal(SIGTERM)
        #expect(first.waitForExit(timeout: 20) == 0, "\(first.log)")

        let key = base + "/store.key"
        let made = try run("/bin/sh", ["-c", "openssl rand -base64 32 > \(key); chmod 644 \(key)"])
        #expect(made.status == 0, "\(made.output)")
        let loose = try run(TestSupport.acmeBinary, ["respond", "--store", url, "--store-key", key, "--http-01-port", String(port)])
        #expect(loose.status == 2 && loose.output.contains(key), "\(loose.output)")
    }

    @Test("acme respond refuses a bad store URL with a usage error and never prints the password")
    func respondBadURL() throws {
        let result = try run(TestSupport.acmeBinary, ["respond", "--store", "mysql://acme:s3cret@db/acme", "--http-01-port", "8080"])
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("error:") && !result.output.contains("s3cret"), "\(result.output)")
    }
}
