import Foundation
import Testing
@testable import Renewal
import ACME

/// Fleet mode's shared ARI rows as the renewer judges them (untrusted database content) and the
/// moment every node picks inside a shared window.
@Suite("shared renewal information (acme_ari rows)")
struct SharedRenewalInfoTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func days(_ n: Double) -> Date { now.addingTimeInterval(n * 86_400) }
    var notBefore: Date { days(-30) }
    var notAfter: Date { days(60) }

    func row(start: Date, end: Date, next: Date? = nil) -> SharedRenewalInfo {
        SharedRenewalInfo(certificateID: "aki.serial", start: start, end: end, nextCheck: next ?? now.addingTimeInterval(3600))
    }

    @Test("a window inside the certificate's life with a next check within a day is usable")
    func usable() {
        #expect(row(start: days(30), end: days(32)).problem(notBefore: notBefore, notAfter: notAfter, now: now) == nil)
        // A window in the past (the CA wants it renewed now) is fine too.
        #expect(row(start: days(-2), end: days(-1)).problem(notBefore: notBefore, notAfter: notAfter, now: now) == nil)
    }

    @Test("reversed, far-away windows and a next check far ahead are refused, naming what is wrong")
    func refused() throws {
        let reversed = try #require(row(start: days(32), end: days(30)).problem(notBefore: notBefore, notAfter: notAfter, now: now))
        #expect(reversed.contains("ends") && reversed.contains("before it starts"))
        let far = try #require(row(start: days(3_000_000), end: days(3_000_001)).problem(notBefore: notBefore, notAfter: notAfter, now: now))
        #expect(far.contains("not within a year"))
        let early = try #require(row(start: days(-800), end: days(30)).problem(notBefore: notBefore, notAfter: notAfter, now: now))
        #expect(early.contains("start"))
        let later = try #require(row(start: days(30), end: days(32), next: days(30)).problem(notBefore: notBefore, notAfter: notAfter, now: now))
        #expect(later.contains("more than a day ahead"))
    }

    @Test("the moment inside a shared window depends on the certificate id only: every node picks the same, certificates spread")
    func sameMomentEverywhere() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-ari-\(UUID().uuidString)").path
        var first = RenewalInfoState(configDirectory: directory + "/a")
        var second = RenewalInfoState(configDirectory: directory + "/b")
        let shared = row(start: days(30), end: days(32))
        let adopted = first.adopt(shared, lineage: "mail", serial: "01")
        let answer = RenewalInfo(start: shared.start, end: shared.end, retryAfter: .seconds(600))
        let fetched = second.record(answer, lineage: "mail", serial: "01", now: now, fraction: RenewalInfoCache.fraction(certificateID: shared.certificateID))
        #expect(adopted.chosen == fetched.chosen)
        #expect(adopted.chosen >= shared.start && adopted.chosen <= shared.end)
        #expect(adopted.nextCheck == shared.nextCheck)
        #expect(fetched.nextCheck == now.addingTimeInterval(600))
        let fractions = (0..<200).map { RenewalInfoCache.fraction(certificateID: "aki.\($0)") }
        #expect(fractions.allSatisfy { (0..<1).contains($0) })
        #expect(fractions.filter { $0 < 0.5 }.count > 60 && fractions.filter { $0 >= 0.5 }.count > 60, "spread over the window")
    }
}
