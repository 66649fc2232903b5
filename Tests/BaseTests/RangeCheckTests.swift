import Base
import Foundation
import Testing

/// The shared helper for numbers read back from files and rows (issue 21, item 1).
@Suite("range checks and saturating arithmetic")
struct RangeCheckTests {
    @Test("saturating conversions and arithmetic never trap")
    func saturating() {
        #expect(Int(saturating: 1e300) == .max && Int(saturating: -1e300) == .min && Int(saturating: .nan) == 0)
        #expect(Int(saturating: .infinity) == .max && Int(saturating: 9.3e18) == .max && Int(saturating: -42.9) == -42)
        #expect(Int.max.adding(saturating: 1) == .max && Int.min.adding(saturating: -1) == .min && 2.adding(saturating: 3) == 5)
        #expect(Int.max.multiplied(saturating: 3) == .max && Int.max.multiplied(saturating: -3) == .min && (-4).multiplied(saturating: 3) == -12)
        #expect(Int.max.clamped(to: 1...86_400) == 86_400 && (-5).clamped(to: 0...10) == 0 && 7.clamped(to: 0...10) == 7)
    }

    @Test("the first value out of range is named with its range; nil dates and dates 1970…9999 pass")
    func check() {
        var check = RangeCheck()
        check.require("heartbeatSeconds", 900, in: 1...86_400)
        check.require("retryAt", date: nil)
        check.require("retryAt", date: Date(timeIntervalSince1970: 253_402_300_799))
        check.require("caFailures", count: [1, 2], atMost: 2)
        #expect(check.isValid)
        check.require("failures", -1, in: 0...1_000_000)
        check.require("heartbeatSeconds", Int.max, in: 1...86_400)
        #expect(check.problem == "failures -1 (expected 0…1000000)")
        var dates = RangeCheck()
        dates.require("since", date: Date(timeIntervalSince1970: 1e300))
        #expect(dates.problem == "since 1e+300 s since 1970 (expected 1970…9999)")
        var counts = RangeCheck()
        counts.require("caFailures", count: Array(repeating: 0, count: 1001), atMost: 1000)
        #expect(counts.problem == "caFailures: 1001 entries (expected at most 1000)")
    }
}
