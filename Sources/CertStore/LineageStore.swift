import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

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
}

/// Reads and writes lineages in certbot's layout. New versions are written
/// completely under `archive/` before any `live/` link moves, and the
/// links move key-last-in, key-first-out so that `live/` never pairs a key
/// with a certificate that is not its own for longer than one rename.
public struct LineageStore: Sendable {
    public let configDirectory: String
    static let kinds = ["cert", "chain", "fullchain", "privkey"]

    public init(configDirectory: String) {
        self.configDirectory = FS.absolute(configDirectory)
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
    }

    public func lineage(named name: String) throws -> Lineage? {
        try validatePathComponent(name, what: "certificate name")
        let lineage = Lineage(name: name, configDirectory: configDirectory)
        return FS.exists(lineage.renewalConfigPath) ? lineage : nil
    }

    public func allLineages() throws -> [Lineage] {
        FS.list(configDirectory + "/renewal")
            .filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
            .map { Lineage(name: String($0.dropLast(5)), configDirectory: configDirectory) }
    }

    public func renewalConfig(of lineage: Lineage) throws -> RenewalConfig {
        try RenewalConfig.parse(try FS.read(lineage.renewalConfigPath))
    }

    public func create(name: String, files: LineageFiles, renewalParams: [(key: String, value: String)], version: String) throws -> Lineage {
        try validatePathComponent(name, what: "certificate name")
        let lineage = Lineage(name: name, configDirectory: configDirectory)
        guard !taken(name) else { throw StoreError("certificate \(name) already exists under \(configDirectory)") }
        for top in ["live", "archive", "renewal"] {
            try FS.makeDirectories(configDirectory + "/" + top, mode: 0o700)
        }
        let liveReadme = configDirectory + "/live/README"
        if !FS.exists(liveReadme) { try FS.writeAtomically(liveReadme, Self.readme(prefix: "[cert name]/"), mode: 0o644) }
        try FS.makeDirectories(lineage.archivePath, mode: 0o755)
        try writeArchive(lineage, files: files, version: 1)
        try FS.makeDirectories(lineage.livePath, mode: 0o755)
        try FS.writeAtomically(lineage.livePath + "/README", Self.readme(prefix: ""), mode: 0o644)
        try pointLive(lineage, at: 1)
        let config = RenewalConfig(version: version, archiveDir: lineage.archivePath, cert: lineage.certPath,
                                   privkey: lineage.privkeyPath, chain: lineage.chainPath, fullchain: lineage.fullchainPath,
                                   renewalParams: renewalParams)
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: 0o644)
        return lineage
    }

    public func addVersion(to lineage: Lineage, files: LineageFiles, renewalParams: [(key: String, value: String)]?, version: String) throws {
        var config = try renewalConfig(of: lineage)
        let next = (archiveVersions(lineage).max() ?? 0) + 1
        try writeArchive(lineage, files: files, version: next)
        try pointLive(lineage, at: next)
        config.version = version
        if let renewalParams { config.renewalParams = renewalParams }
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: FS.mode(lineage.renewalConfigPath) ?? 0o644)
    }

    /// The version the live `cert.pem` points at.
    public func currentVersion(of lineage: Lineage) throws -> Int {
        guard let target = FS.readLink(lineage.certPath) else {
            throw StoreError("\(lineage.certPath) is not a link into archive/; the lineage is damaged")
        }
        guard let number = Self.versionNumber(FS.lastComponent(target), kind: "cert") else {
            throw StoreError("\(lineage.certPath) points at \(target), which is not a certN.pem")
        }
        return number
    }

    public func readLive(_ lineage: Lineage) throws -> LineageFiles {
        LineageFiles(cert: try FS.read(lineage.certPath), chain: try FS.read(lineage.chainPath),
                     fullchain: try FS.read(lineage.fullchainPath), privkey: try FS.read(lineage.privkeyPath))
    }

    /// Version numbers present under `archive/<name>/` (by certN.pem).
    public func archiveVersions(_ lineage: Lineage) -> [Int] {
        FS.list(lineage.archivePath).compactMap { Self.versionNumber($0, kind: "cert") }
    }

    // MARK: - Internals

    static func versionNumber(_ file: String, kind: String) -> Int? {
        guard file.hasPrefix(kind), file.hasSuffix(".pem") else { return nil }
        return Int(file.dropFirst(kind.count).dropLast(4))
    }

    private func writeArchive(_ lineage: Lineage, files: LineageFiles, version: Int) throws {
        let texts = ["cert": files.cert, "chain": files.chain, "fullchain": files.fullchain, "privkey": files.privkey]
        // The key first: a certificate must never sit in archive/ without it.
        for kind in ["privkey", "cert", "chain", "fullchain"] {
            let path = "\(lineage.archivePath)/\(kind)\(version).pem"
            guard !FS.exists(path) else { throw StoreError("\(path) already exists; refusing to overwrite an archived version") }
            try FS.writeAtomically(path, texts[kind]!, mode: kind == "privkey" ? 0o600 : 0o644)
        }
    }

    /// Moves the four live links to `version` with one rename each.
    private func pointLive(_ lineage: Lineage, at version: Int) throws {
        for kind in ["privkey", "cert", "chain", "fullchain"] {
            try FS.replaceSymlink("\(lineage.livePath)/\(kind).pem", target: "../../archive/\(lineage.name)/\(kind)\(version).pem")
        }
        FS.syncDirectory(lineage.livePath)
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
