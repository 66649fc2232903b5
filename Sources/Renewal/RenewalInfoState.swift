import ACME
import Base
import CertStore
import FoundationEssentials

/// What ARI told us per lineage, kept in `<config-dir>/.acme-ari.json` between runs:
/// the window, the moment chosen inside it (chosen once, so twice-daily runs do not keep
/// re-rolling towards the window's start), and when the CA wants to be asked again
/// (its `Retry-After`). certbot ignores the file.
public struct RenewalInfoState: Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var serial: String
        public var start: Date
        public var end: Date
        public var chosen: Date
        public var nextCheck: Date
    }

    private var file: StateFile<Entry>
    public var path: String { file.path }

    /// Longest and shortest pause between two ARI queries for one certificate.
    static let longestRecheck: Double = 86_400
    static let shortestRecheck: Double = 60
    /// Used when the CA sends no Retry-After (RFC 9773 §4.3 suggests a few hours).
    static let defaultRecheck: Double = 6 * 3600

    public init(configDirectory: String) {
        file = StateFile(path: LocalSystem.absolutePath(configDirectory) + "/.acme-ari.json") { entry, check in
            for (name, date) in [("start", entry.start), ("end", entry.end), ("chosen", entry.chosen), ("nextCheck", entry.nextCheck)] {
                check.require(name, date: date)
            }
        }
    }

    /// Why the file was started afresh (a value out of range); nil when it was read as it was.
    public var note: String? { file.note }

    /// The stored entry for this lineage's current certificate, if any.
    public func entry(lineage: String, serial: String) -> Entry? {
        file[lineage].flatMap { $0.serial == serial ? $0 : nil }
    }

    /// Records an answer; keeps the previous choice when the window did not move. `fraction`
    /// (0…1, fleet mode) picks the moment inside the window instead of a random one, so that
    /// every node of a fleet picks the same.
    public mutating func record(_ info: RenewalInfo, lineage: String, serial: String, now: Date, fraction: Double? = nil) -> Entry {
        let wait = info.retryAfter.map { Double($0.components.seconds) } ?? Self.defaultRecheck
        let nextCheck = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + min(max(wait, Self.shortestRecheck), Self.longestRecheck)).rounded(.down))
        return store(start: info.start, end: info.end, nextCheck: nextCheck, lineage: lineage, serial: serial, fraction: fraction)
    }

    /// Records a window another node of the fleet asked the CA for (the store's `acme_ari` row).
    public mutating func adopt(_ shared: SharedRenewalInfo, lineage: String, serial: String) -> Entry {
        store(start: shared.start, end: shared.end, nextCheck: shared.nextCheck, lineage: lineage, serial: serial,
              fraction: RenewalInfoCache.fraction(certificateID: shared.certificateID))
    }

    private mutating func store(start: Date, end: Date, nextCheck: Date, lineage: String, serial: String, fraction: Double?) -> Entry {
        let previous = entry(lineage: lineage, serial: serial)
        let span = end.timeIntervalSince(start)
        let chosen: Date
        if let fraction {
            chosen = Date(timeIntervalSince1970: (start.timeIntervalSince1970 + max(span, 0) * min(max(fraction, 0), 1)).rounded(.down))
        } else if let previous, previous.start == start, previous.end == end {
            chosen = previous.chosen
        } else {
            // Whole seconds: the state file stores seconds since 1970.
            chosen = Date(timeIntervalSince1970: (start.timeIntervalSince1970 + (span > 0 ? Double.random(in: 0...span) : 0)).rounded(.down))
        }
        let entry = Entry(serial: serial, start: start, end: end, chosen: chosen, nextCheck: nextCheck)
        file[lineage] = entry
        return entry
    }

    public mutating func forget(lineage: String) {
        file[lineage] = nil
    }

    /// Writes the file if anything changed.
    public func save() throws { try file.save() }
}
