@testable import ACME
import ACMECrypto
import ACMEHTTP
import Foundation
import Synchronization
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

    /// A CA with two authorizations; `failName` fails validation. Finalize answers "processing" with Retry-After.
    func server(failName: String? = nil, pem: String) -> ScriptedServer {
        let b = self.b
        let polls = Mutex<[String: Int]>([:])
        return ScriptedServer { request, _ in
            func authz(_ name: String, _ status: String, error: String = "") -> String {
                """
                {"identifier":{"type":"dns","value":"\(name)"},"status":"\(status)",
                 "challenges":[{"type":"dns-01","url":"\(b)/chall/\(name)/dns","status":"pending","token":"dnstok"},
                               {"type":"http-01","url":"\(b)/chall/\(name)","status":"\(status == "invalid" ? "invalid" : "pending")","token":"tok-\(name)"\(error)}]}
                """
            }
            let order = { (status: String, cert: Bool) in
                """
                {"status":"\(status)","identifiers":[{"type":"dns","value":"a.test"},{"type":"dns","value":"b.test"}],
                 "authorizations":["\(b)/authz/a.test","\(b)/authz/b.test"],"finalize":"\(b)/finalize"\(cert ? ",\"certificate\":\"\(b)/cert\"" : "")}
                """
            }
            switch (request.method, request.url) {
            case (.get, b + "/dir"): return ScriptedServer.json(200, ScriptedServer.directoryJSON)
            case (.head, _): return HTTPResponse(status: 200, headers: [], body: [])
            case (_, b + "/order"): return ScriptedServer.json(201, order("pending", false), headers: [(name: "Location", value: b + "/order/1")])
            case (_, b + "/order/1"): return ScriptedServer.json(200, order("valid", true))
            case (_, b + "/finalize"): return ScriptedServer.json(200, order("processing", false), headers: [(name: "Retry-After", value: "0")])
            case (_, b + "/cert"): return HTTPResponse(status: 200, headers: [], body: Array(pem.utf8))
            case (_, let url) where url.hasPrefix(b + "/chall/"):
                return ScriptedServer.json(200, #"{"type":"http-01","url":"\#(url)","status":"processing","token":"x"}"#)
            case (_, let url) where url.hasPrefix(b + "/authz/"):
                let name = String(url.dropFirst((b + "/authz/").count))
                let n = polls.withLock { p -> Int in p[name, default: 0] += 1; return p[name]! }
                if n == 1 { return ScriptedServer.json(200, authz(name, "pending")) }
                if name == failName {
                    return ScriptedServer.json(200, authz(name, "invalid", error: #","error":{"type":"urn:ietf:params:acme:error:connection","detail":"Connection refused"}"#))
                }
                return ScriptedServer.json(200, authz(name, n == 2 ? "pending" : "valid"))
            default:
                return ScriptedServer.problem(404, "malformed", "no such resource \(request.url)")
            }
        }
    }

    func selfSignedPEM() throws -> String {
        let dir = NSTemporaryDirectory() + "flow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/k.pem",
                       "-out", dir + "/c.pem", "-days", "1", "-subj", "/CN=a.test"]
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        p.waitUntilExit()
        return try String(contentsOfFile: dir + "/c.pem", encoding: .utf8)
    }

    @Test("every challenge is presented before any is triggered, all are cleaned up, and the chain is downloaded")
    func happyPath() async throws {
        let pem = try selfSignedPEM()
        let server = server(pem: pem)
        let client = ACMEClient(directoryURL: b + "/dir", transport: server)
        let solver = RecordingSolver()
        let lines = Mutex<[String]>([])
        let flow = OrderFlow(client: client, credentials: AccountCredentials(key: key, url: b + "/acct/1"), solver: solver,
                             progress: { line in lines.withLock { $0.append(line) } })
        let result = try await flow.run(names: ["a.test", "b.test"], csr: [1, 2, 3])
        #expect(result.chainPEM == pem)
        let thumb = key.publicJWK.thumbprint
        #expect(solver.log.withLock { $0 } == ["present a.test tok-a.test.\(thumb)", "present b.test tok-b.test.\(thumb)",
                                               "cleanup a.test", "cleanup b.test"])
        let urls = server.seen.filter { $0.method == .post }.map(\.url)
        let firstTrigger = urls.firstIndex(of: b + "/chall/a.test")!
        let secondTrigger = urls.firstIndex(of: b + "/chall/b.test")!
        let firstPoll = urls.lastIndex(of: b + "/authz/a.test")!
        #expect(secondTrigger == firstTrigger + 1, "challenges were not triggered together: \(urls)")
        #expect(firstPoll > secondTrigger)
        #expect(!urls.contains(b + "/chall/a.test/dns"), "answered a challenge type we do not solve")
        #expect(lines.withLock { $0 }.contains("validated b.test (2/2)"))
        // The finalize payload carries the CSR in base64url.
        #expect(server.seen.first { $0.url == b + "/finalize" }?.payload == #"{"csr":"AQID"}"#)
    }

    @Test("a failed validation names the identifier and the CA's reason, and still cleans up")
    func failedValidation() async throws {
        let server = server(failName: "b.test", pem: try selfSignedPEM())
        let solver = RecordingSolver()
        let flow = OrderFlow(client: ACMEClient(directoryURL: b + "/dir", transport: server),
                             credentials: AccountCredentials(key: key, url: b + "/acct/1"), solver: solver, progress: { _ in })
        let error = await #expect(throws: ACMEError.self) { try await flow.run(names: ["a.test", "b.test"], csr: [1]) }
        #expect(error?.code == .validationFailed)
        #expect(error?.description == "validation of b.test failed: connection: Connection refused")
        #expect(solver.log.withLock { $0.filter { $0.hasPrefix("cleanup") } }.count == 2)
        #expect(!server.seen.contains { $0.url == b + "/finalize" })
    }
}
