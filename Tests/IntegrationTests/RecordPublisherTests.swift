import DNS
import Foundation
import TestFixtures
import Testing

/// The RFC 2136 kind of the one record publisher (DNS-01's TXT and DANE's TLSA records) against
/// a real BIND: what dig sees after each change, and the servers a caller asks for visibility.
@Suite("record publisher, RFC2136 kind against BIND", .serialized, .integration)
struct RecordPublisherRFC2136Tests {
    static let record = TLSARecord(usage: 3, selector: 1, matching: 1, data: String(repeating: "5a", count: 32))

    func publisher(_ bind: Bind) throws -> RFC2136Publisher {
        RFC2136Publisher(updater: DNSUpdater(server: DNSServer(host: "127.0.0.1", port: UInt16(bind.port)), key: try TSIGKey(file: bind.keyFile)))
    }

    @Test("TXT and TLSA added at their owners are what BIND serves; removing one value leaves the other; the zone is found by its SOA")
    func addRemove() throws {
        let bind = try Bind()
        let publisher = try publisher(bind)
        let txtName = "_acme-challenge.mx.example.test", tlsaName = "_25._tcp.mx.example.test."
        #expect(try publisher.zone(of: txtName) == "example.test")
        // No zone given: the publisher finds it.
        try publisher.apply(RecordChange(.add, .txt("first-value"), owner: txtName, zone: nil))
        try publisher.apply(RecordChange(.add, .txt("second-value"), owner: txtName, zone: "example.test"))
        try publisher.apply(RecordChange(.add, .tlsa(Self.record), owner: tlsaName, zone: "example.test", ttl: 300))
        #expect(try Set(bind.txt(txtName)) == ["first-value", "second-value"], "\(bind.log())")
        #expect(try bind.tlsa(tlsaName) == ["3 1 1 " + String(repeating: "5a", count: 32)], "\(bind.log())")

        try publisher.apply(RecordChange(.remove, .txt("first-value"), owner: txtName, zone: "example.test"))
        try publisher.apply(RecordChange(.remove, .tlsa(Self.record), owner: tlsaName, zone: "example.test"))
        #expect(try bind.txt(txtName) == ["second-value"], "\(bind.log())")
        #expect(try bind.tlsa(tlsaName) == [], "\(bind.log())")
    }

    @Test("the authoritative servers a caller asks: every address of every NS of the zone, on the update server's port; each serves the record just added")
    func visibleAtAuthoritativeServers() throws {
        let bind = try Bind()
        let publisher = try publisher(bind)
        let owner = "_465._tcp.mx.example.test."
        try publisher.apply(RecordChange(.add, .tlsa(Self.record), owner: owner, zone: "example.test", ttl: 60))
        let found = try publisher.authoritativeServers(of: "example.test", deadline: DNSDeadline())
        #expect(found.servers.map(\.label) == ["ns1.example.test (127.0.0.1:\(bind.port))"])
        #expect(found.leftOut == nil)
        for (server, label) in found.servers {
            let answer = try TLSALookup(server: server, recursionDesired: false, label: label).records(owner)
            #expect(answer.records == [Self.record], "\(label)")
        }
    }

    @Test("an update the key may not make: DNSError updateRefused naming the key, nothing in the zone")
    func refused() throws {
        let bind = try Bind()
        let other = RFC2136Publisher(updater: DNSUpdater(server: DNSServer(host: "127.0.0.1", port: UInt16(bind.port)),
                                                         key: try TSIGKey(file: bind.otherKeyFile)))
        do {
            try other.apply(RecordChange(.add, .txt("nope"), owner: "_acme-challenge.mx.example.test", zone: "example.test"))
            Issue.record("the update went through")
        } catch let error as DNSError {
            #expect(error.code == .updateRefused, "\(error)")
            #expect(error.message.contains("other-key"), "\(error)")
        }
        #expect(try bind.txt("_acme-challenge.mx.example.test") == [])
    }
}
