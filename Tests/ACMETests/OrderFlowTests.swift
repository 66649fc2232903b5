@testable import ACME
import ACMECrypto
import ACMEHTTP
import Base
import Foundation
import Synchronization
import TestFixtures
import Testing

/// Records what the flow asked of the solver.
final class RecordingSolver: ChallengeSolver, Sendable {
    let challengeType = "http-01"
    let log = Mutex<[String]>([])
    func present(identifier: String, token: String, keyAuthorization: String) async throws {
        log.withLock { $0.append("present \(identifier) \(keyAuthorization)") }
    }
    func cleanup(identifier: String, token: String) async {
        log.withLock { $0.append("cleanup \(identifier)") }
    }
}

@Suite("OrderFlow against a scripted CA")
struct OrderFlowTests {
    let key = try! PrivateKey.generate(.ecdsa(.p256))
    let b = ScriptedServer.base

    /// What the scripted CA saw and how it answers order polls.
    final class CAState: Sendable {
        let triggered = Mutex<Set<String>>([])
        /// (URL, instant) of every POST, in order.
        let posts = Mutex<[(url: String, at: ContinuousClock.Instant)]>([])
        let finalized = Mutex(false)
        /// Order polls answered "pending" before the order moves on.
        let pendingPolls: Int
        init(pendingPolls: Int) { self.pendingPolls = pendingPolls }
        var orderPolls: Int { posts.withLock { $0.filter { $0.url.hasSuffix("/order/1") }.count } }
    }

