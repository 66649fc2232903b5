import Base
import CertStore
import Glibc

/// `acme store export DIR`: writes the store back as a certbot layout — `archive/` with every
/// version, `live/` links relative as certbot makes them, `renewal/*.conf`, `accounts/` — with
/// certbot's modes (private keys 0600, account keys 0400, lineage directories 0755, account
/// directories 0700; live/ archive/ renewal/ accounts/ as they were when imported). The tree is built beside DIR and renamed into place in one step, so a crash leaves
/// either no DIR or the complete one. Database content is untrusted too: names are checked
/// before they become paths, sizes are bounded, and an encrypted key that does not open with
/// `--store-key` stops the export before anything is written.
public enum LayoutExport {
    public struct Report: Sendable, Equatable {
        public var lineages = 0
        public var versions = 0
        public var accounts = 0

        public init(lineages: Int = 0, versions: Int = 0, accounts: Int = 0) {
            self.lineages = lineages
            self.versions = versions
            self.accounts = accounts
        }
    }

    struct Version {
        var number: Int
        var cert: [UInt8], chain: [UInt8], fullchain: [UInt8], privkey: [UInt8]
    }

    struct Lineage {
        var name: String
        var current: Int
        var conf: [UInt8]
        var readme: [UInt8]?
        var versions: [Version]
    }

    struct Account {
        var components: [String]
        var id: String
        var regr: [UInt8], meta: [UInt8], privateKey: [UInt8]
    }

    /// Opens the store (which must exist at this acme's schema: export creates no tables) and
    /// exports it to `target`.
    public static func run(storeURL: String, keyFile: String?, to target: String) throws -> Report {
        try run(from: FleetStore.open(url: storeURL, keyFile: keyFile, migrate: false), to: target)
    }

    public static func run(from store: FleetStore, to target: String) throws -> Report {
        let target = LocalSystem.absolutePath(target)
        switch LayoutFiles.kind(target) {
        case .missing: break
        case .directory where try LayoutFiles.list(target).isEmpty: break
        default:
            throw FleetStoreError(.exportTargetExists, "\(target) already exists and is not an empty directory; export into a new directory (materializing into a live config directory comes with acme daemon --store)")
        }
        let parent = FS.parentDirectory(target)
        guard LayoutFiles.kind(parent).isDirectory else {
            throw FleetStoreError(.unwritable, "\(parent) is not a directory; create it first")
        }
        // Everything is read and checked (and every key opened) before the first byte is written.
        let (lineages, accounts, liveReadme, modes) = try read(store, target: target)

        let staging = "\(parent)/.\(FS.lastComponent(target)).acme-export-\(getpid())"
        try removeTree(staging)
        do {
            try write(lineages, accounts, liveReadme, modes, into: staging)
            guard rename(staging, target) == 0 else {
                throw FleetStoreError(.unwritable, "cannot move \(staging) to \(target): \(FS.errorText())")
            }
            FS.syncDirectory(parent)
        } catch {
            // Our own half-written tree; the error that stopped it is the one to report.
            try? removeTree(staging)
            throw error
        }
        return Report(lineages: lineages.count, versions: lineages.reduce(0) { $0 + $1.versions.count }, accounts: accounts.count)
    }

    // MARK: - Reading the store

    static let maxFieldSize = LayoutFiles.maxFileSize
    static let maxAccountDepth = LayoutImport.maxAccountDepth

