import Base
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
    private var file: StateFile<Entry>
    var path: String { file.path }

    init(configDirectory: String) {
        file = StateFile(path: LocalSystem.absolutePath(configDirectory) + "/.acme-servers.json") { entry, check in
            check.require("fetched", date: entry.fetched)
        }
    }

    var note: String? { file.note }

    /// nil when unknown or stale: the directory must be fetched.
    func offersRenewalInfo(_ server: String, now: Date) -> Bool? {
        guard let entry = file[server], now.timeIntervalSince(entry.fetched) < Self.maximumAge,
              entry.fetched <= now else { return nil }
        return entry.renewalInfo
    }

    mutating func record(_ server: String, renewalInfo: Bool, now: Date) {
        file[server] = Entry(fetched: now, renewalInfo: renewalInfo)
    }

    func save() throws { try file.save() }
}
