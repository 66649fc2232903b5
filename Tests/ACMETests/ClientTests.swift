@testable import ACME
import ACMECrypto
import ACMEHTTP
import Foundation
import Testing

@Suite("ACMEClient against a scripted server")
struct ClientTests {
    let key = try! PrivateKey.generate(.ecdsa(.p256))

    func standard(_ request: HTTPRequest, post: (HTTPRequest) -> HTTPResponse) -> HTTPResponse {
        switch (request.method, request.url) {
        case (.get, ScriptedServer.base + "/dir"): return ScriptedServer.json(200, ScriptedServer.directoryJSON)
        case (.head, ScriptedServer.base + "/nonce"): return HTTPResponse(status: 200, headers: [], body: [])
        default: return post(request)
        }
    }

    @Test("a nonce from each response is reused: newNonce is asked once for many POSTs")
    func nonceReuse() async throws {
        let server = ScriptedServer { request, _ in
            standard(request) { _ in ScriptedServer.json(201, #"{"status":"valid"}"#, headers: [(name: "Location", value: ScriptedServer.base + "/acct/1")]) }
        }
        let client = ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: server)
        for _ in 0..<3 {
            _ = try await client.newAccount(key: key, contact: ["mailto:a@example.com"], termsOfServiceAgreed: true)
        }
        let heads = server.seen.filter { $0.method == .head }
        #expect(heads.count == 1)
        let posts = server.seen.filter { $0.method == .post }
        #expect(posts.count == 3)
        // Each POST used the nonce the previous response carried, and its protected url is the request URL.
        #expect(posts[1].nonce == "nonce2" && posts[2].nonce == "nonce3", "\(posts.map(\.nonce))")
        #expect(posts.allSatisfy { $0.protectedURL == $0.url && $0.hasJWK && $0.kid == nil })
        #expect(posts[0].payload?.contains("\"termsOfServiceAgreed\":true") == true)
        #expect(await client.requestCount == 5)
    }

    @Test("badNonce is retried with the nonce from the error response")
    func badNonceRetry() async throws {
        let server = ScriptedServer { request, index in
            standard(request) { _ in
                // First two POSTs are refused with a fresh nonce in the error response.
                index <= 3 ? ScriptedServer.problem(400, "badNonce", "JWS has an invalid anti-replay nonce",
                                                    headers: [(name: "Replay-Nonce", value: "fromError\(index)")])
                    : ScriptedServer.json(200, #"{"status":"valid"}"#, headers: [(name: "Location", value: ScriptedServer.base + "/acct/1")])
            }
        }
        let client = ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: server)
        let account = try await client.newAccount(key: key, contact: [], termsOfServiceAgreed: true)
        #expect(account.url == ScriptedServer.base + "/acct/1")
        let posts = server.seen.filter { $0.method == .post }
        #expect(posts.count == 3)
        #expect(posts[1].nonce == "fromError2")
        #expect(posts[2].nonce == "fromError3")
        #expect(server.seen.filter { $0.method == .head }.count == 1)
    }

    @Test("a problem document becomes one line with type, detail, identifier and subproblems")
    func problemLine() async throws {
        let body = """
        {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Some identifiers were rejected","status":400,
         "subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Policy forbids this name",
                         "identifier":{"type":"dns","value":"bad.example"}}]}
        """
        let server = ScriptedServer { request, _ in
            standard(request) { _ in HTTPResponse(status: 400, headers: [(name: "Content-Type", value: "application/problem+json")], body: Array(body.utf8)) }
        }
        let client = ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: server)
        let creds = AccountCredentials(key: key, url: ScriptedServer.base + "/acct/1")
        let error = await #expect(throws: ACMEError.self) { try await client.newOrder(creds, names: ["bad.example"]) }
        #expect(error?.code == .problem)
        #expect(error?.description == "the CA refused the request: rejectedIdentifier: Some identifiers were rejected [bad.example: rejectedIdentifier (Policy forbids this name)]")
        #expect(error?.description.contains("\n") == false)
        // kid, not jwk, once the account exists (RFC 8555 §6.2).
        let post = server.seen.last { $0.method == .post }
        #expect(post?.kid == creds.url && post?.hasJWK == false)
    }

