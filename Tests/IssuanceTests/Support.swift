import ACME
import ACMECrypto
import ACMEHTTP
import CertStore
import Foundation
import Synchronization

/// A CA that is never reachable: every request fails and is counted, so a test can assert
/// that a decision was made without contacting the CA.
final class UnreachableCA: HTTPTransport {
    let requests = Mutex(0)

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requests.withLock { $0 += 1 }
        throw HTTPError(.connect, url: request.url, "cannot connect (test transport)")
    }

    var client: ACMEClient { ACMEClient(directoryURL: "https://ca.invalid/dir", transport: self) }
}

/// A config directory with lineages made from a throwaway CA.
struct ConfigFixture {
    let directory: String
    let store: LineageStore
    let ca: CertificateBuilder.Issuer

    init(_ label: String) throws {
        directory = NSTemporaryDirectory() + "acme-issuance-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = LineageStore(configDirectory: directory)
        let key = try PrivateKey.generate(.ecdsa(.p256))
        ca = .init(certificate: try CertificateBuilder.make(commonName: "Fixture CA", dnsNames: [], key: key, notBefore: Date() - 86400,
                                                           notAfter: Date() + 86400 * 3650, isCA: true, issuer: nil), key: key)
    }

    /// A lineage whose certificate covers `names`, valid from `daysAgo` for `days`.
    @discardableResult
    func lineage(_ name: String, names: [String], type: KeyType = .ecdsa(.p256), days: Double = 90, daysAgo: Double = 1) throws -> Lineage {
        let key = try PrivateKey.generate(type)
        let leaf = try CertificateBuilder.make(commonName: names[0], dnsNames: names, key: key, notBefore: Date() - daysAgo * 86400,
                                               notAfter: Date() + (days - daysAgo) * 86400, isCA: false, issuer: ca)
        let files = LineageFiles(cert: leaf.pem, chain: ca.certificate.pem, fullchain: leaf.pem + ca.certificate.pem, privkey: try key.pemPKCS8())
        return try store.create(name: name, files: files, renewalParams: [("server", "https://ca.invalid/dir")], version: "test")
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
