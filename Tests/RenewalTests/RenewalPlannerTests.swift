import ACMECrypto
import Base
import CertStore
import Foundation
import Issuance
import Testing
@testable import Renewal

/// The renewal planner at a fixed `now`: no files, no CA, no clock of the host.
/// Dates computed from fractions of a lifetime, equal to the millisecond.
func close(_ a: Date, _ b: Date) -> Bool { abs(a.timeIntervalSince(b)) < 0.001 }

@Suite("renewal planner (injected clock)")
struct RenewalPlannerTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func days(_ n: Double) -> Date { now.addingTimeInterval(n * 86_400) }

    /// A lineage whose certificate was issued `age` days before `now` for `lifetime` days.
    func gathered(_ name: String, age: Double, lifetime: Double = 90, params: [(String, String)] = [],
                  renewalInfo: RenewalInfoLook = .notAsked) throws -> GatheredLineage {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let certificate = try CertificateBuilder.make(commonName: "\(name).example", dnsNames: ["\(name).example"], key: key,
                                                      notBefore: days(-age), notAfter: days(lifetime - age), isCA: false, issuer: nil)
        let directory = "/nonexistent/acme-planner-test"
        let config = RenewalConfig(version: "test", archiveDir: "\(directory)/archive/\(name)", cert: "", privkey: "", chain: "",
                                   fullchain: "", renewalParams: [("server", "https://ca.test/dir")] + params)
        return GatheredLineage(lineage: Lineage(name: name, configDirectory: directory), config: config,
                               certificate: try CertificateSummary(pem: certificate.pem), server: "https://ca.test/dir",
                               renewalInfo: renewalInfo)
    }

    func decide(_ lineage: GatheredLineage, policy: DuePolicy = DuePolicy(), filter: PlanFilter = PlanFilter()) -> RenewalPlan.Decision {
        RenewalPlanner(policy: policy, filter: filter).decide(lineage, now: now)
    }

    @Test("a certificate with more than a third of its life left is not due until then, by the lifetime rule")
    func notDue() throws {
        guard case .notDue(let until, let basis, let recheck) = decide(try gathered("a", age: 10)) else {
            Issue.record("expected not due"); return
        }
        #expect(close(until, days(50)) && basis == .lifetime && recheck == nil)
    }

    @Test("a third of the lifetime left: due now by the window; under 10 days of lifetime, half")
    func dueByWindow() throws {
        guard case .renew(.lifetime) = decide(try gathered("a", age: 61)) else { Issue.record("expected due"); return }
        guard case .renew(.lifetime) = decide(try gathered("short", age: 3.1, lifetime: 6)) else { Issue.record("expected due"); return }
        guard case .notDue(let until, _, _) = decide(try gathered("short", age: 2.9, lifetime: 6)) else { Issue.record("expected not due"); return }
        #expect(abs(until.timeIntervalSince(days(0.1))) < 1)
    }

    @Test("the CA's renewal window decides before the lifetime rule, and says when to ask again")
    func dueByARI() throws {
        let recheck = now.addingTimeInterval(6 * 3600)
        let early = try gathered("a", age: 10, renewalInfo: .answered(choice: now.addingTimeInterval(-60), recheck: recheck))
        guard case .renew(.renewalInfo) = decide(early) else { Issue.record("expected due by ARI"); return }
        let later = try gathered("a", age: 70, renewalInfo: .answered(choice: days(5), recheck: recheck))
        guard case .notDue(let until, .renewalInfo, let asked) = decide(later) else { Issue.record("expected not due by ARI"); return }
        #expect(close(until, days(5)) && asked == recheck)
        // No usable window from the CA: the lifetime rule, with the CA's recheck kept.
        guard case .notDue(let until2, .lifetime, let asked2) = decide(try gathered("a", age: 10, renewalInfo: .answered(choice: nil, recheck: recheck))) else {
            Issue.record("expected not due by lifetime"); return
        }
        #expect(close(until2, days(50)) && asked2 == recheck)
    }

    @Test("a CA that cannot be reached: decided by the dates, asked again in an hour")
    func unreachableFallsBack() throws {
        guard case .notDue(let until, .lifetime, let recheck) = decide(try gathered("a", age: 10, renewalInfo: .serverUnreachable)) else {
            Issue.record("expected not due"); return
        }
        #expect(close(until, days(50)) && recheck == now.addingTimeInterval(3600))
        guard case .renew(.lifetime) = decide(try gathered("a", age: 65, renewalInfo: .serverUnreachable)) else { Issue.record("expected due"); return }
    }

    @Test("a profile or name list changed in the conf forces a renewal; --renew-within and force decide first")
    func changesForce() throws {
        let profile = try gathered("a", age: 1, params: [("acme_issued_profile", "classic"), ("required_profile", "tlsserver")])
        guard case .renew(.profileChanged(from: "classic", to: "tlsserver")) = decide(profile) else { Issue.record("expected forced by profile"); return }
        let names = try gathered("a", age: 1, params: [("acme_domains", "a.example, b.example")])
        guard case .renew(.namesChanged) = decide(names) else { Issue.record("expected forced by names"); return }
        guard case .renew(.forced) = decide(try gathered("a", age: 1), policy: DuePolicy(force: true)) else { Issue.record("expected forced"); return }
        guard case .notDue(let until, .commandLine(days: 30), _) = decide(try gathered("a", age: 1), policy: DuePolicy(renewWithinDays: 30)) else {
            Issue.record("expected --renew-within"); return
        }
        #expect(close(until, days(59)))
    }

    @Test("a due lineage whose last certificate was held by the clock check fails without an order, with its code")
    func heldByClock() throws {
        var lineage = try gathered("a", age: 70)
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let early = try CertificateBuilder.make(commonName: "a.example", dnsNames: ["a.example"], key: key, notBefore: days(1),
                                                notAfter: days(91), isCA: false, issuer: nil)
        lineage.held = (try CertificateSummary(pem: early.pem), "/held/fullchain.pem")
        guard case .failed(let failure) = decide(lineage) else { Issue.record("expected a failure"); return }
        #expect(failure.codeName == IssuanceError.Code.clockDisagreement.name && failure.category == .caRefused)
        #expect(failure.message.contains("/held/fullchain.pem"))
        // Forced: ordered anyway. Not due: nothing to say about the held one.
        guard case .renew(.forced) = decide(lineage, policy: DuePolicy(force: true)) else { Issue.record("expected forced"); return }
        lineage = try gathered("b", age: 10)
        lineage.held = (try CertificateSummary(pem: early.pem), "/held/fullchain.pem")
        guard case .notDue = decide(lineage) else { Issue.record("expected not due"); return }
    }

    @Test("the daemon's filter: lineages backing off are left out, calm ones are never due")
    func filters() throws {
        let filter = PlanFilter(leaveOut: ["backoff"], rolloverOnly: ["calm"])
        let plan = RenewalPlanner(policy: DuePolicy(), filter: filter).plan(
            [.lineage(try gathered("backoff", age: 80)), .lineage(try gathered("calm", age: 80)), .lineage(try gathered("due", age: 80)),
             .unreadable(name: "backoff", RenewalFailure(message: "unreadable"))], now: now)
        #expect(plan.entries.map(\.name) == ["calm", "due"])
        guard case .notDue(let until, _, _) = plan["calm"]?.decision else { Issue.record("calm must not be due"); return }
        #expect(until == now.addingTimeInterval(1))
        #expect(plan.renewals.map(\.name) == ["due"])
    }

    @Test("an unreadable lineage fails with its error's code and category")
    func unreadable() throws {
        let error = CertStoreError(.malformedConfig, "renewal config lacks \"cert\"")
        let plan = RenewalPlanner(policy: DuePolicy()).plan([.unreadable(name: "broken", RenewalFailure(error))], now: now)
        guard case .failed(let failure)? = plan["broken"]?.decision else { Issue.record("expected a failure"); return }
        let report = Renewer.report(plan.entries[0])
        #expect(report.codeName == "store.malformedConfig" && report.category == .localState && failure.message.contains("lacks"))
        #expect(report.line == "broken: failed: renewal config lacks \"cert\"")
    }

    @Test("a due lineage pulls its not-due pair partner in; the ECDSA one renews first")
    func pairPulledIn() throws {
        let rsa = try gathered("a-rsa", age: 10, params: [("key_type", "rsa"), ("acme_key_pair", "z-ecdsa")])
        var ecdsa = try gathered("z-ecdsa", age: 70, params: [("key_type", "ecdsa"), ("acme_key_pair", "a-rsa")])
        ecdsa.partnerConfExists = true
        var plan = RenewalPlanner(policy: DuePolicy()).plan([.lineage(rsa), .lineage(ecdsa), .lineage(try gathered("m", age: 10))], now: now)
        #expect(plan.renewals.map(\.name) == ["z-ecdsa"])
        let pulled = RenewalPlanner.pairUp(&plan)
        #expect(pulled == ["a-rsa"])
        #expect(plan.renewals.map(\.name) == ["z-ecdsa", "a-rsa"])
        guard case .renew(.pairedWith("z-ecdsa"))? = plan["a-rsa"]?.decision else { Issue.record("expected pulled in"); return }
        guard case .notDue? = plan["m"]?.decision else { Issue.record("m stays not due"); return }
        #expect(plan.notes.isEmpty)
    }

    @Test("a due lineage whose partner's conf is gone renews alone, with a note")
    func partnerGone() throws {
        var ecdsa = try gathered("mail", age: 70, params: [("key_type", "ecdsa"), ("acme_key_pair", "mail-rsa")])
        ecdsa.partnerConfExists = false
        var plan = RenewalPlanner(policy: DuePolicy()).plan([.lineage(ecdsa)], now: now)
        #expect(RenewalPlanner.pairUp(&plan).isEmpty)
        #expect(plan.renewals.map(\.name) == ["mail"])
        #expect(plan.notes.count == 1 && plan.notes[0].message.contains("mail-rsa has no renewal conf") && plan.notes[0].severity == .info)
    }
}

