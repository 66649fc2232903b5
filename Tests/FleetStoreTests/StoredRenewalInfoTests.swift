import FleetStore
import Foundation
import TestFixtures
import Testing

/// `acme_ari` rows against a real PostgreSQL 15: written and read back, replaced, bounded.
@Suite("fleet store: ARI rows (acme_ari)", .integration)
struct StoredRenewalInfoTests {
    @Test("a row is written, read back to the second and replaced; none for a lineage the store lacks; infinite dates read as nil; oversized values refused")
    func rows() throws {
        let server = try PostgresServer()
        let url = try server.createDatabase("fleet")
        let store = try FleetStore.open(url: url, keyFile: nil)
        try server.psql("INSERT INTO acme_lineages (name, current_version, renewal_conf, config_dir) VALUES ('mail', 1, '\\x00', '/etc/letsencrypt')", database: "fleet")
        let ari = StoredRenewalInfo(store)
        #expect(try ari.row(lineage: "mail") == nil)
        let row = StoredRenewalInfo.Row(certificateID: "aki.serial", windowStart: 1_800_000_000, windowEnd: 1_800_086_400,
                                        explanationURL: "https://ca.example/why", nextCheck: 1_700_000_060)
        try ari.put(lineage: "mail", row)
        #expect(try ari.row(lineage: "mail") == row)
        var next = row
        next.certificateID = "aki.other"
        next.explanationURL = nil
        try ari.put(lineage: "mail", next)
        #expect(try ari.row(lineage: "mail") == next)
        #expect(try server.psql("SELECT count(*) FROM acme_ari", database: "fleet").trimmingCharacters(in: .whitespacesAndNewlines) == "1")

        // A lineage the store does not hold: nothing written, no error.
        try ari.put(lineage: "unknown", row)
        #expect(try ari.row(lineage: "unknown") == nil)

        try server.psql("UPDATE acme_ari SET window_end = 'infinity', next_check = '-infinity'", database: "fleet")
        let infinite = try #require(try ari.row(lineage: "mail"))
        #expect(infinite.windowEnd == nil && infinite.nextCheck == nil && infinite.windowStart == row.windowStart)

        try server.psql("UPDATE acme_ari SET cert_id = repeat('a', 5000)", database: "fleet")
        let long = #expect(throws: FleetStoreError.self) { try ari.row(lineage: "mail") }
        #expect(long?.code == .corruptRow && long?.message.contains("mail") == true && long?.message.contains("\n") == false)
        #expect(long?.message.contains(server.password) == false)
        var oversized = row
        oversized.explanationURL = String(repeating: "u", count: 3000)
        #expect(throws: FleetStoreError.self) { try ari.put(lineage: "mail", oversized) }
    }
}
