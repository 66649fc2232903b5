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
        file = StateFile(path: LocalSystem.absolutePath(configDirectory) + "/.acme-ari.json")
    }

    /// The stored entry for this lineage's current certificate, if any.
    public func entry(lineage: String, serial: String) -> Entry? {
        file[lineage].flatMap { $0.serial == serial ? $0 : nil }
    }

    /// Records an answer; keeps the previous choice when the window did not move.
    public mutating func record(_ info: RenewalInfo, lineage: String, serial: String, now: Date) -> Entry {
        let previous = entry(lineage: lineage, serial: serial)
        let chosen: Date
        if let previous, previous.start == info.start, previous.end == info.end {
            chosen = previous.chosen
        } else {
            let span = info.end.timeIntervalSince(info.start)
            // Whole seconds: the state file stores seconds since 1970.
            chosen = Date(timeIntervalSince1970: (info.start.timeIntervalSince1970 + (span > 0 ? Double.random(in: 0...span) : 0)).rounded(.down))
        }
        let wait = info.retryAfter.map { Double($0.components.seconds) } ?? Self.defaultRecheck
        let entry = Entry(serial: serial, start: info.start, end: info.end, chosen: chosen,
                          nextCheck: Date(timeIntervalSince1970: (now.timeIntervalSince1970 + min(max(wait, Self.shortestRecheck), Self.longestRecheck)).rounded(.down)))
        file[lineage] = entry
        return entry
    }

    public mutating func forget(lineage: String) {
        file[lineage] = nil
    }

    /// Writes the file if anything changed.
    public func save() throws { try file.save() }
}
