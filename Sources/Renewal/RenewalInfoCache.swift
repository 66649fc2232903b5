import ACME
import Base
import FoundationEssentials

/// A lineage's renewal information as a fleet shares it (fleet mode: the store's `acme_ari`
/// row): which certificate it is about (its RFC 9773 certificate id), the CA's window, and
/// when the CA wants to be asked again.
public struct SharedRenewalInfo: Sendable, Equatable {
    public var certificateID: String
    public var start: Date
    public var end: Date
    public var explanationURL: String?
    public var nextCheck: Date

    public init(certificateID: String, start: Date, end: Date, explanationURL: String? = nil, nextCheck: Date) {
        self.certificateID = certificateID
        self.start = start
        self.end = end
        self.explanationURL = explanationURL
        self.nextCheck = nextCheck
    }

    /// Why a shared row cannot be used for a certificate valid `notBefore`…`notAfter`, or nil.
    /// Rows come from a database, hence are untrusted: the window must meet the rules of a CA's
    /// answer (`RenewalInfo.windowProblem`), the next check at most a day (the longest pause between
    /// two queries) ahead of `now`.
    public func problem(notBefore: Date, notAfter: Date, now: Date) -> String? {
        if let problem = RenewalInfo.windowProblem(start: start, end: end, notBefore: notBefore, notAfter: notAfter) {
            return problem
        }
        if nextCheck > now.addingTimeInterval(RenewalInfoState.longestRecheck + 60) {
            return "its next check \(nextCheck.utcText) is more than a day ahead"
        }
        return nil
    }
}

/// Renewal information shared beyond this node (fleet mode: `acme_ari` in the store), so that a
/// fleet asks the CA about once per lineage and Retry-After period rather than once per node,
/// and every node decides with the same window. `load` answers the shared row for a lineage
/// (nil: none); either closure throws when the store cannot be used, and the node then decides
/// with its own state file (`RenewalInfoState`) as without a fleet.
public struct RenewalInfoCache: Sendable {
    /// What `load` throws for a row that is there but cannot be read as a window (a missing or
    /// infinite date, an oversized value): it is ignored with a note, the CA is asked, and its
    /// answer replaces the row. Any other error means the store cannot be used now.
    public struct UnusableRow: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public var load: @Sendable (_ lineage: String) async throws -> SharedRenewalInfo?
    public var save: @Sendable (_ lineage: String, _ info: SharedRenewalInfo) async throws -> Void

    public init(load: @escaping @Sendable (_ lineage: String) async throws -> SharedRenewalInfo?,
                save: @escaping @Sendable (_ lineage: String, _ info: SharedRenewalInfo) async throws -> Void) {
        self.load = load
        self.save = save
    }

    /// The moment inside a shared window, the same on every node: a fraction of the window
    /// taken from the certificate id (FNV-1a), so that nodes agree while different
    /// certificates still spread over their windows (RFC 9773 §4.2 asks for a random moment).
    public static func fraction(certificateID: String) -> Double {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in certificateID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }
}
