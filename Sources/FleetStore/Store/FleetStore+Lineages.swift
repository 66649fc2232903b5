import Base
import CertStore
import Glibc

/// One lineage's current version as the store holds it, ready for a node's layout: the key
/// opened (with `--store-key`), the renewal conf's paths moved to the node's config directory,
/// names and sizes checked (database content is untrusted).
public struct StoredLineageVersion: Sendable {
    public var name: String
    /// The store's version number (each node numbers its own archive/ versions).
    public var version: Int
    /// The renewal conf, its five paths naming the node's config directory.
    public var conf: RenewalConfig
    public var files: LineageFiles
}

/// The cheap view of a lineage for deciding whether a node is behind: its current certificate.
public struct StoredLineageHead: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var cert: [UInt8]
}

/// The channel every publish notifies, with the lineage name as payload.
public let lineageChannel = "acme_lineages"

extension FleetStore {
    /// Every lineage's name, current version number and current certificate (no keys). A row
    /// that is not what acme writes (a name that would not be a plain path component, a size out
    /// of bounds) is left out and described in `refused`, so one bad row does not stop a fleet.
    public func lineageHeads() throws -> (heads: [StoredLineageHead], refused: [String]) {
        try StoreSchema.requireCurrent(connection)
        var heads: [StoredLineageHead] = [], refused: [String] = []
        for row in try connection.execute("""
            SELECT l.name, l.current_version, v.cert FROM acme_lineages l
            JOIN acme_versions v ON v.lineage = l.name AND v.version = l.current_version ORDER BY l.name
            """) {
            do {
                guard let name = row.string(0), let version = row.int(1), let cert = row.bytes(2) else {
                    throw FleetStoreError(.corruptRow, "a row of acme_lineages in the store \(url.redacted) lacks a column; restore the database from a backup")
                }
                try LayoutExport.checkName(name, what: "lineage name", self)
                guard (1...999_999).contains(version) else {
                    throw FleetStoreError(.corruptRow, "lineage \(name) in the store \(url.redacted) has version \(version), outside 1…999999; restore the database from a backup")
                }
                try LayoutExport.checkSize(cert, limit: LayoutExport.maxFieldSize, what: "the certificate of lineage \(name)", self)
                heads.append(StoredLineageHead(name: name, version: version, cert: cert))
            } catch {
                refused.append("\(error)")
            }
        }
        return (heads, refused)
    }

    /// Lineage `name`'s current version with its key opened and its conf moved to
    /// `configDirectory`; nil when the store does not hold the lineage.
    public func currentVersion(of name: String, configDirectory: String) throws -> StoredLineageVersion? {
        try LayoutExport.checkName(name, what: "lineage name", self)
        try prepareForReadingKeys()
        guard let row = try connection.execute("""
            SELECT l.current_version, l.renewal_conf, l.config_dir, v.cert, v.chain, v.fullchain, v.privkey, v.privkey_sealed
            FROM acme_lineages l JOIN acme_versions v ON v.lineage = l.name AND v.version = l.current_version WHERE l.name = $1
            """, [.text(name)]).first else { return nil }
        guard let number = row.int(0), (1...999_999).contains(number), let conf = row.bytes(1), let origin = row.string(2),
              let cert = row.bytes(3), let chain = row.bytes(4), let fullchain = row.bytes(5), let key = row.bytes(6), let sealed = row.bool(7) else {
            throw FleetStoreError(.corruptRow, "the current version of lineage \(name) in the store \(url.redacted) is incomplete; restore the database from a backup")
        }
        try LayoutExport.checkSize(conf, limit: LayoutImport.maxConfSize, what: "the renewal conf of lineage \(name)", self)
        for (bytes, kind) in [(cert, "cert"), (chain, "chain"), (fullchain, "fullchain"), (key, "privkey")] {
            try LayoutExport.checkSize(bytes, limit: LayoutExport.maxFieldSize, what: "\(kind)\(number).pem of lineage \(name)", self)
        }
        let privkey = try openIfSealed(key, sealed: sealed, for: .privateKey(lineage: name, version: number),
                                       what: "the private key of version \(number) of lineage \(name)")
        let directory = LocalSystem.absolutePath(configDirectory)
        let rewritten = try LayoutExport.rewriteConf(conf, name: name, from: origin, to: directory, self)
        let parsed: RenewalConfig
        do { parsed = try RenewalConfig.parse(String(decoding: rewritten, as: UTF8.self)) } catch {
            throw FleetStoreError(.corruptRow, "the renewal conf of lineage \(name) in the store \(url.redacted) is not a renewal conf: \(error)")
        }
        func text(_ bytes: [UInt8], _ kind: String) throws -> String {
            guard let string = String(validating: bytes, as: UTF8.self), !string.utf8.contains(0) else {
                throw FleetStoreError(.corruptRow, "\(kind) of version \(number) of lineage \(name) in the store \(url.redacted) is not PEM text")
            }
            return string
        }
        return StoredLineageVersion(name: name, version: number, conf: parsed,
                                    files: LineageFiles(cert: try text(cert, "cert"), chain: try text(chain, "chain"),
                                                        fullchain: try text(fullchain, "fullchain"), privkey: try text(privkey, "privkey")))
    }