    static func read(_ store: FleetStore, target: String) throws -> ([Lineage], [Account], [UInt8]?, DirectoryModes) {
        let connection = store.connection
        return try connection.transaction {
            // One snapshot for every statement: a node importing meanwhile cannot make the
            // export see a lineage row without its new version.
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try StoreSchema.requireCurrent(connection)
            try store.prepareForReadingKeys()
            var lineages: [Lineage] = []
            for row in try connection.execute("SELECT name, current_version, renewal_conf, config_dir, readme FROM acme_lineages ORDER BY name") {
                guard let name = row.string(0), let current = row.int(1), let conf = row.bytes(2), let origin = row.string(3) else {
                    throw FleetStoreError(.corruptRow, "a row of acme_lineages in the store \(store.url.redacted) lacks a column; restore the database from a backup")
                }
                try checkName(name, what: "lineage name", store)
                try checkSize(conf, limit: LayoutImport.maxConfSize, what: "the renewal conf of lineage \(name)", store)
                if let readme = row.bytes(4) { try checkSize(readme, limit: maxFieldSize, what: "the README of lineage \(name)", store) }
                var versions: [Version] = []
                for v in try connection.execute("""
                    SELECT version, cert, chain, fullchain, privkey, privkey_sealed FROM acme_versions WHERE lineage = $1 ORDER BY version
                    """, [.text(name)]) {
                    guard let number = v.int(0), (1...999_999).contains(number), let cert = v.bytes(1), let chain = v.bytes(2),
                          let fullchain = v.bytes(3), let key = v.bytes(4), let sealed = v.bool(5) else {
                        throw FleetStoreError(.corruptRow, "a version of lineage \(name) in the store \(store.url.redacted) is incomplete; restore the database from a backup")
                    }
                    for (bytes, kind) in [(cert, "cert"), (chain, "chain"), (fullchain, "fullchain"), (key, "privkey")] {
                        try checkSize(bytes, limit: maxFieldSize, what: "\(kind)\(number).pem of lineage \(name)", store)
                    }
                    let privkey = try store.openIfSealed(key, sealed: sealed, for: .privateKey(lineage: name, version: number),
                                                         what: "the private key of version \(number) of lineage \(name)")
                    versions.append(Version(number: number, cert: cert, chain: chain, fullchain: fullchain, privkey: privkey))
                }
                guard versions.contains(where: { $0.number == current }) else {
                    throw FleetStoreError(.corruptRow, "lineage \(name) in the store \(store.url.redacted) names version \(current) as current, which the store does not hold")
                }
                let rewritten = try rewriteConf(conf, name: name, from: origin, to: target, store)
                lineages.append(Lineage(name: name, current: current, conf: rewritten, readme: row.bytes(4), versions: versions))
            }
            var accounts: [Account] = []
            for row in try connection.execute("SELECT server_path, id, regr, meta, private_key, key_sealed FROM acme_accounts ORDER BY server_path, id") {
                guard let serverPath = row.string(0), let id = row.string(1), let regr = row.bytes(2), let meta = row.bytes(3),
                      let key = row.bytes(4), let sealed = row.bool(5) else {
                    throw FleetStoreError(.corruptRow, "a row of acme_accounts in the store \(store.url.redacted) lacks a column; restore the database from a backup")
                }
                let components = serverPath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                guard (1...maxAccountDepth).contains(components.count) else {
                    throw FleetStoreError(.corruptRow, "account \(id) in the store \(store.url.redacted) has a server path of \(components.count) components; is this an acme store?")
                }
                for component in components { try checkName(component, what: "account server path component", store) }
                try checkName(id, what: "account id", store)
                for (bytes, what) in [(regr, "regr.json"), (meta, "meta.json"), (key, "private_key.json")] {
                    try checkSize(bytes, limit: maxFieldSize, what: "\(what) of account \(id)", store)
                }
                let privateKey = try store.openIfSealed(key, sealed: sealed, for: .accountKey(serverPath: serverPath, id: id),
                                                        what: "the key of account \(id) at \(serverPath)")
                accounts.append(Account(components: components, id: id, regr: regr, meta: meta, privateKey: privateKey))
            }
            let liveReadme = try store.setting("live_readme")
            if let liveReadme { try checkSize(liveReadme, limit: maxFieldSize, what: "live/README", store) }
            return (lineages, accounts, liveReadme, DirectoryModes(stored: try store.setting("directory_modes")))
        }
    }

    static func checkName(_ name: String, what: String, _ store: FleetStore) throws {
        do { try validatePathComponent(name, what: what) } catch {
            throw FleetStoreError(.corruptRow, "the store \(store.url.redacted) holds an unusable \(what): \(error)")
        }
    }

    static func checkSize(_ bytes: [UInt8], limit: Int, what: String, _ store: FleetStore) throws {
        guard bytes.count <= limit else {
            throw FleetStoreError(.corruptRow, "\(what) in the store \(store.url.redacted) is larger than \(limit >> 10) KiB; is this an acme store?")
        }
    }

