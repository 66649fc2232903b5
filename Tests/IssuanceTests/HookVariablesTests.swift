import Base
import TestFixtures
import Testing
@testable import Issuance

/// What the pre, deploy and post hook scripts see (Docs/HOOKS.md; the DANE hook: DANETests).
@Suite("renewal hooks: the variables a script sees")
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

    @Test("the one contract: pre, deploy and post hooks get ACME_HOOK and ACME_ACTION; deploy also ACME_LINEAGE, ACME_LIVE_DIR, ACME_DOMAINS (DANE: DANETests)")
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
    }
}
