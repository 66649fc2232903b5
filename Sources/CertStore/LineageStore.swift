import Base
import CSystem
import FoundationEssentials
import Glibc

/// The four PEM texts of one certificate version.
public struct LineageFiles: Sendable, Equatable {
    public var cert: String
    public var chain: String
    public var fullchain: String
    public var privkey: String

    public init(cert: String, chain: String, fullchain: String, privkey: String) {
        self.cert = cert
        self.chain = chain
        self.fullchain = fullchain
        self.privkey = privkey
    }
}

/// One certificate lineage: `live/<name>`, `archive/<name>`, `renewal/<name>.conf`.
public struct Lineage: Sendable {
    public var name: String
    public var configDirectory: String

    public init(name: String, configDirectory: String) {
        self.name = name
        self.configDirectory = configDirectory
    }

    public var livePath: String { "\(configDirectory)/live/\(name)" }
    public var archivePath: String { "\(configDirectory)/archive/\(name)" }
    public var certPath: String { livePath + "/cert.pem" }
    public var chainPath: String { livePath + "/chain.pem" }
    public var fullchainPath: String { livePath + "/fullchain.pem" }
    public var privkeyPath: String { livePath + "/privkey.pem" }
    public var renewalConfigPath: String { "\(configDirectory)/renewal/\(name).conf" }
    /// A key made in advance (`acme tlsa --next`) that the next renewal uses, so its DANE
    /// record can be published before the renewal. certbot ignores it.
    public var nextKeyPath: String { archivePath + "/.acme-next-privkey.pem" }
}

/// Reads and writes lineages in certbot's layout. New versions are written
/// completely (and flushed) under `archive/` before `live/` changes; `live/<name>/`
/// then changes in one step: a complete new directory of four links is
/// exchanged with the old one (renameat2 RENAME_EXCHANGE), so at every instant
/// `live/<name>/privkey.pem` and `cert.pem` belong to the same version.
/// An interrupted run is put right by `repair`.
public struct LineageStore: Sendable {
    public let configDirectory: String
    static let kinds = ["cert", "chain", "fullchain", "privkey"]

