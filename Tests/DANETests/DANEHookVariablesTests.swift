import Base
import DNS
import TestFixtures
import Testing
@testable import DANE

/// What the DANE hook script sees (Docs/HOOKS.md, Docs/DANE.md).
@Suite("DANE hook: the variables a script sees")
struct DANEHookVariablesTests {
    @Test("DANE hook: ACME_ACTION=tlsa-add|tlsa-remove with ACME_TLSA_OWNER, ACME_TLSA_RECORD, ACME_TLSA_TTL, ACME_TLSA_ZONE, ACME_TLSA_ROLE, ACME_LINEAGE")
    func daneHook() async throws {
        let probe = try HookProbe()
        let settings = DANESettings(owners: ["_25._tcp.mail.example.com."], ttl: 600,
                                    publisher: .hook(command: probe.command(), resolver: "127.0.0.1:53"))
        let publisher = try DANEPublisher(settings: settings, lineage: "mail.example.com", progress: { _ in })
        let record = TLSARecord(usage: 3, selector: 1, matching: 1, data: String(repeating: "ab", count: 32))
        try await onOwnThread(throwing: {
            try publisher.change(.add, record, owner: "_25._tcp.mail.example.com.", zone: "example.com", role: .next)
            try publisher.change(.remove, record, owner: "_25._tcp.mail.example.com.", zone: "example.com", role: .retiring)
        })
        let common = ["ACME_TLSA_OWNER": "_25._tcp.mail.example.com.", "ACME_TLSA_RECORD": record.presentation,
                      "ACME_TLSA_TTL": "600", "ACME_TLSA_ZONE": "example.com.", "ACME_LINEAGE": "mail.example.com"]
        let names: Set = ["ACME_ACTION", "ACME_TLSA_OWNER", "ACME_TLSA_RECORD", "ACME_TLSA_TTL", "ACME_TLSA_ZONE", "ACME_TLSA_ROLE", "ACME_LINEAGE"]
        #expect(probe.calls().map { $0.filter { names.contains($0.key) } } == [
            common.merging(["ACME_ACTION": "tlsa-add", "ACME_TLSA_ROLE": "next"]) { $1 },
            common.merging(["ACME_ACTION": "tlsa-remove", "ACME_TLSA_ROLE": "retiring"]) { $1 },
        ])
    }

    /// What a DANE hook got for one `tlsa-add` of a current key's record.
    func addedOnce() async throws -> [String: String] {
        let dane = try HookProbe()
        let settings = DANESettings(owners: ["_25._tcp.mail.example.com."], publisher: .hook(command: dane.command(), resolver: "127.0.0.1:53"))
        let publisher = try DANEPublisher(settings: settings, lineage: "mail.example.com", progress: { _ in })
        let record = TLSARecord(usage: 3, selector: 1, matching: 1, data: String(repeating: "cd", count: 32))
        try await onOwnThread(throwing: { try publisher.change(.add, record, owner: "_25._tcp.mail.example.com.", zone: "example.com", role: .current) })
        return dane.calls().first ?? [:]
    }

    @Test("acme issue --help names exactly the variables a DANE hook gets (one list: DANEHookVariables)")
    func helpNamesWhatTheHookGets() async throws {
        let named = Set(DANEHookVariables.summary.split(separator: ", ").map { String($0.split(separator: "=")[0]) })
        let received = Set(try await addedOnce().keys.filter { $0.hasPrefix("ACME_") && $0 != "ACME_HOOK" })
        #expect(named == received)
        #expect(DANEHookVariables.summary.hasPrefix("ACME_ACTION=tlsa-add|tlsa-remove, "))
    }

    @Test("the one contract: the DANE hook gets ACME_HOOK=dane")
    func contract() async throws {
        #expect(try await addedOnce()["ACME_HOOK"] == "dane")
    }
}
