import ACME
import Base
import Challenges
import TestFixtures
import Testing

/// What a user's DNS-01 and manual hook scripts see (Docs/HOOKS.md). The solvers run on the
/// shared async threads here, where `BlockingCheck` stops a hook waited for in place.
@Suite("challenge hooks: the variables a script sees")
struct HookVariablesTests {
    static let dnsNames: Set = ["ACME_ACTION", "ACME_DOMAIN", "ACME_VALIDATION", "ACME_TOKEN", "ACME_TXT_NAME", "ACME_REMAINING_CHALLENGES"]

    @Test("DNS-01 hook: ACME_ACTION=add then remove with ACME_DOMAIN, ACME_VALIDATION, ACME_TOKEN, ACME_TXT_NAME, ACME_REMAINING_CHALLENGES, as documented")
    func dnsHook() async throws {
        let probe = try HookProbe()
        let solver = DNS01HookSolver(script: probe.command(), propagationWait: .zero, resolver: nil, progress: { _ in })
        await solver.willPresent(count: 2)
        try await solver.present(identifier: "a.example.com", token: "tok-a", keyAuthorization: "tok-a.thumb")
        await solver.cleanup(identifier: "a.example.com", token: "tok-a")
        let value = DNS01HookSolver.validation("tok-a.thumb")
        let seen = probe.calls().map { $0.filter { Self.dnsNames.contains($0.key) } }
        #expect(seen == [
            ["ACME_ACTION": "add", "ACME_DOMAIN": "a.example.com", "ACME_VALIDATION": value, "ACME_TOKEN": "tok-a",
             "ACME_TXT_NAME": "_acme-challenge.a.example.com", "ACME_REMAINING_CHALLENGES": "1"],
            ["ACME_ACTION": "remove", "ACME_DOMAIN": "a.example.com", "ACME_VALIDATION": value, "ACME_TOKEN": "tok-a",
             "ACME_TXT_NAME": "_acme-challenge.a.example.com", "ACME_REMAINING_CHALLENGES": "0"],
        ])
        #expect(probe.calls().allSatisfy { !$0.keys.contains { $0.hasPrefix("CERTBOT_") } })
    }

    @Test("manual hooks (certbot's): CERTBOT_DOMAIN, CERTBOT_VALIDATION, CERTBOT_TOKEN, CERTBOT_REMAINING_CHALLENGES, CERTBOT_ALL_DOMAINS; the cleanup hook gets CERTBOT_AUTH_OUTPUT and no CERTBOT_VALIDATION")
    func manualHooks() async throws {
        let probe = try HookProbe()
        for type in ["http-01", "dns-01"] {
            let solver = ManualHookSolver(challengeType: type, authHook: probe.command(then: "echo printed by auth"),
                                          cleanupHook: probe.command(), allDomains: ["a.example.com", "b.example.com"], progress: { _ in })
            await solver.willPresent(count: 2)
            try await solver.present(identifier: "b.example.com", token: "tok-b", keyAuthorization: "tok-b.thumb")
            await solver.cleanup(identifier: "b.example.com", token: "tok-b")
        }
        let seen = probe.calls(keeping: ["CERTBOT_"])
        let auth = ["CERTBOT_DOMAIN": "b.example.com", "CERTBOT_TOKEN": "tok-b", "CERTBOT_REMAINING_CHALLENGES": "1",
                    "CERTBOT_ALL_DOMAINS": "a.example.com,b.example.com"]
        let cleanup = ["CERTBOT_DOMAIN": "b.example.com", "CERTBOT_TOKEN": "tok-b", "CERTBOT_REMAINING_CHALLENGES": "0",
                       "CERTBOT_ALL_DOMAINS": "a.example.com,b.example.com", "CERTBOT_AUTH_OUTPUT": "printed by auth"]
        #expect(seen == [
            auth.merging(["CERTBOT_VALIDATION": "tok-b.thumb"]) { $1 }, cleanup,
            auth.merging(["CERTBOT_VALIDATION": DNS01HookSolver.validation("tok-b.thumb")]) { $1 }, cleanup,
        ])
    }

    @Test("the one contract: DNS-01 and manual hooks also get ACME_HOOK, ACME_ACTION, ACME_CHALLENGE_TYPE, ACME_DOMAIN… (Docs/HOOKS.md)")
    func contract() async throws {
        let probe = try HookProbe()
        let dns = DNS01HookSolver(script: probe.command(), propagationWait: .zero, resolver: nil, progress: { _ in })
        await dns.willPresent(count: 1)
        try await dns.present(identifier: "a.example.com", token: "tok-a", keyAuthorization: "tok-a.thumb")
        let manual = ManualHookSolver(challengeType: "http-01", authHook: probe.command(then: "echo out"), cleanupHook: probe.command(),
                                      allDomains: ["a.example.com", "b.example.com"], progress: { _ in })
        await manual.willPresent(count: 1)
        try await manual.present(identifier: "b.example.com", token: "tok-b", keyAuthorization: "tok-b.thumb")
        await manual.cleanup(identifier: "b.example.com", token: "tok-b")
        let seen = probe.calls(keeping: ["ACME_"])
        #expect(seen.count == 3)
        #expect(seen.first == ["ACME_HOOK": "dns", "ACME_ACTION": "add", "ACME_CHALLENGE_TYPE": "dns-01", "ACME_DOMAIN": "a.example.com",
                               "ACME_TOKEN": "tok-a", "ACME_VALIDATION": DNS01HookSolver.validation("tok-a.thumb"),
                               "ACME_TXT_NAME": "_acme-challenge.a.example.com", "ACME_REMAINING_CHALLENGES": "0"])
        let common = ["ACME_CHALLENGE_TYPE": "http-01", "ACME_DOMAIN": "b.example.com", "ACME_TOKEN": "tok-b",
                      "ACME_REMAINING_CHALLENGES": "0", "ACME_DOMAINS": "a.example.com b.example.com"]
        #expect(seen.dropFirst().first == common.merging(["ACME_HOOK": "manual-auth", "ACME_ACTION": "add", "ACME_VALIDATION": "tok-b.thumb"]) { $1 })
        #expect(seen.last == common.merging(["ACME_HOOK": "manual-cleanup", "ACME_ACTION": "remove", "ACME_AUTH_OUTPUT": "out"]) { $1 })
    }
}
