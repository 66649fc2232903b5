import Foundation
import TestFixtures
import Testing
@testable import DNS

/// A zone's server that names a thousand name servers, many addresses each, or never answers for
/// their addresses: `ZoneFinder` asks a bounded number of them within one deadline and names the
/// rest in one line.
@Suite("DNS fan-out bounds", .serialized, .integration)
struct DNSFanOutTests {
    static let zone = "h.test"
    static let names = (1...1000).map { "n\($0).\(zone)" }

    /// The zone's server: SOA, the thousand NS records with `glue`, silence for everything else.
    static func server(glue: [HostileDNSServer.Record]) throws -> HostileDNSServer {
        try HostileDNSServer.zone(zone, names: names, glue: glue)
    }

    /// Each query of the finder may wait 5 s; the operation has `deadline` in all.
    static func finder(_ server: HostileDNSServer, deadline: Duration) -> ZoneFinder {
        ZoneFinder(query: DNSQuery(server: DNSServer(host: "127.0.0.1", port: server.port), timeout: .seconds(5), recursionDesired: false),
                   deadline: DNSDeadline(deadline))
    }

    @Test("1,000 name servers in one NS answer, the first ten with five addresses: ten servers of two addresses asked, the rest named in one line")
    func thousandNameServers() throws {
        // Glue for every name (one address; five for the first ten): some 40 KB, so over TCP.
        let glue = Self.names.enumerated().flatMap { index, name in
            (1...(index < 10 ? 5 : 1)).map { HostileDNSServer.Record.a(name, "192.0.2.\($0)") }
        }
        let server = try Self.server(glue: glue)
        defer { server.stop() }
        let finder = Self.finder(server, deadline: .seconds(30))
        #expect(try finder.zone(of: "_25._tcp.mx.\(Self.zone)") == Self.zone)
        let found = try finder.nameservers(of: Self.zone)
        #expect(found.servers.count == DNSFanOut.maxNameServers, "\(found.servers.count) name servers to ask")
        #expect(found.servers.map(\.name) == Array(Self.names.prefix(DNSFanOut.maxNameServers)))
        #expect(found.servers.allSatisfy { $0.addresses == ["192.0.2.1", "192.0.2.2"] }, "\(found.servers)")
        let line = found.leftOut ?? ""
        #expect(line.hasPrefix("990 more name servers of h.test not asked (acme asks at most 10 of a zone): n11.h.test, n12.h.test, n13.h.test, …"), "\(line)")
        #expect(line.contains("; 30 more addresses of 10 name server(s) not asked (acme asks at most 2 per name server): n1.h.test, n2.h.test, n3.h.test, …"), "\(line)")
        #expect(!line.contains("\n") && !line.contains("n14.h.test"), "\(line)")
        // Glue was there: no address was asked for.
        #expect(!server.questions.contains { $0.type == RRType.a || $0.type == RRType.aaaa }, "\(server.questions.count) questions")
    }

    @Test("a server that never answers for the addresses of its name servers: the lookup ends at the operation's one deadline, naming the servers left without an address")
    func silentAddresses() throws {
        let server = try Self.server(glue: [])
        defer { server.stop() }
        let finder = Self.finder(server, deadline: .milliseconds(1500))
        let error = #expect(throws: DNSError.self) { try finder.nameservers(of: Self.zone) }
        #expect(error?.code == .deadline, "\(String(describing: error))")
        #expect(error?.message.contains("did not finish within 1.5 s") == true, "\(String(describing: error))")
        #expect(error?.message.contains("10 name servers of h.test not asked (no address found in time): n1.h.test, n2.h.test, n3.h.test, …") == true,
                "\(String(describing: error))")
        // The one deadline ended it, not 5 s per query for each of 1,000 names: one address question was asked.
        #expect(server.questions.filter { $0.type == RRType.a }.count == 1, "\(server.questions.map(\.name))")
    }
}
