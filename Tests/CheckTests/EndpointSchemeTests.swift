import Testing
@testable import Check

@Suite("endpoint schemes: one table")
struct EndpointSchemeTests {
    @Test("the standard mail endpoints are the table's mail schemes, in checking order, each at its default port")
    func mailPorts() throws {
        #expect(ServedCheck.standardEndpoints == ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s"])
        let ports = try ServedCheck.standardEndpoints.map { try Endpoint(parsing: "\($0)://mail.example.com").port }
        #expect(ports == [25, 587, 465, 143, 993, 110, 995])
    }

    @Test("a port names its scheme as Endpoint parses it back (acme tlsa --check's targets)")
    func portNames() throws {
        for scheme in EndpointScheme.all {
            let named = try #require(EndpointScheme.serving(port: scheme.port))
            let endpoint = try Endpoint(parsing: "\(named.name)://mail.example.com:\(scheme.port)")
            #expect(endpoint.port == scheme.port && endpoint.startTLS == scheme.startTLS, "\(scheme.name)")
        }
        #expect(EndpointScheme.serving(port: 2525) == nil)
        #expect(EndpointScheme.named("ftp") == nil)
    }
}
