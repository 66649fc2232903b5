import ACMECrypto
import CertStore
import Foundation
import Testing

/// Certbot layouts made by CertStore (the code `acme issue` and `acme renew` write with), with
/// self-signed certificates: fast, and the same files, links and modes.
enum Layouts {
    static func temporaryDirectory(_ label: String) throws -> String {
        var template = Array("/tmp/acme-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        return String(cString: made)
    }

    /// `lineages` lineages of `versions` versions each, and one account, under `directory`.
    static func make(_ directory: String, lineages: Int, versions: Int) throws {
        let store = LineageStore(configDirectory: directory)
        for index in 0..<lineages {
            let name = "mail\(index).example.test"
            let lineage = try store.create(name: name, files: try files(name), renewalParams: params(), version: "2.1.0")
            for _ in 1..<versions {
                try store.addVersion(to: lineage, files: try files(name), renewalParams: nil, version: "2.1.0")
            }
        }
        let key = try PrivateKey.generate(.ecdsa(.p256))
        try AccountStore(configDirectory: directory).save(
            StoredAccount(id: "0123456789abcdef0123456789abcdef", privateKeyJWK: try key.privateJWK(), uri: "https://ca.test/acct/1",
                          creationDate: Date(timeIntervalSince1970: 1_700_000_000), creationHost: "node1.example.test"),
            server: "https://ca.test:14000/dir")
    }

    static func params() -> [(key: String, value: String)] {
        [("account", "0123456789abcdef0123456789abcdef"), ("server", "https://ca.test:14000/dir"), ("authenticator", "standalone"),
         ("key_type", "ecdsa")]
    }

    static func files(_ name: String) throws -> LineageFiles {
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let now = Date()
        let cert = try CertificateBuilder.make(commonName: name, dnsNames: [name], key: key, notBefore: now,
                                               notAfter: now.addingTimeInterval(90 * 86_400), isCA: false, issuer: nil)
        return LineageFiles(cert: cert.pem, chain: cert.pem, fullchain: cert.pem + cert.pem, privkey: try key.pemPKCS8())
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Every entry under the certbot-format parts of a layout (live, archive, renewal, accounts):
/// path → kind, mode, link target or content. Two layouts are byte-for-byte equal when these are.
func layoutSnapshot(_ root: String, rewriting: (from: String, to: String)? = nil) throws -> [String: String] {
    var result: [String: String] = [:]
    let fm = FileManager.default
    for top in ["live", "archive", "renewal", "accounts"] where fm.fileExists(atPath: root + "/" + top) {
        result[top] = try describe(root + "/" + top, rewriting: rewriting)
        for item in try fm.subpathsOfDirectory(atPath: root + "/" + top) {
            result[top + "/" + item] = try describe(root + "/" + top + "/" + item, rewriting: rewriting)
        }
    }
    return result
}

private func describe(_ path: String, rewriting: (from: String, to: String)?) throws -> String {
    var info = stat()
    guard lstat(path, &info) == 0 else { throw TestFailure("lstat \(path) failed") }
    let mode = String(info.st_mode & 0o7777, radix: 8)
    switch info.st_mode & S_IFMT {
    case S_IFLNK: return "link \(try FileManager.default.destinationOfSymbolicLink(atPath: path))"
    case S_IFDIR: return "dir \(mode)"
    default:
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Renewal confs name their config directory; everything else is compared byte for byte.
        if path.hasSuffix(".conf") {
            let text = String(decoding: data, as: UTF8.self)
            return "file \(mode) " + (rewriting.map { text.replacingOccurrences(of: $0.from, with: $0.to) } ?? text)
        }
        return "file \(mode) \(data.base64EncodedString())"
    }
}

/// The differences between two snapshots, for a readable failure.
func differences(_ a: [String: String], _ b: [String: String]) -> [String] {
    Set(a.keys).union(b.keys).sorted().compactMap { key in
        a[key] == b[key] ? nil : "\(key): \(a[key].map { String($0.prefix(60)) } ?? "absent") ≠ \(b[key].map { String($0.prefix(60)) } ?? "absent")"
    }
}
