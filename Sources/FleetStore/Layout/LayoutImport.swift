import Base
import CertStore
import Glibc

/// `acme store import`: loads a certbot layout (certbot's or acme's) into the store, in one
/// transaction, under the config directory's lock. Everything on disk is untrusted: regular
/// files only, no link followed, sizes bounded, names checked; a layout that is not exactly
/// certbot's (an interrupted run, links that disagree, paths elsewhere) is refused, naming the
/// file, rather than imported half. Importing again changes nothing; versions renewed on disk
/// since are added.
public enum LayoutImport {
    public struct Report: Sendable, Equatable {
        public var lineages = 0
        public var versionsAdded = 0
        public var versionsAlreadyStored = 0
        public var accounts = 0

        public init(lineages: Int = 0, versionsAdded: Int = 0, versionsAlreadyStored: Int = 0, accounts: Int = 0) {
            self.lineages = lineages
            self.versionsAdded = versionsAdded
            self.versionsAlreadyStored = versionsAlreadyStored
            self.accounts = accounts
        }
    }

    static let kinds = ["cert", "chain", "fullchain", "privkey"]
    /// The transaction-scoped advisory lock around an import ("acme-imp" in ASCII).
    static let importLockKey = 0x61636d652d696d70
    static let maxConfSize = 64 << 10
    static let maxAccountDepth = 8
    static let maxEntries = 100_000

    struct DiskVersion {
        var number: Int
        var files: [String: [UInt8]]
    }

    struct DiskLineage {
        var name: String
        var conf: [UInt8]
        var originDirectory: String
        var current: Int
        var readme: [UInt8]?
        var versions: [DiskVersion]
    }

    struct DiskAccount {
        var serverPath: String
        var id: String
        var regr: [UInt8]
        var meta: [UInt8]
        var privateKey: [UInt8]
    }

    /// Opens the store (creating or migrating its tables) and imports `configDirectory` into it.
    public static func run(configDirectory: String, storeURL: String, keyFile: String?, waiting: () -> Void = {}) throws -> Report {
        try run(configDirectory: configDirectory, into: FleetStore.open(url: storeURL, keyFile: keyFile), waiting: waiting)
    }

    public static func run(configDirectory: String, into store: FleetStore, waiting: () -> Void = {}) throws -> Report {
        let directory = LocalSystem.absolutePath(configDirectory)
        let lock = try ConfigLock.acquire(configDirectory: directory, create: false, waiting: waiting)
        defer { lock.release() }
        let lineages = try readLineages(directory)
        let accounts = try readAccounts(directory)
        let liveReadme = try LayoutFiles.kind(directory + "/live/README").isFile ? LayoutFiles.read(directory + "/live/README") : nil

        var report = Report()
        let connection = store.connection
        try connection.transaction {
            // One import at a time per store: two nodes importing at once would race for the
            // same version rows and for the key check.
            try connection.execute("SELECT pg_advisory_xact_lock($1)", [.int(Self.importLockKey)])
            try store.prepareForWritingKeys()
            for lineage in lineages {
                try connection.execute("""
                    INSERT INTO acme_lineages (name, current_version, renewal_conf, config_dir, readme) VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (name) DO UPDATE SET current_version = excluded.current_version, renewal_conf = excluded.renewal_conf,
                        config_dir = excluded.config_dir, readme = excluded.readme, updated_at = now()
                    WHERE acme_lineages.current_version <= excluded.current_version
                    """, [.text(lineage.name), .int(lineage.current), .bytes(lineage.conf), .text(lineage.originDirectory),
                          lineage.readme.map(SQLValue.bytes) ?? .null])
                for version in lineage.versions {
                    let stored = try connection.execute("SELECT cert FROM acme_versions WHERE lineage = $1 AND version = $2",
                                                        [.text(lineage.name), .int(version.number)]).first?.bytes(0)
                    if let stored {
                        guard stored == version.files["cert"] else {
                            throw FleetStoreError(.conflict, "version \(version.number) of lineage \(lineage.name) in the store \(store.url.redacted) holds another certificate than \(directory)/archive/\(lineage.name)/cert\(version.number).pem; was this lineage issued separately on two nodes? Rename one (acme issue --cert-name) before importing")
                        }
                        report.versionsAlreadyStored += 1
                        continue
                    }
                    let key = try store.sealIfKeyed(version.files["privkey"]!, for: .privateKey(lineage: lineage.name, version: version.number))
                    try connection.execute("""
                        INSERT INTO acme_versions (lineage, version, cert, chain, fullchain, privkey, privkey_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)
                        """, [.text(lineage.name), .int(version.number), .bytes(version.files["cert"]!), .bytes(version.files["chain"]!),
                              .bytes(version.files["fullchain"]!), .bytes(key.bytes), .text(key.sealed ? "true" : "false")])
                    report.versionsAdded += 1
                }
                report.lineages += 1
            }
            for account in accounts {
                let key = try store.sealIfKeyed(account.privateKey, for: .accountKey(serverPath: account.serverPath, id: account.id))
                try connection.execute("""
                    INSERT INTO acme_accounts (server_path, id, regr, meta, private_key, key_sealed) VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (server_path, id) DO UPDATE SET regr = excluded.regr, meta = excluded.meta,
                        private_key = excluded.private_key, key_sealed = excluded.key_sealed, updated_at = now()
                    """, [.text(account.serverPath), .text(account.id), .bytes(account.regr), .bytes(account.meta),
                          .bytes(key.bytes), .text(key.sealed ? "true" : "false")])
                report.accounts += 1
            }
            if let liveReadme { try store.setSetting("live_readme", liveReadme) }
            try store.setSetting("directory_modes", Array(DirectoryModes(of: directory).serialized.utf8))
        }
        return report
    }

