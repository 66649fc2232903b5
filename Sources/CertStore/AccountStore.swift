import Base
import FoundationEssentials
import Glibc

/// An ACME account as certbot stores it.
public struct StoredAccount: Sendable, Equatable {
    /// certbot's id: the MD5 of the public key PEM.
    public var id: String
    public var privateKeyJWK: [String: String]
    public var uri: String
    public var creationDate: Date
    public var creationHost: String

    public init(id: String, privateKeyJWK: [String: String], uri: String, creationDate: Date, creationHost: String) {
        self.id = id
        self.privateKeyJWK = privateKeyJWK
        self.uri = uri
        self.creationDate = creationDate
        self.creationHost = creationHost
    }
}

/// `accounts/<host[:port]>/<path>/<id>/{private_key.json,regr.json,meta.json}`
/// exactly as certbot reads and writes them.
public struct AccountStore: Sendable {
    public let configDirectory: String

    public init(configDirectory: String) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
    }

    /// certbot's rule: the URL's netloc and path, e.g.
    /// `accounts/acme-v02.api.letsencrypt.org/directory`.
    public func serverDirectory(for server: String) -> String {
        var rest = Substring(server)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<query] }
        let parts = rest.split(separator: "/").filter { $0 != "." && $0 != ".." }
        return configDirectory + "/accounts/" + parts.joined(separator: "/")
    }

    public func accounts(server: String) throws -> [StoredAccount] {
        let directory = serverDirectory(for: server)
        var result: [StoredAccount] = []
        // A server nobody registered with yet has no directory; a corrupt account is an error
        // naming it, never skipped (skipping it would register a second account).
        for id in try FS.listIfPresent(directory) where FS.isDirectory(directory + "/" + id) {
            do {
                result.append(try load(directory + "/" + id, id: id))
            } catch {
                throw CertStoreError(.corruptAccount, "account \(directory)/\(id) is unreadable (\(error)); restore it from a backup or move that directory away to register a new account")
            }
        }
        return result.sorted { $0.creationDate < $1.creationDate }
    }

    private struct Registration: Decodable { var uri: String }
    private struct Meta: Codable {
        var creation_dt: String
        var creation_host: String
    }

    private func load(_ path: String, id: String) throws -> StoredAccount {
        let decoder = JSONDecoder()
        let key = try decoder.decode([String: String].self, from: Data(try FS.read(path + "/private_key.json").utf8))
        let regr = try decoder.decode(Registration.self, from: Data(try FS.read(path + "/regr.json").utf8))
        let meta = try decoder.decode(Meta.self, from: Data(try FS.read(path + "/meta.json").utf8))
        // The date only orders accounts: one in a format we do not read sorts first rather than failing.
        let created = (try? Date(meta.creation_dt, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0)
        return StoredAccount(id: id, privateKeyJWK: key, uri: regr.uri, creationDate: created, creationHost: meta.creation_host)
    }

    public func save(_ account: StoredAccount, server: String) throws {
        try validatePathComponent(account.id, what: "account id")
        try FS.makeDirectories(configDirectory + "/accounts", mode: 0o700)
        let directory = serverDirectory(for: server) + "/" + account.id
        try FS.makeDirectories(directory, mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let key = String(decoding: try encoder.encode(account.privateKeyJWK), as: UTF8.self)
        let uri = String(decoding: try encoder.encode(account.uri), as: UTF8.self)
        let meta = String(decoding: try encoder.encode(Meta(creation_dt: account.creationDate.formatted(.iso8601), creation_host: account.creationHost)), as: UTF8.self)
        // certbot writes the key 0400; meta and regr keep the default 0644.
        try FS.writeAtomically(directory + "/meta.json", meta, mode: 0o644)
        try FS.writeAtomically(directory + "/regr.json", "{\"body\": {}, \"uri\": \(uri)}", mode: 0o644)
        try FS.writeAtomically(directory + "/private_key.json", key, mode: 0o400)
    }

    /// Where a key rollover keeps the new key while the CA is asked to switch to it, so that
    /// a run killed between the CA's answer and the final save loses nothing.
    public func pendingKeyPath(id: String, server: String) -> String {
        serverDirectory(for: server) + "/" + id + "/private_key.next.json"
    }

    public func savePendingKey(_ jwk: [String: String], id: String, server: String) throws {
        try validatePathComponent(id, what: "account id")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FS.writeAtomically(pendingKeyPath(id: id, server: server), String(decoding: try encoder.encode(jwk), as: UTF8.self), mode: 0o400)
    }

    public func delete(id: String, server: String) throws {
        try validatePathComponent(id, what: "account id")
        let directory = serverDirectory(for: server) + "/" + id
        guard FS.isDirectory(directory) else { throw CertStoreError(.notFound, "no account \(id) under \(serverDirectory(for: server))") }
        for file in try FS.list(directory) { unlink(directory + "/" + file) }
        guard rmdir(directory) == 0 else { throw CertStoreError(.unwritable, "cannot remove \(directory): \(FS.errorText())") }
    }
}
