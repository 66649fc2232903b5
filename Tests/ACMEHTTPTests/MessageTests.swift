import Testing
@testable import ACMEHTTP

@Suite("HTTP response parsing")
struct MessageTests {
    @Test("Link headers: several values, several rels, quoted and unquoted")
    func links() {
        let response = HTTPResponse(status: 200, headers: [
            ("Link", "<https://ca.test/cert/1/1>;rel=\"alternate\", <https://ca.test/dir>; rel=index"),
            ("link", "<https://ca.test/cert/1/2>; rel=\"alternate\""),
        ], body: [])
        let alternates = response.links.filter { $0.rel == "alternate" }.map(\.url)
        #expect(alternates == ["https://ca.test/cert/1/1", "https://ca.test/cert/1/2"])
        #expect(response.links.contains { $0.url == "https://ca.test/dir" && $0.rel == "index" })
    }

    @Test("Retry-After as seconds, as an HTTP-date, and garbage")
    func retryAfter() {
        func after(_ value: String) -> Duration? {
            HTTPResponse(status: 503, headers: [("Retry-After", value)], body: []).retryAfter
        }
        #expect(after("7") == .seconds(7))
        #expect(after("Sun, 06 Nov 1994 08:49:37 GMT") == .seconds(0))  // in the past: no wait
        let future = after("Fri, 01 Jan 2100 00:00:00 GMT")
        #expect(future != nil && future! > .seconds(86400 * 365))
        #expect(after("soon") == nil)
        #expect(HTTPResponse(status: 200, headers: [], body: []).retryAfter == nil)
    }

    @Test("header lookup is case-insensitive and keeps order")
    func headers() {
        let response = HTTPResponse(status: 201, headers: [("Replay-Nonce", "a"), ("replay-nonce", "b")], body: Array("hi".utf8))
        #expect(response.header("REPLAY-NONCE") == "a")
        #expect(response.headerValues("Replay-Nonce") == ["a", "b"])
        #expect(response.bodyText == "hi")
    }

    @Test("host:port for messages")
    func hostPort() {
        #expect(CurlTransport.hostPort("https://acme-v02.api.letsencrypt.org/directory") == "acme-v02.api.letsencrypt.org:443")
        #expect(CurlTransport.hostPort("https://127.0.0.1:14000/dir") == "127.0.0.1:14000")
        #expect(CurlTransport.hostPort("http://localhost/x") == "localhost:80")
    }
}