    // MARK: - Lineages

    static func readLineages(_ directory: String) throws -> [DiskLineage] {
        let confs = try LayoutFiles.list(directory + "/renewal", optional: true).filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
        guard confs.count <= maxEntries else { throw FleetStoreError(.badLayout, "\(directory)/renewal holds more than \(maxEntries) confs") }
        return try confs.map { try readLineage(String($0.dropLast(5)), in: directory) }
    }

    static func readLineage(_ name: String, in directory: String) throws -> DiskLineage {
        let confPath = "\(directory)/renewal/\(name).conf"
        do { try validatePathComponent(name, what: "certificate name") } catch {
            throw FleetStoreError(.badLayout, "\(confPath): \(error)")
        }
        let conf = try LayoutFiles.read(confPath, limit: maxConfSize)
        let parsed: RenewalConfig
        do {
            parsed = try RenewalConfig.parse(String(decoding: conf, as: UTF8.self))
        } catch {
            throw FleetStoreError(.badLayout, "\(confPath): \(error)")
        }
        // The conf names the config directory it was written in (certbot writes absolute paths);
        // it may be a copy elsewhere now. Export rewrites these five paths for its target.
        let suffix = "/archive/\(name)"
        guard parsed.archiveDir.hasSuffix(suffix), parsed.archiveDir.count > suffix.count else {
            throw FleetStoreError(.badLayout, "\(confPath): archive_dir is \(parsed.archiveDir), not <config-dir>/archive/\(name); acme store import takes only certbot's standard layout")
        }
        let origin = String(parsed.archiveDir.dropLast(suffix.count))
        for (key, value) in [("cert", parsed.cert), ("privkey", parsed.privkey), ("chain", parsed.chain), ("fullchain", parsed.fullchain)]
        where value != "\(origin)/live/\(name)/\(key).pem" {
            throw FleetStoreError(.badLayout, "\(confPath): \(key) is \(value), not \(origin)/live/\(name)/\(key).pem; acme store import takes only certbot's standard layout")
        }

        let live = "\(directory)/live/\(name)", archive = "\(directory)/archive/\(name)"
        let liveEntries = try LayoutFiles.list(live)
        var current: Int?
        for kind in kinds {
            let link = "\(live)/\(kind).pem"
            guard case .link = LayoutFiles.kind(link), let target = FS.readLink(link) else {
                throw FleetStoreError(.badLayout, "\(link) is not a link into archive/; run acme renew --cert-name \(name) (it repairs) or certbot before importing")
            }
            let prefix = "../../archive/\(name)/"
            guard target.hasPrefix(prefix), let number = LineageStore.versionNumber(String(target.dropFirst(prefix.count)), kind: kind) else {
                throw FleetStoreError(.badLayout, "\(link) points at \(target), not ../../archive/\(name)/\(kind)N.pem; acme store import takes only certbot's standard layout")
            }
            guard current == nil || current == number else {
                throw FleetStoreError(.badLayout, "the links in \(live) point at different versions (an interrupted run); run acme renew --cert-name \(name) (it repairs) before importing")
            }
            current = number
        }
        let readme = liveEntries.contains("README") ? try LayoutFiles.read(live + "/README") : nil

        let archiveEntries = try LayoutFiles.list(archive)
        guard archiveEntries.count <= maxEntries else { throw FleetStoreError(.badLayout, "\(archive) holds more than \(maxEntries) files") }
        if archiveEntries.contains(".acme-changing") {
            throw FleetStoreError(.badLayout, "\(archive) is marked as being changed by an interrupted acme run; run acme renew --cert-name \(name) (it repairs) before importing")
        }
        var numbers = Set<Int>()
        for entry in archiveEntries {
            for kind in kinds { if let number = LineageStore.versionNumber(entry, kind: kind) { numbers.insert(number) } }
        }
        var versions: [DiskVersion] = []
        for number in numbers.sorted() {
            var files: [String: [UInt8]] = [:]
            for kind in kinds {
                let file = "\(kind)\(number).pem"
                guard archiveEntries.contains(file) else {
                    throw FleetStoreError(.badLayout, "\(archive)/\(file) is missing: version \(number) is incomplete; run acme renew --cert-name \(name) (it repairs) or restore the file before importing")
                }
                files[kind] = try LayoutFiles.read("\(archive)/\(file)")
            }
            versions.append(DiskVersion(number: number, files: files))
        }
        guard let current, numbers.contains(current) else {
            throw FleetStoreError(.badLayout, "\(live) points at a version that \(archive) does not hold")
        }
        return DiskLineage(name: name, conf: conf, originDirectory: origin, current: current, readme: readme, versions: versions)
    }

