import Base
import DNS
import TestFixtures
import Testing
@testable import Issuance

/// What the pre, deploy, post and DANE hook scripts see (Docs/HOOKS.md).
@Suite("renewal and DANE hooks: the variables a script sees")
struct RenewalHookVariablesTests {
    func plan(_ probe: HookProbe) -> HookPlan {
        HookPlan(runner: HookRunner(configDirectory: probe.directory, useDirectoryHooks: false, report: { _ in }))
    }

    @Test("deploy hook (certbot's): RENEWED_LINEAGE is the live directory, RENEWED_DOMAINS the names separated by spaces")
    func deployHook() async throws {
        let probe = try HookProbe()
        await plan(probe).deployed([probe.command()], livePath: "/etc/letsencrypt/live/mail.example.com",
                                   names: ["mail.example.com", "smtp.example.com"], lineage: "mail.example.com")
        #expect(probe.calls(keeping: ["RENEWED_"]) == [["RENEWED_LINEAGE": "/etc/letsencrypt/live/mail.example.com",
                                                        "RENEWED_DOMAINS": "mail.example.com smtp.example.com"]])
    }

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

    @Test("the one contract: pre, deploy and post hooks get ACME_HOOK and ACME_ACTION; deploy also ACME_LINEAGE, ACME_LIVE_DIR, ACME_DOMAINS; DANE ACME_HOOK=dane")
    func contract() async throws {
        let probe = try HookProbe()
        let hooks = plan(probe)
        await hooks.beforeContactingCA(pre: [probe.command()])
        await hooks.deployed([probe.command()], livePath: "/etc/letsencrypt/live/mail.example.com",
                             names: ["mail.example.com", "smtp.example.com"], lineage: "mail.example.com")
        await hooks.finish(post: [probe.command()])
        #expect(probe.calls(keeping: ["ACME_"]) == [
            ["ACME_HOOK": "pre", "ACME_ACTION": "pre"],
            ["ACME_HOOK": "deploy", "ACME_ACTION": "deploy", "ACME_LINEAGE": "mail.example.com",
             "ACME_LIVE_DIR": "/etc/letsencrypt/live/mail.example.com", "ACME_DOMAINS": "mail.example.com smtp.example.com"],
            ["ACME_HOOK": "post", "ACME_ACTION": "post"],
        ])
        #expect(hooks.failures.isEmpty)
        let dane = try HookProbe()
        let settings = DANESettings(owners: ["_25._tcp.mail.example.com."], publisher: .hook(command: dane.command(), resolver: "127.0.0.1:53"))
        let publisher = try DANEPublisher(settings: settings, lineage: "mail.example.com", progress: { _ in })
        let record = TLSARecord(usage: 3, selector: 1, matching: 1, data: String(repeating: "cd", count: 32))
        try await onOwnThread(throwing: { try publisher.change(.add, record, owner: "_25._tcp.mail.example.com.", zone: "example.com", role: .current) })
        #expect(dane.calls().first?["ACME_HOOK"] == "dane")
    }
}