    public init(configDirectory: String) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
    }

    /// `preferred` when given, else the first name without `*.`; a clash
    /// with an existing lineage gets `-0001`, `-0002`, … as in certbot.
    public func chooseName(preferred: String?, firstDomain: String) throws -> String {
        if let preferred {
            try validatePathComponent(preferred, what: "certificate name")
            return preferred
        }
        let base = firstDomain.hasPrefix("*.") ? String(firstDomain.dropFirst(2)) : firstDomain
        try validatePathComponent(base, what: "certificate name")
        var candidate = base
        var counter = 1
        while taken(candidate) {
            candidate = base + "-" + String(repeating: "0", count: max(0, 4 - String(counter).count)) + String(counter)
            counter += 1
        }
        return candidate
    }

    private func taken(_ name: String) -> Bool {
        let lineage = Lineage(name: name, configDirectory: configDirectory)
        return FS.exists(lineage.renewalConfigPath) || FS.exists(lineage.livePath) || FS.exists(lineage.archivePath)
            || FS.exists(creationMarker(lineage))
    }

    public func lineage(named name: String) throws -> Lineage? {
        try validatePathComponent(name, what: "certificate name")
        let lineage = Lineage(name: name, configDirectory: configDirectory)
        return FS.exists(lineage.renewalConfigPath) ? lineage : nil
    }

    /// Every lineage with a renewal conf. A config directory that does not exist is an error
    /// (never "no certificates"); one without renewal/ has none.
    /// The lineage `name`, or an error that names the directory and points at `acme certificates`.
    public func existingLineage(named name: String) throws -> Lineage {
        try ConfigDirectory.requireExisting(configDirectory)
        guard let lineage = try lineage(named: name) else {
            throw CertStoreError(.noSuchLineage, "no certificate named \(name) under \(configDirectory)/renewal; see acme certificates")
        }
        return lineage
    }

    /// `acme delete`: under the config lock, removes the named lineage.
    public func delete(named name: String, waiting: () -> Void = {}) throws -> Lineage {
        try validatePathComponent(name, what: "certificate name")
        let lock = try ConfigLock.acquire(configDirectory: configDirectory, create: false, waiting: waiting)
        defer { lock.release() }
        let lineage = try existingLineage(named: name)
        try delete(lineage)
        return lineage
    }

    public func allLineages() throws -> [Lineage] {
        try ConfigDirectory.requireExisting(configDirectory)
        return try FS.listIfPresent(configDirectory + "/renewal")
            .filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
            .map { Lineage(name: String($0.dropLast(5)), configDirectory: configDirectory) }
    }

    public func renewalConfig(of lineage: Lineage) throws -> RenewalConfig {
        let text = try FS.read(lineage.renewalConfigPath, limit: 64 << 10)
        do {
            return try RenewalConfig.parse(text)
        } catch let error as CertStoreError {
            throw CertStoreError(error.code, "\(lineage.renewalConfigPath): \(error.message)")
        }
    }

    /// Creates the lineage so that a run that fails or dies half-way leaves either nothing or a
    /// complete lineage: `archive/.<name>.acme-creating` (holding the renewal conf to write) is
    /// written first, then version 1, the live links and the conf; the marker goes last. A
    /// failure undoes what was made; a crash is finished or undone by `finishInterruptedCreations`.
    public func create(name: String, files: LineageFiles, renewalParams: [(key: String, value: String)],
                       webrootMap: [(domain: String, path: String)] = [], version: String) throws -> Lineage {
        try validatePathComponent(name, what: "certificate name")
        let lineage = Lineage(name: name, configDirectory: configDirectory)
        guard !taken(name) else { throw CertStoreError(.exists, "certificate \(name) already exists under \(configDirectory)") }
        for top in ["live", "archive", "renewal"] {
            try FS.makeDirectories(configDirectory + "/" + top, mode: 0o700)
        }
        let liveReadme = configDirectory + "/live/README"
        if !FS.exists(liveReadme) { try FS.writeAtomically(liveReadme, Self.readme(prefix: "[cert name]/"), mode: 0o644) }
        let config = RenewalConfig(version: version, archiveDir: lineage.archivePath, cert: lineage.certPath,
                                   privkey: lineage.privkeyPath, chain: lineage.chainPath, fullchain: lineage.fullchainPath,
                                   renewalParams: renewalParams, webrootMap: webrootMap)
        try FS.writeAtomically(creationMarker(lineage), config.serialized(), mode: 0o600)
        do {
            try FS.makeDirectories(lineage.archivePath, mode: 0o755)
            try writeArchive(lineage, files: files, version: 1)
            try pointLive(lineage, at: 1)
            try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: 0o644)
        } catch {
            // A key without a renewal conf would never be renewed, and the next run would fork <name>-0001.
            do { try abandonCreation(lineage) } catch {
                throw CertStoreError(.unwritable, "could not create lineage \(name) (\(error)), nor remove what was made; the next run under \(configDirectory) finishes or removes it")
            }
            throw error
        }
        try FS.remove(creationMarker(lineage))
        FS.syncDirectory(configDirectory + "/archive")
        return lineage
    }

    /// `archive/.<name>.acme-creating`: present while a run creates the lineage; it holds the
    /// renewal conf that run was about to write. Outside `archive/<name>/`, so that it is there
    /// before anything of the lineage is (certbot ignores it: it looks at renewal/*.conf).
    func creationMarker(_ lineage: Lineage) -> String { "\(configDirectory)/archive/.\(lineage.name).acme-creating" }

    /// Puts right what a first issuance that died half-way left (its marker is still there):
    /// finished when version 1 is complete and its key matches its certificate (live links, then
    /// the renewal conf the marker holds), removed otherwise, so that the name is not forked.
    /// Lineages whose conf exists only lose a stale marker. The caller holds the lock.
    public func finishInterruptedCreations(pairMatches: (String, String) -> Bool) throws -> [String] {
        let archive = configDirectory + "/archive"
        var actions: [String] = []
        for file in try FS.listIfPresent(archive) where file.hasPrefix(".") {
            if file.contains(".acme-creating.tmp-") {
                try FS.remove(archive + "/" + file)
                continue
            }
            guard file.hasSuffix(".acme-creating") else { continue }
            let name = String(file.dropFirst().dropLast(".acme-creating".count))
            guard (try? validatePathComponent(name, what: "certificate name")) != nil else { continue }  // not one of ours
            do {
                if let action = try finishCreation(Lineage(name: name, configDirectory: configDirectory), pairMatches: pairMatches) {
                    actions.append(action)
                }
            } catch {
                actions.append("cannot put right the interrupted first issuance of \(name): \(error)")
            }
        }
        return actions
    }

    private func finishCreation(_ lineage: Lineage, pairMatches: (String, String) -> Bool) throws -> String? {
        var action: String?
        if !FS.exists(lineage.renewalConfigPath) {
            try requireRealDirectories(lineage)
            let text = try FS.read(creationMarker(lineage), limit: 64 << 10)
            // Unreadable files of version 1 make it incomplete: what was left is removed.
            let complete = isComplete(lineage, version: 1)
                && (try? FS.read("\(lineage.archivePath)/privkey1.pem")).flatMap { key in
                    (try? FS.read("\(lineage.archivePath)/cert1.pem")).map { pairMatches(key, $0) } } == true
            // A marker that is not a conf (hand-edited, cut short) cannot be finished either.
            if complete, (try? RenewalConfig.parse(text)) != nil {
                try pointLive(lineage, at: 1)
                try FS.writeAtomically(lineage.renewalConfigPath, text, mode: 0o644)
                action = "finished lineage \(lineage.name), whose first issuance was interrupted"
            } else {
                try abandonCreation(lineage)
                return "removed what an interrupted first issuance of \(lineage.name) left (no complete certificate)"
            }
        }
        try FS.remove(creationMarker(lineage))
        return action
    }

    /// Removes a lineage being created (live links, staging, archive), then its marker.
    private func abandonCreation(_ lineage: Lineage) throws {
        try requireRealDirectories(lineage)
        try removeLinkDirectory(stagingPath(lineage))
        try removeLinkDirectory(lineage.livePath)
        try FS.removeManagedDirectory(lineage.archivePath)
        try FS.remove(creationMarker(lineage))
        FS.syncDirectory(configDirectory + "/archive")
    }

    /// Writes version N+1 under `archive/`, makes it live in one step, then updates the renewal conf.
    public func addVersion(to lineage: Lineage, files: LineageFiles, renewalParams: [(key: String, value: String)]?,
                           webrootMap: [(domain: String, path: String)]? = nil, version: String) throws {
        try requireRealDirectories(lineage)
        var config = try renewalConfig(of: lineage)
        let next = (try allArchiveVersions(lineage).max() ?? 0) + 1
        try beginChange(lineage)
        try writeArchive(lineage, files: files, version: next)
        try pointLive(lineage, at: next)
        config.version = version
        if let renewalParams { config.renewalParams = renewalParams }
        if let webrootMap, !webrootMap.isEmpty { config.webrootMap = webrootMap }
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: FS.mode(lineage.renewalConfigPath) ?? 0o644)
        _ = try prune(lineage, versions: allArchiveVersions(lineage), current: next, keep: 5)
        endChange(lineage)
    }

    /// Where a new certificate waits that was not made live because this host's clock says it is
    /// not valid (`archive/<name>/.acme-held-{privkey,fullchain}.pem`; certbot ignores them).
    public func heldPaths(_ lineage: Lineage) -> (privkey: String, fullchain: String) {
        (lineage.archivePath + "/.acme-held-privkey.pem", lineage.archivePath + "/.acme-held-fullchain.pem")
    }

    /// Keeps a new certificate aside instead of making it live; the key first, so the
    /// fullchain's presence means both are there. Replaces an older held one.
    public func hold(_ lineage: Lineage, privkey: String, fullchain: String) throws {
        try requireRealDirectories(lineage)
        let paths = heldPaths(lineage)
        try FS.remove(paths.fullchain)
        try FS.writeAtomically(paths.privkey, privkey, mode: 0o600)
        try FS.writeAtomically(paths.fullchain, fullchain, mode: 0o644)
    }

    /// The held certificate and key, or nil when there is none (or it cannot be read: then it is
    /// as if none were held, and a renewal orders a new one).
    public func held(_ lineage: Lineage) -> (privkey: String, fullchain: String)? {
        let paths = heldPaths(lineage)
        guard FS.exists(paths.fullchain), let chain = try? FS.read(paths.fullchain, limit: 1 << 20),
              let key = try? FS.read(paths.privkey, limit: 1 << 20) else { return nil }
        return (key, chain)
    }

    /// Forgets the held certificate (a newer version was made live).
    public func dropHeld(_ lineage: Lineage) throws {
        let paths = heldPaths(lineage)
        try FS.remove(paths.fullchain)
        try FS.remove(paths.privkey)
    }

    /// The version the live `cert.pem` points at.
    public func currentVersion(of lineage: Lineage) throws -> Int {
        guard let target = FS.readLink(lineage.certPath) else {
            throw CertStoreError(.damaged, "\(lineage.certPath) is not a link into archive/; the lineage is damaged")
        }
        guard let number = Self.versionNumber(FS.lastComponent(target), kind: "cert") else {
            throw CertStoreError(.damaged, "\(lineage.certPath) points at \(target), which is not a certN.pem")
        }
        return number
    }

    public func readLive(_ lineage: Lineage) throws -> LineageFiles {
        LineageFiles(cert: try lineage.readLive("cert"), chain: try lineage.readLive("chain"),
                     fullchain: try lineage.readLive("fullchain"), privkey: try lineage.readLive("privkey"))
    }

    /// Version numbers present under `archive/<name>/` (by certN.pem).
    public func archiveVersions(_ lineage: Lineage) throws -> [Int] {
        try FS.listIfPresent(lineage.archivePath).compactMap { Self.versionNumber($0, kind: "cert") }
    }

    /// Version numbers of any archived file, complete or not (certbot's next_free_version counts them all).
    func allArchiveVersions(_ lineage: Lineage) throws -> Set<Int> {
        let files = try FS.listIfPresent(lineage.archivePath)
        return Set(Self.kinds.flatMap { kind in files.compactMap { Self.versionNumber($0, kind: kind) } })
    }

    /// The version each live link points at (nil for a link that is missing or foreign).
    public func liveVersions(_ lineage: Lineage) -> [String: Int?] {
        var result: [String: Int?] = [:]
        for kind in Self.kinds {
            let target = FS.readLink("\(lineage.livePath)/\(kind).pem")
            result[kind] = target.flatMap { Self.versionNumber(FS.lastComponent($0), kind: kind) }
        }
        return result
    }

    /// Whether all four archive files of `version` exist.
    func isComplete(_ lineage: Lineage, version: Int) -> Bool {
        Self.kinds.allSatisfy { FS.exists("\(lineage.archivePath)/\($0)\(version).pem") }
    }

    /// Puts right what an interrupted run (ours or certbot's) left behind, and says what it did:
    /// a staging directory or temporary files; live links that point at different versions
    /// (they are pointed at the newest complete version whose key matches its certificate);
    /// a version written to `archive/` but never made live (made live if it is complete and
    /// its key matches, removed otherwise); more old versions than `keep`.
    /// `pairMatches(privkeyPEM, certPEM)` decides matching. The caller holds the lock.
    public func repair(_ lineage: Lineage, keep: Int = 5, pairMatches: (String, String) -> Bool) throws -> [String] {
        try requireRealDirectories(lineage)
        var actions: [String] = []
        let staging = stagingPath(lineage)
        if FS.exists(staging) {
            try removeLinkDirectory(staging)
            actions.append("removed \(staging) left by an interrupted run")
        }
        // Temporary files of writeAtomically/replaceSymlink from a killed run.
        for directory in [lineage.archivePath, lineage.livePath] {
            for file in try FS.listIfPresent(directory) where file.hasPrefix(".") && (file.contains(".tmp-") || file.contains(".link-")) {
                unlink(directory + "/" + file)
                actions.append("removed \(directory)/\(file) left by an interrupted run")
            }
        }
        let renewalDirectory = configDirectory + "/renewal"
        for file in try FS.listIfPresent(renewalDirectory) where file.hasPrefix(".\(lineage.name).conf.tmp-") {
            unlink(renewalDirectory + "/" + file)
            actions.append("removed \(renewalDirectory)/\(file) left by an interrupted run")
        }
        func matches(_ version: Int) -> Bool {
            // A version whose files cannot be read is not a candidate: repair falls back to an older one.
            guard isComplete(lineage, version: version),
                  let key = try? lineage.readArchived("privkey\(version).pem"),
                  let cert = try? lineage.readArchived("cert\(version).pem") else { return false }
            return pairMatches(key, cert)
        }
        let live = liveVersions(lineage)
        let pointed = Set(live.values.compactMap { $0 })
        var current: Int? = pointed.count == 1 && live.values.allSatisfy({ $0 != nil }) ? pointed.first : nil
        if current == nil {
            // Mixed or broken links: the newest complete, matching version wins.
            guard let good = try allArchiveVersions(lineage).sorted(by: >).first(where: matches) else {
                throw CertStoreError(.damaged, "lineage \(lineage.name): the links in \(lineage.livePath) disagree and no archived version has a key matching its certificate; restore \(lineage.archivePath) from a backup or issue anew")
            }
            try pointLive(lineage, at: good)
            actions.append("pointed \(lineage.livePath) at version \(good) (its links disagreed)")
            current = good
        }
        guard var current else { return actions }
        let versions = try allArchiveVersions(lineage)
        for version in versions.sorted() where version > current {
            if matches(version) {
                try pointLive(lineage, at: version)
                actions.append("made version \(version) live (a run was interrupted before it could)")
                current = version
            } else {
                removeVersion(lineage, version)
                actions.append("removed incomplete version \(version) from \(lineage.archivePath)")
            }
        }
        let pruned = try prune(lineage, versions: versions.filter { $0 <= current }, current: current, keep: keep)
        if !pruned.isEmpty { actions.append("removed old versions \(pruned.map(String.init).joined(separator: ", "))") }
        if FS.exists(changeMarker(lineage)) { endChange(lineage) }
        return actions
    }

    /// Deletes archived versions older than the live one beyond the `keep` newest of them.
    @discardableResult
    public func prune(_ lineage: Lineage, keep: Int = 5) throws -> [Int] {
        let current = try currentVersion(of: lineage)
        return try prune(lineage, versions: allArchiveVersions(lineage), current: current, keep: keep)
    }

    private func prune(_ lineage: Lineage, versions: Set<Int>, current: Int, keep: Int) throws -> [Int] {
        let older = versions.filter { $0 < current }.sorted(by: >)
        let doomed = Array(older.dropFirst(keep))
        for version in doomed { removeVersion(lineage, version) }
        if !doomed.isEmpty { FS.syncDirectory(lineage.archivePath) }
        return doomed
    }

    /// Removes the lineage: its renewal conf first (so a crash leaves nothing renewable
    /// half-deleted), then `live/<name>/`, then `archive/<name>/`.
    public func delete(_ lineage: Lineage) throws {
        try requireRealDirectories(lineage)
        guard unlink(lineage.renewalConfigPath) == 0 || errno == ENOENT else {
            throw CertStoreError(.unwritable, "cannot remove \(lineage.renewalConfigPath): \(FS.errorText())")
        }
        try removeLinkDirectory(lineage.livePath)
        try FS.removeManagedDirectory(lineage.archivePath)
        guard !FS.exists(lineage.livePath), !FS.exists(lineage.archivePath) else {
            throw CertStoreError(.unwritable, "could not remove everything of lineage \(lineage.name) (\(lineage.livePath), \(lineage.archivePath)): \(FS.errorText())")
        }
    }

    // MARK: - Internals

    /// `cert12.pem` → 12 for kind `cert`. Digits only (no sign, no spaces) and at most six of
    /// them: `cert-1.pem`, `cert+5.pem` and 20-digit numbers are not versions, so adding one to
    /// the newest version can never overflow.
    public static func versionNumber(_ file: String, kind: String) -> Int? {
        guard file.hasPrefix(kind), file.hasSuffix(".pem") else { return nil }
        let digits = file.utf8.dropFirst(kind.utf8.count).dropLast(4)
        guard (1...6).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// `live/<name>` and `archive/<name>` must be real directories (or absent): a lineage whose
    /// directory was replaced by a link is refused, so nothing is ever written, pruned or
    /// deleted through it outside the config directory.
    func requireRealDirectories(_ lineage: Lineage) throws {
        for path in [lineage.livePath, lineage.archivePath] where FS.isSymlink(path) {
            throw CertStoreError(.unsafeLineage, "\(path) is a symbolic link; acme does not follow links out of \(configDirectory): replace it with the real directory (or remove the link by hand)")
        }
    }

    private func writeArchive(_ lineage: Lineage, files: LineageFiles, version: Int) throws {
        let texts = ["cert": files.cert, "chain": files.chain, "fullchain": files.fullchain, "privkey": files.privkey]
        // The key first: a certificate must never sit in archive/ without it.
        for kind in ["privkey", "cert", "chain", "fullchain"] {
            let path = "\(lineage.archivePath)/\(kind)\(version).pem"
            guard !FS.exists(path) else { throw CertStoreError(.exists, "\(path) already exists; refusing to overwrite an archived version") }
            try FS.writeAtomically(path, texts[kind]!, mode: kind == "privkey" ? 0o600 : 0o644)
        }
    }

    private func removeVersion(_ lineage: Lineage, _ version: Int) {
        for kind in Self.kinds { unlink("\(lineage.archivePath)/\(kind)\(version).pem") }
    }

    /// `archive/<name>/.acme-changing`: present while a run changes the lineage; if a
    /// run dies, the next one finds it and repairs the lineage in full.
    func changeMarker(_ lineage: Lineage) -> String { lineage.archivePath + "/.acme-changing" }

    private func beginChange(_ lineage: Lineage) throws {
        // Created in place, not through a temporary file: a run killed here leaves either
        // no marker (and nothing else changed yet) or the marker, never a stray temporary.
        let fd = open(changeMarker(lineage), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CertStoreError(.unwritable, "cannot create \(changeMarker(lineage)): \(FS.errorText())") }
        fsync(fd)
        close(fd)
        FS.syncDirectory(lineage.archivePath)
    }

    private func endChange(_ lineage: Lineage) {
        unlink(changeMarker(lineage))
        FS.syncDirectory(lineage.archivePath)
    }

    /// Cheap check (a few lstat/readlink calls) whether `repair` has anything to do:
    /// an interrupted change, a staging directory, or live links that disagree.
    public func needsRepair(_ lineage: Lineage) -> Bool {
        if FS.exists(changeMarker(lineage)) || FS.exists(stagingPath(lineage)) { return true }
        var version: Int?
        for kind in Self.kinds {
            guard let target = FS.readLink("\(lineage.livePath)/\(kind).pem"),
                  let number = Self.versionNumber(FS.lastComponent(target), kind: kind) else { return true }
            if let version, version != number { return true }
            version = number
        }
        return false
    }

    /// `live/.<name>.acme-new`: where the next set of live links is built.
    func stagingPath(_ lineage: Lineage) -> String { "\(configDirectory)/live/.\(lineage.name).acme-new" }

    /// Removes a directory of links and small files (never following links).
    private func removeLinkDirectory(_ path: String) throws {
        try FS.removeManagedDirectory(path)
    }

    /// Makes `live/<name>/` point at `version` in one step: the four links and the
    /// README are built in a staging directory at the same depth (so the relative
    /// targets stay right), flushed, then exchanged with the live directory.
    private func pointLive(_ lineage: Lineage, at version: Int) throws {
        let staging = stagingPath(lineage)
        try removeLinkDirectory(staging)
        guard mkdir(staging, 0o755) == 0 else { throw CertStoreError(.unwritable, "cannot create \(staging): \(FS.errorText())") }
        for kind in Self.kinds {
            let link = "\(staging)/\(kind).pem"
            guard symlink("../../archive/\(lineage.name)/\(kind)\(version).pem", link) == 0 else {
                throw CertStoreError(.unwritable, "cannot create link \(link): \(FS.errorText())")
            }
        }
        try FS.writeAtomically(staging + "/README", Self.readme(prefix: ""), mode: 0o644)
        FS.syncDirectory(staging)
        if FS.isDirectory(lineage.livePath) {
            guard csystem_exchange(staging, lineage.livePath) == 0 else {
                throw CertStoreError(.unwritable, "cannot swap \(lineage.livePath) for the new version: \(FS.errorText())")
            }
            try removeLinkDirectory(staging)  // now holds the old links
        } else {
            guard rename(staging, lineage.livePath) == 0 else {
                throw CertStoreError(.unwritable, "cannot move \(staging) to \(lineage.livePath): \(FS.errorText())")
            }
        }
        FS.syncDirectory(configDirectory + "/live")
    }

    static func readme(prefix: String) -> String {
        """
        This directory contains your keys and certificates.

        `\(prefix)privkey.pem`  : the private key for your certificate.
        `\(prefix)fullchain.pem`: the certificate file used in most server software.
        `\(prefix)chain.pem`    : used for OCSP stapling in Nginx >=1.3.7.
        `\(prefix)cert.pem`     : will break many server configurations, and should not be used
                         without reading further documentation (see link below).

        WARNING: DO NOT MOVE OR RENAME THESE FILES!
                 Certbot and acme expect these files to remain in this location in order
                 to function properly!

        We recommend not moving these files. For more information, see the Certbot
        User Guide at https://certbot.eff.org/docs/using.html#where-are-my-certificates.

        """
    }
}