    /// Publishes the live version of `lineage` (a node's own, just issued or renewed) as the
    /// store's next version, with its renewal conf, in one transaction that also notifies
    /// `acme_lineages` (delivered at commit). Returns the store's version number, or nil when
    /// the store's current certificate is already this one.
    @discardableResult
    public func publish(_ lineage: Lineage, files: LineageFiles, conf: [UInt8]) throws -> Int? {
        try validatePathComponent(lineage.name, what: "certificate name")
        let directory = lineage.configDirectory
        return try connection.transaction {
            try prepareForWritingKeys()
            // The row lock orders two publishers of one lineage (only the lock holder publishes,
            // but a node publishing what it renewed while the store was down may meet it).
            let current = try connection.execute("SELECT current_version FROM acme_lineages WHERE name = $1 FOR UPDATE",
                                                  [.text(lineage.name)]).first?.int(0)
            if let current {
                let stored = try connection.execute("SELECT cert FROM acme_versions WHERE lineage = $1 AND version = $2",
                                                    [.text(lineage.name), .int(current)]).first?.bytes(0)
                if stored == Array(files.cert.utf8) { return nil }
            }
            let maximum = try connection.execute("SELECT coalesce(max(version), 0) FROM acme_versions WHERE lineage = $1",
                                                 [.text(lineage.name)]).first?.int(0) ?? 0
            let next = maximum + 1
            guard next <= 999_999 else {
                throw FleetStoreError(.corruptRow, "lineage \(lineage.name) in the store \(url.redacted) has run out of version numbers")
            }
            try connection.execute("""
                INSERT INTO acme_lineages (name, current_version, renewal_conf, config_dir) VALUES ($1, 1, $2, $3)
                ON CONFLICT (name) DO NOTHING
                """, [.text(lineage.name), .bytes(conf), .text(directory)])
            let key = try sealIfKeyed(Array(files.privkey.utf8), for: .privateKey(lineage: lineage.name, version: next))
            try connection.execute("""
                INSERT INTO acme_versions (lineage, version, cert, chain, fullchain, privkey, privkey_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)
                """, [.text(lineage.name), .int(next), .bytes(Array(files.cert.utf8)), .bytes(Array(files.chain.utf8)),
                      .bytes(Array(files.fullchain.utf8)), .bytes(key.bytes), .text(key.sealed ? "true" : "false")])
            try connection.execute("""
                UPDATE acme_lineages SET current_version = $2, renewal_conf = $3, config_dir = $4, updated_at = now() WHERE name = $1
                """, [.text(lineage.name), .int(next), .bytes(conf), .text(directory)])
            try connection.notify(lineageChannel, payload: lineage.name)
            return next
        }
    }

