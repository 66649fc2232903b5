import Foundation
import Testing
@testable import Renewal
import ACME

@Suite("when a certificate is due")
struct DuePolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func days(_ n: Double) -> TimeInterval { n * 86_400 }

    @Test("lifetime rule: a third left for 90- and 45-day certificates, half for 6-day ones")
    func lifetime() {
        let policy = DuePolicy()
        for (lifetime, left) in [(90.0, 30.0), (45.0, 15.0), (6.0, 3.0)] {
            let start = now
            let end = now.addingTimeInterval(days(lifetime))
            let due = policy.dueDate(notBefore: start, notAfter: end, ariChoice: nil, renewBeforeExpiry: nil, now: now)
            #expect(abs(end.timeIntervalSince(due.date) - days(left)) < 1, "\(lifetime)-day certificate")
            #expect(due.basis == .lifetime)
        }
    }

    @Test("order: forced, then --renew-within, then ARI, then renew_before_expiry")
    func order() {
        let end = now.addingTimeInterval(days(60))
        let ari = now.addingTimeInterval(days(5))
        let start = now.addingTimeInterval(-days(30))
        #expect(DuePolicy(force: true).dueDate(notBefore: start, notAfter: end, ariChoice: ari, renewBeforeExpiry: "10 days", now: now) == (now, .forced))
        let within = DuePolicy(renewWithinDays: 70).dueDate(notBefore: start, notAfter: end, ariChoice: ari, renewBeforeExpiry: "10 days", now: now)
        #expect(within.date == end.addingTimeInterval(-days(70)) && within.basis == .commandLine(days: 70))
        #expect(DuePolicy().dueDate(notBefore: start, notAfter: end, ariChoice: ari, renewBeforeExpiry: "10 days", now: now) == (ari, .renewalInfo))
        let configured = DuePolicy().dueDate(notBefore: start, notAfter: end, ariChoice: nil, renewBeforeExpiry: "10 days", now: now)
        #expect(configured.date == end.addingTimeInterval(-days(10)) && configured.basis == .configured("10 days"))
    }

    @Test("renew_before_expiry as certbot users write it")
    func intervals() {
        #expect(DuePolicy.parseInterval("30 days") == days(30))
        #expect(DuePolicy.parseInterval("2 weeks") == days(14))
        #expect(DuePolicy.parseInterval("1 day, 12 hours") == days(1.5))
        #expect(DuePolicy.parseInterval("45") == days(45))
        #expect(DuePolicy.parseInterval("soon") == nil)
        #expect(DuePolicy.parseInterval("3 fortnights") == nil)
    }

    @Test("ARI state: the moment is chosen inside the window once, kept while the window stands, redrawn when it moves")
    func ariChoice() throws {
        let dir = NSTemporaryDirectory() + "ari-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var state = RenewalInfoState(configDirectory: dir)
        let window = RenewalInfo(start: now.addingTimeInterval(days(10)), end: now.addingTimeInterval(days(12)), retryAfter: .seconds(7200))
        let first = state.record(window, lineage: "a", serial: "01", now: now)
        #expect(first.chosen >= window.start && first.chosen <= window.end)
        #expect(first.nextCheck == now.addingTimeInterval(7200))
        try state.save()
        var reloaded = RenewalInfoState(configDirectory: dir)
        #expect(reloaded.entry(lineage: "a", serial: "01") == first)
        #expect(reloaded.entry(lineage: "a", serial: "02") == nil, "an entry for another certificate must not apply")
        #expect(reloaded.record(window, lineage: "a", serial: "01", now: now).chosen == first.chosen)
        let moved = RenewalInfo(start: now.addingTimeInterval(-days(2)), end: now.addingTimeInterval(-days(1)))
        let redrawn = reloaded.record(moved, lineage: "a", serial: "01", now: now)
        #expect(redrawn.chosen <= now && redrawn.chosen >= moved.start)
        #expect(redrawn.nextCheck == now.addingTimeInterval(6 * 3600), "no Retry-After: the default pause")
    }
}


