import FleetStore
import Foundation
import TestFixtures
import Testing

@Suite("fleet store: advisory locks, LISTEN/NOTIFY, challenges", .integration)
struct LockAndNotifyTests {
    @Test("a lineage lock held by one session cannot be taken by another until released")
    func lockExcludes() throws {
        let server = try PostgresServer()
        let url = try StoreURL(server.url())
        let first = try PostgresConnection(url: url), second = try PostgresConnection(url: url)
        let lock = AdvisoryLock.lineage("mail.example.com")
        #expect(lock == AdvisoryLock.lineage("mail.example.com"))
        #expect(lock.key != AdvisoryLock.lineage("mail.example.org").key)
        #expect(try lock.tryAcquire(on: first))
        #expect(try !lock.tryAcquire(on: second))
        #expect(try AdvisoryLock.lineage("other.example.com").tryAcquire(on: second), "locks of other lineages are independent")
        #expect(try lock.release(on: first))
        #expect(try lock.tryAcquire(on: second))
        #expect(try !lock.release(on: first), "first no longer holds it")
    }

    @Test("the key is stable: the same on every node and release (FNV-1a of the name)")
    func stableKey() {
        // FNV-1a 64 of "acme:lineage:mail.example.com", computed independently.
        #expect(AdvisoryLock.lineage("mail.example.com").key == Int64(bitPattern: Self.fnv1a("acme:lineage:mail.example.com")))
        #expect(AdvisoryLock.account(serverPath: "acme-v02.api.letsencrypt.org/directory").key
                == Int64(bitPattern: Self.fnv1a("acme:account:acme-v02.api.letsencrypt.org/directory")))
    }

    static func fnv1a(_ text: String) -> UInt64 {
        text.utf8.reduce(14_695_981_039_346_656_037) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
    }

    @Test("a lock held by a process that is killed is released: another node can take it")
    func lockReleasedWhenHolderDies() throws {
        let server = try PostgresServer()
        let url = try StoreURL(server.url())
        let lock = AdvisoryLock.lineage("mail.example.com")
        // The holder: psql in another process, taking the lock and then busy in a long statement
        // (client_connection_check_interval makes its server process notice a dead client then too).
        let holder = try server.spawnPSQL(["SELECT pg_advisory_lock(\(lock.key))", "SET client_connection_check_interval = 100",
                                           "SELECT pg_sleep(600)"], database: "postgres")
        var reaped = false
        defer { if !reaped { kill(holder, SIGKILL); waitpid(holder, nil, 0) } }
        let other = try PostgresConnection(url: url)
        try waitUntil("the psql process holds the lock", timeout: 20) {
            // Taken before psql got it: give it back, and look again.
            if try lock.tryAcquire(on: other) { try lock.release(on: other); return false }
            return true
        }

        kill(holder, SIGKILL)
        waitpid(holder, nil, 0)
        reaped = true
        let start = Date()
        try waitUntil("the lock is free after its holder was killed", timeout: 10) { try lock.tryAcquire(on: other) }
        print("lock free \(String(format: "%.2f", Date().timeIntervalSince(start))) s after its holder was killed")
    }

    @Test("a NOTIFY reaches a listener within a second; with none, the wait ends at its bound")
    func notifyDelivered() throws {
        let server = try PostgresServer()
        let url = try StoreURL(server.url())
        let listener = try PostgresConnection(url: url), sender = try PostgresConnection(url: url)
        try listener.listen("acme_lineages")

        let quiet = Date()
        #expect(try listener.nextNotification(timeout: 0.3) == nil)
        let waited = Date().timeIntervalSince(quiet)
        // Ends at its bound, not at the next notification: the upper bound is generous (a loaded machine).
        #expect(waited >= 0.29 && waited < 10, "waited \(waited) s for a 0.3 s bound")

        let sent = Date()
        try sender.notify("acme_lineages", payload: "mail.example.com 3")
        let received = try listener.nextNotification(timeout: 5)
        print("NOTIFY delivered after \(String(format: "%.3f", Date().timeIntervalSince(sent))) s")
        #expect(received?.channel == "acme_lineages")
        #expect(received?.payload == "mail.example.com 3")
        #expect(received?.senderPID == sender.backendPID)

        // Inside a transaction it is delivered on commit only.
        try sender.transaction {
            try sender.notify("acme_lineages", payload: "in a transaction")
            #expect(try listener.nextNotification(timeout: 0.2) == nil)
        }
        #expect(try listener.nextNotification(timeout: 5)?.payload == "in a transaction")
        #expect(throws: FleetStoreError.self) { try sender.notify("bad channel; DROP TABLE x", payload: "") }
    }

    @Test("challenges are answered from the store until they expire")
    func challenges() throws {
        let server = try PostgresServer()
        let store = try FleetStore.open(url: try server.createDatabase("fleet"), keyFile: nil)
        let challenges = StoredChallenges(store)
        try challenges.put(.http01, token: "tok-1", keyAuthorization: "tok-1.thumb", lifetime: 600)
        try challenges.put(.tlsALPN01, token: "mail.example.com", keyAuthorization: "tok-2.thumb", lifetime: 600)
        #expect(try challenges.keyAuthorization(.http01, token: "tok-1") == "tok-1.thumb")
        #expect(try challenges.keyAuthorization(.tlsALPN01, token: "tok-1") == nil)
        #expect(try challenges.keyAuthorization(.tlsALPN01, token: "mail.example.com") == "tok-2.thumb")
        try server.psql("UPDATE acme_challenges SET expires_at = now() - interval '1 second' WHERE token = 'tok-1'", database: "fleet")
        #expect(try challenges.keyAuthorization(.http01, token: "tok-1") == nil)
        #expect(try challenges.removeExpired() == 1)
        try challenges.remove(.tlsALPN01, token: "mail.example.com")
        #expect(try challenges.keyAuthorization(.tlsALPN01, token: "mail.example.com") == nil)
    }
}

/// Polls `condition` every 50 ms until it holds; fails naming `what` after `timeout` seconds.
func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    throw TestFailure("timed out after \(timeout) s waiting until \(what)")
}