    /// A CA with the authorizations of `names`; `failName` fails validation with `failDetail`.
    /// After the challenges are triggered, the order stays pending for `pendingPolls` polls
    /// (each sent with `orderRetryAfter`, when given), then becomes ready or invalid.
    /// Finalize answers "processing" with Retry-After: 0.
    func server(names: [String] = ["a.test", "b.test"], failName: String? = nil, failDetail: String = "Connection refused",
                pendingPolls: Int = 1, orderRetryAfter: String? = nil, otherChallenges: String = "", otherMembers: String = "",
                pem: String) -> (ScriptedServer, CAState) {
        let b = self.b
        let state = CAState(pendingPolls: pendingPolls)
        let server = ScriptedServer { request, _ in
            if request.method == .post { state.posts.withLock { $0.append((request.url, .now)) } }
            func authz(_ name: String, _ status: String, error: String = "") -> String {
                """
                {"identifier":{"type":"dns","value":"\(name)"},"status":"\(status)"\(otherMembers),
                 "challenges":[\(otherChallenges){"type":"dns-01","url":"\(b)/chall/\(name)/dns","status":"pending","token":"dnstok"},
                               {"type":"http-01","url":"\(b)/chall/\(name)","status":"\(status == "invalid" ? "invalid" : "pending")","token":"tok-\(name)"\(error)}]}
                """
            }
            let order = { (status: String, cert: Bool) in
                """
                {"status":"\(status)"\(otherMembers),"identifiers":[\(names.map { #"{"type":"dns","value":"\#($0)"}"# }.joined(separator: ","))],
                 "authorizations":[\(names.map { "\"\(b)/authz/\($0)\"" }.joined(separator: ","))],"finalize":"\(b)/finalize"\(cert ? ",\"certificate\":\"\(b)/cert\"" : "")}
                """
            }
            let allTriggered = state.triggered.withLock { $0.count == names.count }
            switch (request.method, request.url) {
            case (.get, b + "/dir"): return ScriptedServer.json(200, ScriptedServer.directoryJSON)
            case (.head, _): return HTTPResponse(status: 200, headers: [], body: [])
            case (_, b + "/order"): return ScriptedServer.json(201, order("pending", false), headers: [(name: "Location", value: b + "/order/1")])
            case (_, b + "/order/1"):
                if state.finalized.withLock({ $0 }) { return ScriptedServer.json(200, order("valid", true)) }
                let polls = state.orderPolls
                if !allTriggered || polls <= state.pendingPolls {
                    return ScriptedServer.json(200, order("pending", false), headers: orderRetryAfter.map { [(name: "Retry-After", value: $0)] } ?? [])
                }
                return ScriptedServer.json(200, order(failName == nil ? "ready" : "invalid", false))
            case (_, b + "/finalize"):
                state.finalized.withLock { $0 = true }
                return ScriptedServer.json(200, order("processing", false), headers: [(name: "Retry-After", value: "0")])
            case (_, b + "/cert"): return HTTPResponse(status: 200, headers: [], body: Array(pem.utf8))
            case (_, let url) where url.hasPrefix(b + "/chall/"):
                state.triggered.withLock { _ = $0.insert(String(url.dropFirst((b + "/chall/").count))) }
                return ScriptedServer.json(200, #"{"type":"http-01","url":"\#(url)","status":"processing","token":"x"}"#)
            case (_, let url) where url.hasPrefix(b + "/authz/"):
                let name = String(url.dropFirst((b + "/authz/").count))
                guard allTriggered else { return ScriptedServer.json(200, authz(name, "pending")) }
                if name == failName {
                    return ScriptedServer.json(200, authz(name, "invalid", error: #","error":{"type":"urn:ietf:params:acme:error:connection","detail":"\#(failDetail)"}"#))
                }
                return ScriptedServer.json(200, authz(name, "valid"))
            default:
                return ScriptedServer.problem(404, "malformed", "no such resource \(request.url)")
            }
        }
        return (server, state)
    }

    func selfSignedPEM() async throws -> String {
        let dir = NSTemporaryDirectory() + "flow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try await runTool("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                         "-keyout", dir + "/k.pem", "-out", dir + "/c.pem", "-days", "1", "-subj", "/CN=a.test"])
        guard made.status == 0 else { throw TestFixtureFailure("openssl req failed: \(made.output)") }
        return try String(contentsOfFile: dir + "/c.pem", encoding: .utf8)
    }

    func flow(_ server: ScriptedServer, solver: any ChallengeSolver = RecordingSolver(),
              progress: @escaping EventSink = { _ in }) -> OrderFlow {
        OrderFlow(client: ACMEClient(directoryURL: b + "/dir", transport: server),
                  credentials: AccountCredentials(key: key, url: b + "/acct/1"), solver: solver, progress: progress)
    }

    @Test("every challenge is presented before any is triggered, all are cleaned up, and the chain is downloaded")
    func happyPath() async throws {
        let pem = try await selfSignedPEM()
        let (server, _) = server(pem: pem)
        let solver = RecordingSolver()
        let lines = Mutex<[String]>([])
        let result = try await flow(server, solver: solver, progress: { event in lines.withLock { $0.append(event.message) } })
            .run(names: ["a.test", "b.test"], csr: [1, 2, 3])
        #expect(result.chainPEM == pem)
        let thumb = key.publicJWK.thumbprint
        #expect(solver.log.withLock { $0 } == ["present a.test tok-a.test.\(thumb)", "present b.test tok-b.test.\(thumb)",
                                               "cleanup a.test", "cleanup b.test"])
        let urls = server.seen.filter { $0.method == .post }.map(\.url)
        let firstTrigger = urls.firstIndex(of: b + "/chall/a.test")!
        let secondTrigger = urls.firstIndex(of: b + "/chall/b.test")!
        #expect(secondTrigger == firstTrigger + 1, "challenges were not triggered together: \(urls)")
        #expect(!urls.contains(b + "/chall/a.test/dns"), "answered a challenge type we do not solve")
        #expect(lines.withLock { $0 }.contains("validated 2 names"))
        // The finalize payload carries the CSR in base64url.
        #expect(server.seen.first { $0.url == b + "/finalize" }?.payload == #"{"csr":"AQID"}"#)
    }

    @Test("challenges of unknown types and unknown members, whatever they carry, are ignored")
    func unknownObjects() async throws {
        let pem = try await selfSignedPEM()
        // A dns-persist-01 challenge has no token; a future type may carry anything, even in known fields.
        let others = #"{"type":"dns-persist-01","url":"\#(b)/persist","status":"pending","issuer-domain-names":["ca.test"]},"#
            + #"{"type":"future-01","url":"\#(b)/future","status":"pending","token":{"k":[1,2]},"validated":17,"error":"no","x":null},"#
            + #"{"type":42,"token":true},"string",null,"#
        let (server, state) = server(otherChallenges: others, otherMembers: #","x-ca":{"a":[1,{"b":null}]},"expires":12,"wildcard":"no""#,
                                     pem: pem)
        let solver = RecordingSolver()
        let result = try await flow(server, solver: solver).run(names: ["a.test", "b.test"], csr: [1, 2, 3])
        #expect(result.chainPEM == pem && result.validatedNames == 2)
        #expect(state.triggered.withLock { $0 } == ["a.test", "b.test"], "only the http-01 challenges are answered")
        #expect(!server.seen.contains { $0.url.hasSuffix("/persist") || $0.url.hasSuffix("/future") })
    }

    @Test("after the trigger the order is polled, one request a round; authorizations are fetched once, before")
    func pollsTheOrder() async throws {
        let names = (1...20).map { "n\($0).test" }
        let (server, state) = await server(names: names, pendingPolls: 3, pem: try selfSignedPEM())
        _ = try await flow(server).run(names: names, csr: [1])
        let urls = server.seen.filter { $0.method == .post }.map(\.url)
        let lastTrigger = urls.lastIndex { $0.hasPrefix(b + "/chall/") }!
        #expect(!urls[lastTrigger...].contains { $0.hasPrefix(b + "/authz/") }, "authorizations polled after the trigger: \(urls)")
        #expect(urls.filter { $0.hasPrefix(b + "/authz/") }.count == 20)
        // Three pending answers, then ready; after the finalize one more poll finds it valid.
        #expect(state.orderPolls == 5, "\(urls[lastTrigger...])")
        // directory, nonce, newOrder, 20 authz, 20 challenges, 4 polls, finalize, 1 poll, download.
        let minimum = 3 + 2 * names.count + 4 + 3
        #expect(server.seen.count == minimum)
    }

    @Test("an invalid order names the failing authorization with the CA's reason, escaped, and still cleans up")
    func failedValidation() async throws {
        let detail = #"Connection refused\nerror: all fine\u001b[2J"#
        let (server, _) = await server(failName: "b.test", failDetail: detail, pem: try selfSignedPEM())
        let solver = RecordingSolver()
        let error = await #expect(throws: ACMEError.self) { try await flow(server, solver: solver).run(names: ["a.test", "b.test"], csr: [1]) }
        #expect(error?.code == .validationFailed)
        #expect(error?.description == #"validation of b.test failed: connection: Connection refused\nerror: all fine\x1b[2J"#)
        #expect(error?.problem?.detail == "Connection refused\nerror: all fine\u{1b}[2J")
        #expect(solver.log.withLock { $0.filter { $0.hasPrefix("cleanup") } }.count == 2)
        #expect(!server.seen.contains { $0.url == b + "/finalize" })
    }

    @Test("the order's Retry-After decides when it is polled again")
    func orderRetryAfter() async throws {
        let (server, state) = await server(pendingPolls: 2, orderRetryAfter: "1", pem: try selfSignedPEM())
        _ = try await flow(server).run(names: ["a.test", "b.test"], csr: [1])
        let polls = state.posts.withLock { $0.filter { $0.url.hasSuffix("/order/1") }.map(\.at) }
        // The first poll follows the backoff; the next two each waited the second the CA asked for.
        #expect(polls.count >= 3)
        let gaps: [Duration] = [polls[1] - polls[0], polls[2] - polls[1]]
        #expect(gaps.allSatisfy { $0 >= .milliseconds(950) }, "\(gaps)")
    }

    @Test("with a solver that sees the CA fetch, the order is first polled after the fetch")
    func pollsAfterFetch() async throws {
        let (server, state) = await server(pem: try selfSignedPEM())
        let solver = FetchWatchingSolver()
        _ = try await flow(server, solver: solver).run(names: ["a.test", "b.test"], csr: [1])
        let fetched = try #require(solver.fetchedAt.withLock { $0 })
        let firstPoll = try #require(state.posts.withLock { $0.first { $0.url.hasSuffix("/order/1") }?.at })
        #expect(firstPoll > fetched)
        #expect(solver.asked.withLock { $0 } == [PresentedChallenge(identifier: "a.test", token: "tok-a.test"),
                                                 PresentedChallenge(identifier: "b.test", token: "tok-b.test")])
    }
}

/// A solver that sees the CA fetch 100 ms after being asked.
final class FetchWatchingSolver: ChallengeSolver, Sendable {
    let challengeType = "http-01"
    let asked = Mutex<[PresentedChallenge]>([])
    let fetchedAt = Mutex<ContinuousClock.Instant?>(nil)
    func present(identifier: String, token: String, keyAuthorization: String) async throws {}
    func cleanup(identifier: String, token: String) async {}
    func waitForFetch(_ challenges: [PresentedChallenge], limit: Duration) async -> Bool {
        asked.withLock { $0 = challenges }
        // Cancelled only if the flow is torn down, and then nobody reads fetchedAt.
        try? await Task.sleep(for: .milliseconds(100))
        fetchedAt.withLock { $0 = .now }
        return true
    }
}