    /// The renewal conf with its five paths (`archive_dir`, `cert`, `privkey`, `chain`,
    /// `fullchain`) moved from the config directory it was imported from to `target`; every
    /// other byte as stored. Checked by parsing the result.
    static func rewriteConf(_ conf: [UInt8], name: String, from origin: String, to target: String, _ store: FleetStore) throws -> [UInt8] {
        var expected = ["archive_dir": "/archive/\(name)"]
        for kind in LayoutImport.kinds { expected[kind] = "/live/\(name)/\(kind).pem" }
        var lines = conf.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if origin != target {
            for index in lines.indices {
                if lines[index].hasPrefix("[") { break }  // the five paths are top-level keys
                for (key, tail) in expected where lines[index] == "\(key) = \(origin)\(tail)" {
                    lines[index] = "\(key) = \(target)\(tail)"
                }
            }
        }
        let text = lines.joined(separator: "\n")
        let parsed: RenewalConfig
        do { parsed = try RenewalConfig.parse(text) } catch {
            throw FleetStoreError(.corruptRow, "the renewal conf of lineage \(name) in the store \(store.url.redacted) is not a renewal conf: \(error)")
        }
        let paths = ["archive_dir": parsed.archiveDir, "cert": parsed.cert, "privkey": parsed.privkey, "chain": parsed.chain, "fullchain": parsed.fullchain]
        for (key, tail) in expected where paths[key] != target + tail {
            throw FleetStoreError(.corruptRow, "the renewal conf of lineage \(name) in the store \(store.url.redacted) names \(key) = \(paths[key] ?? ""), which export cannot move to \(target)\(tail)")
        }
        return Array(text.utf8)
    }

    // MARK: - Writing the layout

    static func write(_ lineages: [Lineage], _ accounts: [Account], _ liveReadme: [UInt8]?, _ modes: DirectoryModes, into root: String) throws {
        try LayoutFiles.makeDirectory(root, mode: 0o755)
        for top in ["live", "archive", "renewal"] { try LayoutFiles.makeDirectory("\(root)/\(top)", mode: modes.modes[top] ?? 0o700) }
        if let liveReadme { try LayoutFiles.write("\(root)/live/README", liveReadme, mode: 0o644) }
        for lineage in lineages {
            let archive = "\(root)/archive/\(lineage.name)", live = "\(root)/live/\(lineage.name)"
            try LayoutFiles.makeDirectory(archive, mode: 0o755)
            for version in lineage.versions {
                // certbot's modes: the key 0600, the certificates 0644.
                try LayoutFiles.write("\(archive)/privkey\(version.number).pem", version.privkey, mode: 0o600)
                try LayoutFiles.write("\(archive)/cert\(version.number).pem", version.cert, mode: 0o644)
                try LayoutFiles.write("\(archive)/chain\(version.number).pem", version.chain, mode: 0o644)
                try LayoutFiles.write("\(archive)/fullchain\(version.number).pem", version.fullchain, mode: 0o644)
            }
            FS.syncDirectory(archive)
            try LayoutFiles.makeDirectory(live, mode: 0o755)
            for kind in LayoutImport.kinds {
                try LayoutFiles.symlink("../../archive/\(lineage.name)/\(kind)\(lineage.current).pem", at: "\(live)/\(kind).pem")
            }
            if let readme = lineage.readme { try LayoutFiles.write("\(live)/README", readme, mode: 0o644) }
            FS.syncDirectory(live)
            try LayoutFiles.write("\(root)/renewal/\(lineage.name).conf", lineage.conf, mode: 0o644)
        }
        if !accounts.isEmpty { try LayoutFiles.makeDirectory("\(root)/accounts", mode: modes.modes["accounts"] ?? 0o700) }
        for account in accounts {
            var path = "\(root)/accounts"
            for component in account.components + [account.id] {
                path += "/" + component
                try LayoutFiles.makeDirectory(path, mode: 0o700)
            }
            try LayoutFiles.write(path + "/private_key.json", account.privateKey, mode: 0o400)
            try LayoutFiles.write(path + "/regr.json", account.regr, mode: 0o644)
            try LayoutFiles.write(path + "/meta.json", account.meta, mode: 0o644)
            FS.syncDirectory(path)
        }
        for top in ["live", "archive", "renewal", "accounts"] { FS.syncDirectory("\(root)/\(top)") }
        FS.syncDirectory(root)
    }

    /// Removes a tree export made (never following a link: a link is removed, not its target).
    static func removeTree(_ path: String) throws {
        switch LayoutFiles.kind(path) {
        case .missing: return
        case .directory:
            for entry in try FS.list(path) { try removeTree(path + "/" + entry) }
            guard rmdir(path) == 0 else { throw FleetStoreError(.unwritable, "cannot remove \(path): \(FS.errorText())") }
        default:
            guard unlink(path) == 0 else { throw FleetStoreError(.unwritable, "cannot remove \(path): \(FS.errorText())") }
        }
    }
}
