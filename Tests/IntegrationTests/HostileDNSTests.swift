import Foundation
import TestFixtures
import Testing

/// DNS servers acme does not control, through the real binary: what a user sees when a zone's
/// server names a thousand name servers that never answer.
@Suite("hostile DNS servers", .serialized, .integration)
struct HostileDNSTests {
    @Test("acme tlsa --check against 1,000 name servers that never answer: ten asked, the rest named in one warning line, exit 1, done in a bounded time")
    func tlsaCheckThousandSilent() throws {
        let (dir, name) = try HostileFilesTests.configWithLineage("dns-fanout")
        let zone = "example.test"
        let names = (1...1000).map { "n\($0).\(zone)" }
        // SOA and NS answers; every name server's glue is this server, which never answers for TLSA.
        let server = try HostileDNSServer.zone(zone, names: names, glue: names.map { .a($0, "127.0.0.1") })
        defer { server.stop() }
        let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/le/renewal/\(name).conf"))
        try conf.seekToEnd()
        try conf.write(contentsOf: Data("""
            acme_dane = True
            acme_dane_owners = _25._tcp.\(name).
            acme_dane_hook = true
            acme_dane_resolver = 127.0.0.1:\(server.port)

            """.utf8))
        try conf.close()
        let start = Date()
        // Nothing listens on the endpoint's port (TCP port 9, discard): refused at once, the time goes to DNS.
        let result = try run(TestSupport.acmeBinary, ["tlsa", "--check", "--cert-name", name, "--config-dir", dir + "/le",
                                                      "--endpoint", "smtp://127.0.0.1:9"], timeout: 150)
        let took = Date().timeIntervalSince(start)
        #expect(result.status == 1, "\(result.output)")
        let owner = "_25._tcp.\(name)."
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("name servers of \(zone) not asked") }
        #expect(warnings == ["warning: \(owner): 990 more name servers of \(zone) not asked (acme asks at most 10 of a zone): n11.\(zone), n12.\(zone), n13.\(zone), …"],
                "\(result.output)")
        let problems = result.stderr.split(separator: "\n").filter { $0.hasPrefix("problem: ") }
        #expect(problems.count == 10 && problems.allSatisfy { $0.hasPrefix("problem: \(owner): cannot ask n") }, "\(result.output)")
        #expect(server.questions.filter { $0.type == 52 }.count == 10, "\(server.questions.count) questions")
        // Ten servers at 2 s each; before, 1,000 of them (over half an hour).
        #expect(took < 100, "\(took) s")
    }
}
