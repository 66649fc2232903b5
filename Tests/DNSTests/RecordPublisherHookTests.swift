import Base
import TestFixtures
import Testing
@testable import DNS

/// The hook kind of the one record publisher: each user's environment, exactly (Docs/HOOKS.md),
/// and a failing hook named with its status and last line.
@Suite("record publisher, hook kind: the variables a script gets")
struct RecordPublisherHookTests {
    @Test("DNS-01's TXT: ACME_HOOK=dns, ACME_ACTION=add|remove and the ACME_* challenge variables; no CERTBOT_* and no ACME_TLSA_*")
    func dnsTXT() async throws {
        let probe = try HookProbe()
        let publisher = HookPublisher(.dns, command: probe.command())
        for (action, word) in [(RecordChange.Action.add, "add"), (.remove, "remove")] {
            let environment = HookEnvironment(action: word, challengeType: "dns-01", domain: "a.example.com", token: "tok",
                                              validation: "value", txtName: "_acme-challenge.a.example.com", remainingChallenges: 0)
            let change = RecordChange(action, .txt("value"), owner: "_acme-challenge.a.example.com", zone: nil, hookEnvironment: environment)
            try await onOwnThread(throwing: { try publisher.apply(change) })
        }
        let expected = { (action: String) in
            ["ACME_HOOK": "dns", "ACME_ACTION": action, "ACME_CHALLENGE_TYPE": "dns-01", "ACME_DOMAIN": "a.example.com", "ACME_TOKEN": "tok",
             "ACME_VALIDATION": "value", "ACME_TXT_NAME": "_acme-challenge.a.example.com", "ACME_REMAINING_CHALLENGES": "0"]
        }
        #expect(probe.calls(keeping: ["ACME_", "CERTBOT_"]) == [expected("add"), expected("remove")])
    }

    @Test("DANE's TLSA: ACME_HOOK=dane, ACME_ACTION=tlsa-add, ACME_LINEAGE and the ACME_TLSA_* details; no challenge variables")
    func daneTLSA() async throws {
        let probe = try HookProbe()
        let publisher = HookPublisher(.dane, command: probe.command(), resolver: DNSServer(host: "127.0.0.1", port: 5353))
        let record = TLSARecord(usage: 3, selector: 1, matching: 1, data: String(repeating: "ab", count: 32))
        let details = ["ACME_TLSA_OWNER": "_25._tcp.mx.example.com.", "ACME_TLSA_RECORD": record.presentation]
        let change = RecordChange(.add, .tlsa(record), owner: "_25._tcp.mx.example.com.", zone: "example.com", ttl: 300,
                                  hookEnvironment: HookEnvironment(action: "tlsa-add", lineage: "mx.example.com", details: details))
        try await onOwnThread(throwing: { try publisher.apply(change) })
        #expect(probe.calls(keeping: ["ACME_", "CERTBOT_"]) == [
            ["ACME_HOOK": "dane", "ACME_ACTION": "tlsa-add", "ACME_LINEAGE": "mx.example.com",
             "ACME_TLSA_OWNER": "_25._tcp.mx.example.com.", "ACME_TLSA_RECORD": record.presentation],
        ])
    }

    @Test("a hook that fails: RecordHookFailure with its command, exit status and last line of output")
    func failure() async throws {
        let publisher = HookPublisher(.dns, command: "echo first; echo 'the zone is locked' >&2; exit 3")
        let change = RecordChange(.add, .txt("v"), owner: "_acme-challenge.a.example.com", zone: nil)
        let outcome = await onOwnThread { Result { try publisher.apply(change) } }
        guard case .failure(let error) = outcome, let failure = error as? RecordHookFailure else {
            Issue.record("expected RecordHookFailure, got \(outcome)")
            return
        }
        #expect(failure.result.status == 3)
        #expect(failure.result.lastLine == "the zone is locked")
        #expect(failure.command.hasPrefix("echo first"))
    }

    @Test("authoritative servers: each address of each name server, on the given port, labelled name (address:port)")
    func ports() {
        let found = ZoneFinder.NameServers(servers: [(name: "ns1.example.com", addresses: ["192.0.2.1", "192.0.2.2"])], leftOut: nil)
        let withResolver = HookPublisher.servers(found, port: 5353)
        #expect(withResolver.servers.map(\.label) == ["ns1.example.com (192.0.2.1:5353)", "ns1.example.com (192.0.2.2:5353)"])
    }
}
