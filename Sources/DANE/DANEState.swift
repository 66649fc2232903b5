import Base
import CertStore
import DNS
import FoundationEssentials
import Issuance

/// What a lineage's DANE rollover has done so far, in `archive/<name>/.acme-dane.json` (0644;
/// certbot ignores dot files there): each TLSA record acme keeps published, the key it covers
/// (`current`: the live key; `next`: the key prepared for the next renewal; `retiring`: the key
/// a renewal replaced), whether the update went through, since when every authoritative server
/// serves it, and when a retiring record goes. Written atomically after every step, so that a
/// run killed anywhere leaves a state the next run continues from.
///
/// The file is untrusted input when read: at most 64 KiB and 16 records, each validated; a file
/// that fails is an error that names it (nothing is published or deployed on its account).
public struct DANEState: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable { case current, next, retiring }

    public struct Entry: Codable, Equatable, Sendable {
        public var role: Role
        public var record: TLSARecord
        /// Owner names the record was added at (the update went through).
        public var publishedAt: [String]
        /// First seen at every authoritative server of every owner (nil: not yet, or lost again).
        public var visibleSince: Date?
        /// A retiring record: removed at the first run after this.
        public var removeAfter: Date?

        public init(role: Role, record: TLSARecord, publishedAt: [String] = [], visibleSince: Date? = nil, removeAfter: Date? = nil) {
            self.role = role
            self.record = record
            self.publishedAt = publishedAt
            self.visibleSince = visibleSince
            self.removeAfter = removeAfter
        }
    }

    public var version = 1
    public var entries: [Entry] = []

    public init(entries: [Entry] = []) { self.entries = entries }

    public static func path(_ lineage: Lineage) -> String { lineage.archivePath + "/.acme-dane.json" }

    static let sizeLimit = 64 << 10
    static let entryLimit = 16

    /// The state of `lineage`; an absent file is an empty state.
    public static func read(_ lineage: Lineage) throws -> DANEState {
        let path = path(lineage)
        guard FS.exists(path) else { return DANEState() }
        let text: String
        do {
            text = try lineage.readArchived(FS.lastComponent(path), limit: sizeLimit)
        } catch {
            throw IssuanceError(.daneState, "cannot read the DANE state \(path): \(error); fix or delete the file (acme then starts the rollover anew and republishes)")
        }
        return try decode(text, path: path)
    }

    /// Parses and validates the file's text.
    public static func decode(_ text: String, path: String) throws -> DANEState {
        func damaged(_ what: String) -> IssuanceError {
            IssuanceError(.daneState, "the DANE state \(path) is damaged (\(what)); nothing was published or renewed for it: delete the file and run acme renew again (acme then republishes the records it needs; remove stale TLSA records by hand, see acme tlsa --check)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let state: DANEState
        do {
            state = try decoder.decode(DANEState.self, from: Data(text.utf8))
        } catch {
            throw damaged("not the JSON acme writes")
        }
        guard state.version == 1 else { throw damaged("version \(state.version), this acme knows 1") }
        guard state.entries.count <= entryLimit else { throw damaged("\(state.entries.count) records, more than \(entryLimit)") }
        for entry in state.entries {
            guard TLSARecord(presentation: entry.record.presentation) == entry.record, entry.record.selector == 1, entry.record.matching == 1,
                  entry.record.data.count == 64, [2, 3].contains(entry.record.usage) else {
                throw damaged("a record that is not a SHA-256 TLSA record of a public key")
            }
            guard entry.publishedAt.count <= 64, entry.publishedAt.allSatisfy(isDNSName) else {
                throw damaged("an owner name that is not a DNS name")
            }
            if entry.role == .retiring, entry.removeAfter == nil { throw damaged("a retiring record without its removal time") }
            var range = RangeCheck()
            range.require("visibleSince", date: entry.visibleSince)
            range.require("removeAfter", date: entry.removeAfter)
            if let problem = range.problem { throw damaged("a value out of range, \(problem)") }
        }
        for role in [Role.current, .next] where state.entries.filter({ $0.role == role }).count > 1 {
            throw damaged("more than one \(role.rawValue) record")
        }
        return state
    }

    static func isDNSName(_ text: String) -> Bool {
        do {
            _ = try DNSName.wire(text)
            return !text.isEmpty
        } catch {
            return false
        }
    }

    public func save(_ lineage: Lineage) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        try FS.writeAtomically(Self.path(lineage), String(decoding: try encoder.encode(self), as: UTF8.self) + "\n", mode: 0o644,
                               below: lineage.archiveRoot)
    }

    public func entry(_ role: Role) -> Entry? { entries.first { $0.role == role } }
    func index(_ role: Role) -> Int? { entries.firstIndex { $0.role == role } }
}
