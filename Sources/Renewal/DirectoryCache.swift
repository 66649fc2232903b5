import CertStore
import FoundationEssentials

/// Whether each ACME server offers ARI, as its directory said when last fetched, kept in
/// `<config-dir>/.acme-servers.json`. A nothing-due run then needs no network at all for
/// servers without ARI, and for ARI servers only when a certificate's Retry-After has
/// passed. Entries older than `maximumAge` are fetched again.
struct DirectoryCache {
    struct Entry: Codable, Equatable {
        var fetched: Date
        var renewalInfo: Bool
    }

    static let maximumAge: Double = 24 * 3600
    let path: String
    private(set) var entries: [String: Entry]
    private var changed = false

    init(configDirectory: String) {
        path = FS.absolute(configDirectory) + "/.acme-servers.json"
        if FS.exists(path), let text = try? FS.read(path),
           let decoded = try? Self.decoder.decode([String: Entry].self, from: Data(text.utf8)) {
            entries = decoded
        } else {
            entries = [:]
        }
    }

    /// nil when unknown or stale: the directory must be fetched.
    func offersRenewalInfo(_ server: String, now: Date) -> Bool? {
        guard let entry = entries[server], now.timeIntervalSince(entry.fetched) < Self.maximumAge,
              entry.fetched <= now else { return nil }
        return entry.renewalInfo
    }

    mutating func record(_ server: String, renewalInfo: Bool, now: Date) {
        let entry = Entry(fetched: now, renewalInfo: renewalInfo)
        if entries[server] != entry {
            entries[server] = entry
            changed = true
        }
    }

    func save() throws {
        guard changed else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        try FS.writeAtomically(path, String(decoding: try encoder.encode(entries), as: UTF8.self) + "\n", mode: 0o644)
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}
