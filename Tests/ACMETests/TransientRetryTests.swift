@testable import ACME
import ACMECrypto
import ACMEHTTP
import Foundation
import Synchronization
import Testing

/// A clock whose sleeps return at once and move its time on: the delays the client chose
/// are recorded, and no test waits for them.
final class FakeClock: Sendable {
    private let slept = Mutex<[Duration]>([])
    let start = ContinuousClock.now

    var delays: [Duration] { slept.withLock { $0 } }
    var now: ContinuousClock.Instant { start + delays.reduce(.zero, +) }

    var clock: RetryClock {
        RetryClock(now: { self.now }, sleep: { delay in self.slept.withLock { $0.append(delay) } })
    }
}

@Suite("A CA in maintenance or failing: retried within bounds, reported as unavailable")
struct TransientRetryTests {
    let key = try! PrivateKey.generate(.ecdsa(.p256))
    let b = ScriptedServer.base

    /// The directory and nonces answer; POSTs to newAccount get `failures` in turn, then the account.
    func server(_ failures: [HTTPResponse]) -> ScriptedServer {
        let b = self.b
        let left = Mutex(failures)
        return ScriptedServer { request, _ in
            switch (request.method, request.url) {
            case (.get, b + "/dir"): return ScriptedServer.json(200, ScriptedServer.directoryJSON)
            case (.head, _): return HTTPResponse(status: 200, headers: [], body: [])
            default:
                if let failure = left.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return failure }
                return ScriptedServer.json(201, #"{"status":"valid"}"#, headers: [(name: "Location", value: b + "/acct/1")])
            }
        }
    }

    func newAccount(_ server: ScriptedServer, _ clock: FakeClock) async throws -> Account {
        try await ACMEClient(directoryURL: b + "/dir", transport: server, clock: clock.clock)
            .newAccount(key: key, contact: [], termsOfServiceAgreed: true)
    }

    static func maintenance(retryAfter: String?) -> HTTPResponse {
        ScriptedServer.problem(503, "serverInternal", "down for maintenance",
                               headers: retryAfter.map { [(name: "Retry-After", value: $0)] } ?? [])
    }

    @Test("a 503 with Retry-After is asked again after the CA's delay and the request succeeds")
    func maintenanceWaitedOut() async throws {
        let clock = FakeClock()
        let server = server([Self.maintenance(retryAfter: "20"), Self.maintenance(retryAfter: "20")])
        let account = try await newAccount(server, clock)
        #expect(account.url == b + "/acct/1")
        #expect(clock.delays == [.seconds(20), .seconds(20)])
        #expect(server.seen.filter { $0.method == .post }.count == 3)
    }

    @Test("500, 502 and 504 without Retry-After are asked again after 1, 2, 4 s")
    func gatewayErrorsRetried() async throws {
        let clock = FakeClock()
        let server = server([HTTPResponse(status: 502, headers: [], body: Array("<html>Bad Gateway</html>".utf8)),
                             HTTPResponse(status: 504, headers: [], body: []),
                             ScriptedServer.problem(500, "serverInternal", "try later")])
        let account = try await newAccount(server, clock)
        #expect(account.url == b + "/acct/1")
        #expect(clock.delays == [.seconds(1), .seconds(2), .seconds(4)])
    }

    @Test("a CA that stays unavailable: four retries, then one line saying so (exit 3), never 'refused'")
    func persistentlyUnavailable() async throws {
        let clock = FakeClock()
        let server = server(Array(repeating: Self.maintenance(retryAfter: nil), count: 10))
        let error = await #expect(throws: ACMEError.self) { try await newAccount(server, clock) }
        #expect(error?.code == .unavailable && error?.category == .network)
        #expect(error?.description == "the CA is unavailable: HTTP 503 from \(b)/acct (5 attempts): serverInternal: down for maintenance; it may be in maintenance: try again later")
        #expect(clock.delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8)])
        #expect(server.seen.filter { $0.method == .post }.count == 5)
    }

    @Test("a Retry-After beyond 60 s is not waited: reported at once with the CA's delay")
    func longRetryAfterReported() async throws {
        let clock = FakeClock()
        let server = server([Self.maintenance(retryAfter: "3600")])
        let error = await #expect(throws: ACMEError.self) { try await newAccount(server, clock) }
        #expect(error?.code == .unavailable)
        #expect(error?.description.contains("(retry after 3600 s)") == true)
        #expect(clock.delays.isEmpty)
        #expect(server.seen.filter { $0.method == .post }.count == 1)
    }

    @Test("no retry waits past the run's deadline")
    func runDeadline() async throws {
        let clock = FakeClock()
        let server = server(Array(repeating: Self.maintenance(retryAfter: "20"), count: 5))
        let error = await #expect(throws: ACMEError.self) {
            try await ACMEClient.$runDeadline.withValue(clock.now + .seconds(30)) { try await newAccount(server, clock) }
        }
        #expect(error?.code == .unavailable)
        #expect(clock.delays == [.seconds(20)])
        #expect(server.seen.filter { $0.method == .post }.count == 2)
    }

    @Test("an order whose CA stays in maintenance fails by the order's timeout, not later")
    func orderTimeout() async throws {
        let clock = FakeClock()
        let b = self.b
        let busy = ScriptedServer { request, _ in
            request.url == b + "/order" ? Self.maintenance(retryAfter: "45") : ScriptedServer.json(200, ScriptedServer.directoryJSON)
        }
        var flow = OrderFlow(client: ACMEClient(directoryURL: b + "/dir", transport: busy, clock: clock.clock),
                             credentials: AccountCredentials(key: key, url: b + "/acct/1"), solver: RecordingSolver(), progress: { _ in })
        flow.timeout = .seconds(70)
        let error = await #expect(throws: ACMEError.self) { try await flow.run(names: ["a.test"], csr: [1]) }
        #expect(error?.code == .unavailable)
        // 45 s fit in the order's 70 s; a second 45 s would not (the client alone would wait 120 s).
        #expect(clock.delays == [.seconds(45)])
    }

    @Test("a 4xx problem is reported at once, not retried")
    func clientErrorsNotRetried() async throws {
        let clock = FakeClock()
        let server = server([ScriptedServer.problem(403, "unauthorized", "account deactivated")])
        let error = await #expect(throws: ACMEError.self) { try await newAccount(server, clock) }
        #expect(error?.code == .problem)
        #expect(error?.description == "the CA refused the request: unauthorized: account deactivated")
        #expect(clock.delays.isEmpty)
    }

    @Test("the directory is fetched again after a 503")
    func directoryRetried() async throws {
        let clock = FakeClock()
        let calls = Mutex(0)
        let server = ScriptedServer { _, _ in
            calls.withLock { $0 += 1; return $0 } == 1 ? Self.maintenance(retryAfter: "5") : ScriptedServer.json(200, ScriptedServer.directoryJSON)
        }
        let directory = try await ACMEClient(directoryURL: b + "/dir", transport: server, clock: clock.clock).directory()
        #expect(directory.newOrder == b + "/order")
        #expect(clock.delays == [.seconds(5)])
    }
}