    @Test("429 with a short Retry-After is waited out; a long one is reported without hammering")
    func rateLimits() async throws {
        let short = ScriptedServer { request, index in
            standard(request) { _ in
                index == 2 ? ScriptedServer.problem(429, "rateLimited", "slow down", headers: [(name: "Retry-After", value: "1")])
                    : ScriptedServer.json(201, #"{"status":"valid"}"#, headers: [(name: "Location", value: ScriptedServer.base + "/acct/1")])
            }
        }
        let started = ContinuousClock.now
        _ = try await ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: short)
            .newAccount(key: key, contact: [], termsOfServiceAgreed: true)
        #expect(ContinuousClock.now - started >= .milliseconds(900), "did not wait for Retry-After")
        #expect(short.seen.filter { $0.method == .post }.count == 2)

        let long = ScriptedServer { request, _ in
            standard(request) { _ in ScriptedServer.problem(429, "rateLimited", "too many certificates", headers: [(name: "Retry-After", value: "3600")]) }
        }
        let error = await #expect(throws: ACMEError.self) {
            try await ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: long)
                .newAccount(key: key, contact: [], termsOfServiceAgreed: true)
        }
        #expect(error?.code == .rateLimited)
        #expect(error?.description.contains("retry after 3600 s") == true)
        #expect(long.seen.filter { $0.method == .post }.count == 1)
        // A 503 is a CA in maintenance, not a rate limit: TransientRetryTests.
    }

    @Test("unknown members of the directory, of any JSON type, and odd metadata are ignored")
    func unknownDirectoryMembers() async throws {
        let b = ScriptedServer.base
        let directory = """
        {"newNonce":"\(b)/nonce","newAccount":"\(b)/acct","newOrder":"\(b)/order","renewalInfo":{"v":2},
         "x-extension":[1,{"a":null}],"kQ3nZb1vE":"https://community.example/t/adding-random-entries",
         "meta":{"termsOfService":{"url":"\(b)/tos"},"caaIdentities":["ca.test",7],"x-flag":true,
                 "profiles":{"classic":{"description":"90 days","lifetime":7776000},"shortlived":"6 days"}}}
        """
        let server = ScriptedServer { _, _ in ScriptedServer.json(200, directory) }
        let parsed = try await ACMEClient(directoryURL: b + "/dir", transport: server).directory()
        #expect(parsed.newOrder == b + "/order" && parsed.renewalInfo == nil)
        #expect(parsed.meta?.profiles == ["classic": "", "shortlived": "6 days"])
        #expect(parsed.meta?.caaIdentities == ["ca.test"] && parsed.meta?.termsOfService == nil)
    }

    @Test("an account or problem document with fields of unexpected types is still read")
    func unknownAccountAndProblemFields() async throws {
        let body = """
        {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"refused","status":"400","x":{"y":[]},
         "subproblems":[{"type":"urn:ietf:params:acme:error:caa","identifier":"odd"},
                        {"type":"urn:ietf:params:acme:error:dns","detail":"SERVFAIL","identifier":{"type":"dns","value":"b.example"}},
                        7]}
        """
        let server = ScriptedServer { request, _ in
            standard(request) { request in
                request.url.hasSuffix("/order") ? HTTPResponse(status: 400, headers: [], body: Array(body.utf8))
                    : ScriptedServer.json(200, #"{"status":"valid","contact":"mailto:a@example.com","orders":{"list":[]},"key":{"kty":"EC"},"x":1}"#)
            }
        }
        let client = ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: server)
        let creds = AccountCredentials(key: key, url: ScriptedServer.base + "/acct/1")
        let account = try await client.account(creds)
        #expect(account.body.status == "valid" && account.body.contact == nil && account.body.orders == nil)
        let error = await #expect(throws: ACMEError.self) { try await client.newOrder(creds, names: ["b.example"]) }
        #expect(error?.description == "the CA refused the request: rejectedIdentifier: refused [caa; b.example: dns (SERVFAIL)]")
    }

    @Test("a directory that is not JSON names the URL")
    func malformedDirectory() async throws {
        let server = ScriptedServer { _, _ in ScriptedServer.json(200, "<html>not acme</html>") }
        let error = await #expect(throws: ACMEError.self) {
            try await ACMEClient(directoryURL: ScriptedServer.base + "/dir", transport: server).directory()
        }
        #expect(error?.description.contains("https://ca.test/dir is not an ACME directory") == true)
    }

    @Test("backoff doubles up to its bound and defers to Retry-After")
    func backoff() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (0..<6).map { _ in backoff.delay(retryAfter: nil) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(backoff.delay(retryAfter: .seconds(3)) == .seconds(3))
        #expect(backoff.delay(retryAfter: .seconds(3600)) == .seconds(60))
        #expect(backoff.delay(retryAfter: .milliseconds(300)) == .milliseconds(300))
    }

    @Test("the validation backoff grows by 20 ms for its first two seconds, then doubles up to 10 s")
    func validationBackoff() {
        var backoff = Backoff.validation
        let delays = (0..<20).map { _ in backoff.delay(retryAfter: nil) }
        #expect(Array(delays.prefix(14)) == (1...14).map { .milliseconds(20 * $0) })
        #expect(Array(delays.dropFirst(14)) == [.milliseconds(560), .milliseconds(1120), .milliseconds(2240), .milliseconds(4480),
                                                .milliseconds(8960), .seconds(10)])
        // Ten polls in the first 1.1 s: a CA that validates within a second is found quickly.
        #expect(delays.prefix(10).reduce(Duration.zero, +) == .milliseconds(1100))
    }
}