    // MARK: - Accounts

    /// `accounts/<server path>/<id>/{regr,meta,private_key}.json`: a directory holding
    /// `regr.json` is an account; the path above it names the CA's directory URL.
    static func readAccounts(_ directory: String) throws -> [DiskAccount] {
        var accounts: [DiskAccount] = []
        try walkAccounts(directory + "/accounts", components: [], into: &accounts)
        return accounts
    }

    static func walkAccounts(_ path: String, components: [String], into accounts: inout [DiskAccount]) throws {
        let entries = try LayoutFiles.list(path, optional: components.isEmpty)
        if entries.contains("regr.json"), let id = components.last, components.count >= 2 {
            let serverPath = components.dropLast().joined(separator: "/")
            accounts.append(DiskAccount(serverPath: serverPath, id: id,
                                        regr: try LayoutFiles.read(path + "/regr.json"),
                                        meta: try LayoutFiles.read(path + "/meta.json"),
                                        privateKey: try LayoutFiles.read(path + "/private_key.json")))
            return
        }
        guard components.count < maxAccountDepth else {
            throw FleetStoreError(.badLayout, "\(path) is nested deeper than \(maxAccountDepth) directories under accounts/; is this certbot's accounts directory?")
        }
        for entry in entries {
            let child = path + "/" + entry
            switch LayoutFiles.kind(child) {
            case .directory:
                do { try validatePathComponent(entry, what: "directory name") } catch {
                    throw FleetStoreError(.badLayout, "\(child): \(error)")
                }
                try walkAccounts(child, components: components + [entry], into: &accounts)
                guard accounts.count <= maxEntries else { throw FleetStoreError(.badLayout, "\(path) holds more than \(maxEntries) accounts") }
            case .link:
                throw FleetStoreError(.badLayout, "\(child) is a symbolic link; acme does not follow links out of the layout it imports: replace it with the real directory")
            default:
                continue  // stray files beside account directories are not part of certbot's format
            }
        }
    }
}

/// The modes of the four top-level directories, kept so that export gives them back: certbot
/// makes renewal/ 0755, acme 0700; both make live/, archive/ and accounts/ 0700.
struct DirectoryModes: Equatable {
    static let names = ["live", "archive", "renewal", "accounts"]
    static let certbot: [String: mode_t] = ["live": 0o700, "archive": 0o700, "renewal": 0o755, "accounts": 0o700]
    var modes: [String: mode_t]

    init(of directory: String) {
        var modes = Self.certbot
        for name in Self.names {
            if LayoutFiles.kind(directory + "/" + name).isDirectory, let mode = LayoutFiles.mode(directory + "/" + name) { modes[name] = Self.bounded(mode) }
        }
        self.modes = modes
    }

    /// From the store (untrusted): unknown or malformed lines keep certbot's mode.
    init(stored: [UInt8]?) {
        var modes = Self.certbot
        for line in String(decoding: stored ?? [], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, Self.names.contains(String(parts[0])), parts[1].count <= 4, let mode = mode_t(parts[1], radix: 8) else { continue }
            modes[String(parts[0])] = Self.bounded(mode)
        }
        self.modes = modes
    }

    var serialized: String { Self.names.map { "\($0) \(String(modes[$0] ?? 0o700, radix: 8))" }.joined(separator: "\n") }

    /// The owner keeps rwx; nobody else ever gets write or special bits.
    static func bounded(_ mode: mode_t) -> mode_t { (mode & 0o755) | 0o700 }
}

extension LayoutFiles.Kind {
    var isFile: Bool { if case .file = self { true } else { false } }
}
