import FoundationEssentials

/// Numbers read back from our own files and rows (the daemon's status, the ARI and directory
/// caches, DANE state, store rows) are untrusted: a person or a bad disk may have put anything
/// there. `RangeCheck` collects what is out of range when such a file is loaded (the caller then
/// treats the file as unreadable); the saturating operations below keep arithmetic on what was
/// read from trapping (a Swift overflow is a crash, a crash loop under a restart policy).
public struct RangeCheck: Sendable {
    /// The first value out of range, as `name value (expected low…high)`; nil when all were fine.
    public private(set) var problem: String?

    public init() {}

    /// Moments a state file may hold: from 1970 to the end of year 9999 (what ISO 8601 with four
    /// digits can say; a certificate's notAfter of 9999-12-31 is allowed by RFC 5280).
    public static let dates = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799)

    public var isValid: Bool { problem == nil }

    /// Notes `name` when `value` lies outside `range`.
    public mutating func require<T: Comparable>(_ name: String, _ value: T, in range: ClosedRange<T>) {
        guard problem == nil, !range.contains(value) else { return }
        problem = "\(name) \(value) (expected \(range.lowerBound)…\(range.upperBound))"
    }

    /// Notes `name` when the date is not within `RangeCheck.dates` (nil is fine).
    public mutating func require(_ name: String, date: Date?) {
        guard problem == nil, let date, !Self.dates.contains(date) else { return }
        problem = "\(name) \(date.timeIntervalSince1970) s since 1970 (expected 1970…9999)"
    }

    /// Notes `name` when the list holds more than `limit` items.
    public mutating func require<C: Collection>(_ name: String, count collection: C, atMost limit: Int) {
        guard problem == nil, collection.count > limit else { return }
        problem = "\(name): \(collection.count) entries (expected at most \(limit))"
    }
}

extension Int {
    /// `value` rounded towards zero, saturating at `Int.min`/`Int.max`; NaN is 0.
    public init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.223372036854775e18 {
            self = .max
        } else if value <= -9.223372036854775e18 {
            self = .min
        } else {
            self = Int(value)
        }
    }

    /// The value, or the nearest bound of `range`.
    public func clamped(to range: ClosedRange<Int>) -> Int { Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }

    /// `self + other`, `Int.max` or `Int.min` instead of an overflow.
    public func adding(saturating other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self * other`, `Int.max` or `Int.min` instead of an overflow.
    public func multiplied(saturating other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : product
    }
}
