import Base
import TestFixtures
import Testing
@testable import Check

@Suite("endpoint URLs")
struct EndpointTests {
    @Test("default ports and STARTTLS per scheme")
    func defaults() throws {
        let cases: [(String, Int, Endpoint.StartTLS?)] = [
            ("smtp://mail.example.com", 25, .smtp), ("submission://mail.example.com", 587, .smtp), ("smtps://mail.example.com", 465, nil),
            ("imap://mail.example.com", 143, .imap), ("imaps://mail.example.com", 993, nil), ("pop3://mail.example.com", 110, .pop3),
            ("pop3s://mail.example.com", 995, nil), ("https://mail.example.com", 443, nil),
        ]
        for (text, port, startTLS) in cases {
            let endpoint = try Endpoint(parsing: text)
            #expect(endpoint.port == port && endpoint.startTLS == startTLS && endpoint.host == "mail.example.com", "\(text)")
        }
    }

    @Test("explicit ports, IPv6 literals, paths ignored; bad input is one clear line")
    func parsing() throws {
        #expect(try Endpoint(parsing: "SMTP://Mail.Example.com:2525").description == "smtp://mail.example.com:2525")
        #expect(try Endpoint(parsing: "imaps://[::1]:10993").host == "::1")
        #expect(try Endpoint(parsing: "https://mail.example.com/status").port == 443)
        #expect((#expect(throws: CheckError.self) { try Endpoint(parsing: "mail.example.com") })?.code == .invalidEndpoint)
        #expect((#expect(throws: CheckError.self) { try Endpoint(parsing: "ftp://mail.example.com") })?.code == .invalidEndpoint)
        #expect((#expect(throws: CheckError.self) { try Endpoint(parsing: "smtp://mail.example.com:99999") })?.code == .invalidEndpoint)
        #expect((#expect(throws: CheckError.self) { try Endpoint(parsing: "smtp://:25") })?.code == .invalidEndpoint)
    }
}

@Suite("alert mail", .integration)
struct AlertTests {
    @Test("a sendmail that never finishes is stopped at the deadline instead of holding the run")
    func hangingSendmail() {
        let result = Subprocess().run(["/bin/sh", "-c", "cat >/dev/null; sleep 60"], input: "To: x\n\n", timeout: .seconds(1))
        #expect(result.status == 124)
        #expect(result.lastLine.contains("did not finish within"))
        // A program that finishes in time is unaffected.
        #expect(Subprocess().run(["/bin/sh", "-c", "echo done"], timeout: .seconds(5)).output == "done\n")
    }
}