@Suite("lifetime policy")
struct LifetimePolicyTests {
    let policy = LifetimePolicy.standard
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    func days(_ n: Double) -> Date { start.addingTimeInterval(n * 86_400) }

    @Test("renew at a third left, half under 10 days; the window without renew_before uses it")
    func renewal() {
        #expect(close(policy.renewalDate(notBefore: start, notAfter: days(90)), days(60)))
        #expect(close(policy.renewalDate(notBefore: start, notAfter: days(6)), days(3)))
        #expect(close(policy.renewalDate(notBefore: start, notAfter: days(10)), days(10 - 10.0 / 3)))
        #expect(close(RenewalWindow().dueDate(notBefore: start, notAfter: days(90)), days(60)))
        #expect(close(RenewalWindow(renewBefore: .seconds(86_400 * 30)).dueDate(notBefore: start, notAfter: days(90)), days(60)))
    }

    @Test("calm for a quarter of the lifetime after a renewal")
    func calm() {
        #expect(close(policy.calmUntil(renewedAt: days(1), lifetime: 90 * 86_400), days(23.5)))
        #expect(close(policy.calmUntil(renewedAt: start, lifetime: 120), start.addingTimeInterval(30)))
    }

    @Test("expiring under a sixth left (15 days of 90), emergency in the last tenth (9 days of 90)")
    func expiringAndEmergency() {
        #expect(policy.isExpiring(notBefore: start, notAfter: days(90), now: days(75.1)))
        #expect(!policy.isExpiring(notBefore: start, notAfter: days(90), now: days(74.9)))
        #expect(policy.isEmergency(notBefore: start, notAfter: days(90), now: days(81.01)))
        #expect(!policy.isEmergency(notBefore: start, notAfter: days(90), now: days(80.9)))
        #expect(close(policy.emergencyDate(notBefore: start, notAfter: days(90)), days(81)))
    }
}