    /// Writes every account the store holds that `configDirectory` lacks (certbot's
    /// `accounts/<server>/<id>/`; private key 0400, directories 0700). An account the node
    /// already has keeps its files unless the store's key differs (another node rolled it,
    /// `acme account key-rollover --store`: the account keeps its id): then the key is replaced
    /// by a rename, so a crash leaves the old key or the new one, whole, 0400 as certbot writes
    /// it. The store is the fleet's record of the account. Returns the accounts written or updated.
    @discardableResult
    public func materializeAccounts(into configDirectory: String) throws -> Int {
        try prepareForReadingKeys()
        var written = 0
        for row in try connection.execute("SELECT server_path, id, regr, meta, private_key, key_sealed FROM acme_accounts ORDER BY server_path, id") {
            guard let serverPath = row.string(0), let id = row.string(1), let regr = row.bytes(2), let meta = row.bytes(3),
                  let key = row.bytes(4), let sealed = row.bool(5) else {
                throw FleetStoreError(.corruptRow, "a row of acme_accounts in the store \(url.redacted) lacks a column; restore the database from a backup")
            }
            let components = serverPath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (1...LayoutExport.maxAccountDepth).contains(components.count) else {
                throw FleetStoreError(.corruptRow, "the store \(url.redacted) holds an account under \(serverPath), deeper than acme writes")
            }
            for component in components + [id] { try LayoutExport.checkName(component, what: "account directory name", self) }
            for bytes in [regr, meta, key] { try LayoutExport.checkSize(bytes, limit: LayoutExport.maxFieldSize, what: "account \(id)", self) }
            var path = configDirectory + "/accounts"
            let existing = path + "/" + (components + [id]).joined(separator: "/")
            let privateKey = try openIfSealed(key, sealed: sealed, for: .accountKey(serverPath: serverPath, id: id),
                                              what: "the key of account \(id) at \(serverPath)")
            if LayoutFiles.kind(existing + "/regr.json").isFile {
                guard try LayoutFiles.read(existing + "/private_key.json") != privateKey else { continue }
                // Rolled here, and the CA switched, but not yet in the store: this node's key is the newer one.
                if FS.exists(existing + "/" + Self.unpublishedKeyMarker) { continue }
                // The key first: regr.json's URL does not change with a rollover.
                try FS.writeAtomically(existing + "/private_key.json", String(decoding: privateKey, as: UTF8.self), mode: 0o400)
                try FS.writeAtomically(existing + "/regr.json", String(decoding: regr, as: UTF8.self), mode: 0o644)
                written += 1
                continue
            }
            try LayoutFiles.makeDirectory(path, mode: 0o700)
            for component in components + [id] {
                path += "/" + component
                try LayoutFiles.makeDirectory(path, mode: 0o700)
            }
            // The key first, regr.json last: an account is one once regr.json is there.
            try LayoutFiles.write(path + "/private_key.json", privateKey, mode: 0o400)
            try LayoutFiles.write(path + "/meta.json", meta, mode: 0o644)
            try LayoutFiles.write(path + "/regr.json", regr, mode: 0o644)
            FS.syncDirectory(path)
            written += 1
        }
        return written
    }

    /// In an account's directory: its key was rolled on this node and is not yet in the store,
    /// so syncing must not put the store's (older) key back. `acme account key-rollover
    /// --store` makes it before asking the CA and removes it once the store has the new key.
    public static let unpublishedKeyMarker = ".acme-key-unpublished"

    /// Removes the store's record of account `id` at `serverPath` (after `acme account
    /// deactivate --store`); true when there was one.
    @discardableResult
    public func removeAccount(serverPath: String, id: String) throws -> Bool {
        try connection.transaction {
            !(try connection.execute("DELETE FROM acme_accounts WHERE server_path = $1 AND id = $2 RETURNING id",
                                     [.text(serverPath), .text(id)])).isEmpty
        }
    }

    /// Adds every account of `configDirectory` the store lacks, in one transaction. With
    /// `replacing` (only under the account lock, after `acme account key-rollover --store` or
    /// `register --store`) an account the store has is updated to this node's files too; without
    /// it the store's row wins: a node that renewed with a key synced before another node's
    /// rollover must not put the old key back.
    @discardableResult
    public func publishAccounts(from configDirectory: String, replacing: Bool = false) throws -> Int {
        let accounts = try LayoutImport.readAccounts(LocalSystem.absolutePath(configDirectory))
        guard !accounts.isEmpty else { return 0 }
        let onConflict = replacing
            ? "DO UPDATE SET regr = excluded.regr, meta = excluded.meta, private_key = excluded.private_key, key_sealed = excluded.key_sealed, updated_at = now()"
            : "DO NOTHING"
        return try connection.transaction {
            try prepareForWritingKeys()
            for account in accounts {
                let key = try sealIfKeyed(account.privateKey, for: .accountKey(serverPath: account.serverPath, id: account.id))
                try connection.execute("""
                    INSERT INTO acme_accounts (server_path, id, regr, meta, private_key, key_sealed) VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (server_path, id) \(onConflict)
                    """, [.text(account.serverPath), .text(account.id), .bytes(account.regr), .bytes(account.meta),
                          .bytes(key.bytes), .text(key.sealed ? "true" : "false")])
            }
            return accounts.count
        }
    }
}
